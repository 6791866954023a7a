"""Deleting copies nobody needs any more, and what a crash left behind."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Set
from datetime import UTC, datetime, timedelta
from pathlib import Path

from media_relay.files import PARTIAL_DIR, TOKEN_PATTERN, copy_path, token_of_partial
from storage import media as media_store
from storage.database import Storage

logger = logging.getLogger(__name__)

# A download that has not written for this long is dead (the read timeout is far shorter).
LEFTOVER_AGE = timedelta(hours=1)


async def sweep_copies(
    storage: Storage,
    media_dir: Path,
    *,
    retention: timedelta,
    active: Set[str],
    now: datetime | None = None,
) -> int:
    """Delete files past retention whose request is finished (or gone), unfinished downloads
    and files without a row (a crash's leftovers), sparing the `active` tokens (relays in
    progress). Returns how many files went."""
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    cutoff = (now - retention).astimezone(UTC).isoformat(timespec="milliseconds")
    deleted = 0
    for row in await storage.run(media_store.expired_media_files, cutoff):
        # The row goes first: from then on the file is not served, and a crash before the
        # unlink leaves a file without a row, which the next sweep removes.
        await storage.run(media_store.delete_media_file, row.token)
        await asyncio.to_thread(copy_path(media_dir, row.token).unlink, missing_ok=True)
        logger.info(
            "deleted relayed file %s of request %s (relayed %s)",
            row.file_name,
            row.request_id,
            row.created_at,
        )
        deleted += 1
    keep = await storage.run(media_store.media_tokens) | active
    partials, orphans = await asyncio.to_thread(_remove_leftovers, media_dir, keep, now.timestamp())
    if partials or orphans:
        logger.info(
            "deleted %d unfinished download(s) and %d relayed file(s) without a record",
            partials,
            orphans,
        )
    return deleted + partials + orphans


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
