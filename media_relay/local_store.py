"""Copies in MEDIA_DIR, served by the bot at {PUBLIC_URL}/media/{token}/{name} (the default).

A copy is written to `MEDIA_DIR/.partial/<token>.part` by a Spool (owner-only, on its own
thread) and moved to `MEDIA_DIR/<token>` once complete and recorded. See files.py for the names,
serving.py for finding a copy by its URL.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Set
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from media_relay import MEDIA_PATH
from media_relay.download import RelayError, disk_error
from media_relay.files import (
    PARTIAL_DIR,
    TOKEN_PATTERN,
    copy_path,
    partial_path,
    token_of_partial,
)
from media_relay.serving import find_copy
from media_relay.spool import Spool
from media_relay.stores import LEFTOVER_AGE
from storage import media as media_store
from storage.database import Storage
from storage.media import MediaRow

logger = logging.getLogger(__name__)


class LocalCopy:
    """A copy being written to MEDIA_DIR: a Spool, moved into place by publish."""

    bucket: str | None = None
    object_key: str | None = None

    def __init__(self, media_dir: Path, token: str) -> None:
        self._spool = Spool(partial_path(media_dir, token))
        self._path = copy_path(media_dir, token)

    async def open(self) -> None:
        try:
            await self._spool.open()
        except OSError as error:
            raise disk_error(error) from error

    async def write(self, chunks: list[bytes]) -> None:
        try:
            await self._spool.write(chunks)
        except OSError as error:  # a disk filling up surfaces here
            raise disk_error(error) from error

    async def finish(self) -> None:
        try:
            await self._spool.close()
        except OSError as error:
            raise disk_error(error) from error

    async def publish(self) -> None:
        try:
            await asyncio.to_thread(os.replace, self._spool.path, self._path)
        except OSError as error:
            raise disk_error(error) from error

    async def discard(self) -> None:
        await self._spool.discard()

    def shutdown(self) -> None:
        self._spool.shutdown()


class LocalStore:
    def __init__(self, media_dir: Path, public_url: str | None) -> None:
        self._media_dir = media_dir
        self._public_url = public_url.rstrip("/") if public_url else None

    @property
    def where(self) -> str:
        return str(self._media_dir)

    def check(self) -> None:
        if self._public_url is None:
            raise RelayError(
                "The bot cannot pass Slack files to Tavus without a public address: ask the "
                "bot's admin to give it one (see its README), or give a link to the video "
                "instead.",
                "PUBLIC_URL is not set",
            )

    def begin(self, token: str, name: str, content_type: str) -> LocalCopy:
        return LocalCopy(self._media_dir, token)

    async def link(self, token: str, name: str) -> str:
        return f"{self._public_url}{MEDIA_PATH}{token}/{quote(name)}"

    async def find(self, storage: Storage, token: str, name: str) -> tuple[Path, str, int] | None:
        """The file for a media URL: (path, content type, size), or None."""
        return await find_copy(storage, self._media_dir, token, name)

    def holds(self, row: MediaRow) -> bool:
        return row.object_key is None

    async def delete(self, storage: Storage, row: MediaRow) -> bool:
        # The row goes first: from then on the file is not served, and a crash before the
        # unlink leaves a file without a row, which the next sweep removes.
        await storage.run(media_store.delete_media_file, row.token)
        await asyncio.to_thread(copy_path(self._media_dir, row.token).unlink, missing_ok=True)
        return True

    async def remove_leftovers(self, storage: Storage, active: Set[str], now: datetime) -> int:
        """Unfinished downloads, and token files without a row (a crash's leftovers)."""
        keep = await storage.run(media_store.media_tokens) | active
        partials, orphans = await asyncio.to_thread(
            _remove_leftovers, self._media_dir, keep, now.timestamp()
        )
        if partials or orphans:
            logger.info(
                "deleted %d unfinished download(s) and %d relayed file(s) without a record",
                partials,
                orphans,
            )
        return partials + orphans

    async def aclose(self) -> None:
        pass


def _remove_leftovers(media_dir: Path, keep: Set[str], now: float) -> tuple[int, int]:
    """On a worker thread: remove stale partial downloads and token files with no row."""
    oldest = now - LEFTOVER_AGE.total_seconds()

    def stale(entry: os.DirEntry[str], token: str) -> bool:
        return (
            TOKEN_PATTERN.fullmatch(token) is not None
            and token not in keep
            and entry.is_file(follow_symlinks=False)
            and entry.stat(follow_symlinks=False).st_mtime < oldest
        )

    def remove(directory: Path, token_of: Callable[[str], str | None]) -> int:
        removed = 0
        try:
            entries = list(os.scandir(directory))
        except FileNotFoundError:
            return 0
        for entry in entries:
            token = token_of(entry.name)
            try:
                if token is not None and stale(entry, token):
                    os.unlink(entry.path)
                    removed += 1
            except FileNotFoundError:
                pass  # gone meanwhile
        return removed

    partials = remove(media_dir / PARTIAL_DIR, token_of_partial)
    # Only names that are tokens: anything else in the folder is not the relay's.
    orphans = remove(media_dir, lambda name: name)
    return partials, orphans
