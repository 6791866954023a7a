"""Tavus stock voices: fetched page by page, cached, searched locally.

Slack gives a voice search 3 s to answer, so a stale cache is served at once and refreshed in
the background; only the very first fetch is waited for.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from tavus.api import TavusApi
from tavus.client import Voice
from tavus.errors import TavusError

logger = logging.getLogger(__name__)

CACHE_SECONDS = 3600.0
RETRY_SECONDS = 60.0  # after a failed refresh, serve the old list this long before retrying


class VoiceCatalog:
    def __init__(
        self,
        tavus: TavusApi,
        *,
        max_age: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._tavus = tavus
        self._max_age = max_age
        self._clock = clock
        self._voices: list[Voice] | None = None
        self._fetched_at = 0.0
        self._first_fetch = asyncio.Lock()
        self._refresh: asyncio.Task[None] | None = None

    async def voices(self) -> list[Voice]:
        """All voices. Raises TavusError only when none could ever be fetched."""
        if self._voices is None:
            async with self._first_fetch:
                if self._voices is None:
                    self._voices = await self._tavus.list_voices()
                    self._fetched_at = self._clock()
            return self._voices
        stale = self._clock() - self._fetched_at >= self._max_age
        if stale and (self._refresh is None or self._refresh.done()):
            self._refresh = asyncio.get_running_loop().create_task(self._refresh_cache())
        return self._voices

    async def _refresh_cache(self) -> None:
        try:
            self._voices = await self._tavus.list_voices()
            self._fetched_at = self._clock()
        except TavusError:
            self._fetched_at = self._clock() - self._max_age + RETRY_SECONDS
            logger.warning("Could not refresh Tavus voices; serving cached ones", exc_info=True)

    async def refreshed(self) -> None:
        """Wait for a background refresh, if one is running."""
        if self._refresh is not None:
            await asyncio.gather(self._refresh, return_exceptions=True)

    async def close(self) -> None:
        if self._refresh is not None:
            self._refresh.cancel()
        await self.refreshed()

    async def names(self) -> frozenset[str]:
        return frozenset(voice.name for voice in await self.voices())

    async def search(self, query: str) -> list[Voice]:
        """Voices whose name or a tag contains the query (case-insensitive)."""
        needle = query.strip().lower()
        return [
            voice
            for voice in await self.voices()
            if needle in voice.name or any(needle in tag.lower() for tag in voice.tags)
        ]
