"""Deleting copies nobody needs any more, and what a crash left behind, in every store."""

from __future__ import annotations

import logging
from collections.abc import Sequence, Set
from datetime import UTC, datetime, timedelta

from media_relay.stores import LEFTOVER_AGE, CopyStore
from storage import media as media_store
from storage.database import Storage

__all__ = ["LEFTOVER_AGE", "sweep_copies"]

logger = logging.getLogger(__name__)


async def sweep_copies(
    storage: Storage,
    stores: Sequence[CopyStore],
    *,
    retention: timedelta,
    active: Set[str],
    now: datetime | None = None,
) -> int:
    """Delete copies past retention whose request is finished (or gone), from whichever of
    `stores` holds each, and each store's leftovers of a crash, sparing the `active` tokens
    (relays in progress). Returns how many copies and leftovers went."""
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    cutoff = (now - retention).astimezone(UTC).isoformat(timespec="milliseconds")
    deleted = unheld = 0
    for row in await storage.run(media_store.expired_media_files, cutoff):
        store = next((store for store in stores if store.holds(row)), None)
        if store is None:
            unheld += 1
            continue
        if await store.delete(storage, row):
            logger.info(
                "deleted relayed file %s of request %s (relayed %s)",
                row.file_name,
                row.request_id,
                row.created_at,
            )
            deleted += 1
    if unheld:
        logger.warning(
            "%d expired relayed file(s) are in an S3 bucket, but MEDIA_STORE is no longer s3: "
            "they stay there (and in media_files) until MEDIA_STORE=s3 is set again",
            unheld,
        )
    for store in stores:
        deleted += await store.remove_leftovers(storage, active, now)
    return deleted
