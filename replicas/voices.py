"""Tavus stock voices: fetched page by page once, cached, searched locally."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from tavus.client import TavusClient, Voice
from tavus.errors import TavusError

logger = logging.getLogger(__name__)

CACHE_SECONDS = 3600.0


class VoiceCatalog:
    def __init__(
        self,
        tavus: TavusClient,
        *,
        max_age: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._tavus = tavus
        self._max_age = max_age
        self._clock = clock
        self._voices: list[Voice] | None = None
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()

    async def voices(self) -> list[Voice]:
        """All voices; fetched from Tavus when the cache is empty or stale.

        A stale cache is still served if Tavus cannot be reached; a TavusError surfaces only
        when there is nothing cached at all.
        """
        async with self._lock:
            fresh = self._clock() - self._fetched_at < self._max_age
            if self._voices is None or not fresh:
                try:
                    self._voices = await self._tavus.list_voices()
                    self._fetched_at = self._clock()
                except TavusError:
                    if self._voices is None:
                        raise
                    logger.warning(
                        "Could not refresh Tavus voices; serving %d cached ones",
                        len(self._voices),
                        exc_info=True,
                    )
            return self._voices

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
