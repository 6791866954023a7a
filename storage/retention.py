"""Retention: what the bot keeps only for a while (RETENTION_DAYS, default 90 days), so that
the database does not grow without bound.

Deleted once older than that, every PRUNE_EVERY_SECONDS (server/app.py runs `prune`):
- outbox rows that are done: `sent` (by when they were last sent) and `failed` (given up; by
  when their last attempt was due). A row still owed (`pending`, or `sending`: in doubt) is
  never deleted, however old.
- the callback audit (`tavus_callbacks`), by when each callback arrived.

Kept for good: the requests themselves and their consent record (`consent_events`, which the
database refuses to delete from anyway).

Deleting a done outbox row loses nothing still to come:
- A request's root message is edited through the request's own `message_channel_id` and
  `message_ts` (replicas/outbox.py, `_send`), not through its status row: a later change
  writes the status row anew, and that edits the same message.
- A Home (`home:<user>`) is one row per user, re-opened by each change; once gone, the next
  change writes it anew (published at once: its last publish is long past any throttle).
- Replies and DM lane rows are written once per key; the state changes that owe them are
  conditional and happen once, so only a change made again more than RETENTION_DAYS later
  (a replica adopted long after its create was given up) is told again, as news.
- The newest row of a lane that recorded a DM's id is kept, one per lane (the id itself is
  in `known_dms`, never pruned).

Each batch is one transaction of at most BATCH rows, found by an index, and its own call on
the database thread, followed by a pause as long as the batch took: the thread is never
pruning more than half the time, so a large first prune (after an upgrade, or of a database
that grew for years: 1.8 million rows in bench/growth.py) leaves Tavus's callbacks and Slack's
requests their answers in milliseconds. Without the pause, callbacks waited up to a second.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Concatenate, ParamSpec, TypeVar

import sqlite_utils

from storage import outbox
from storage import replicas as requests
from storage.database import Storage

logger = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

PRUNE_EVERY_SECONDS = 3600.0
BATCH = 200  # rows per transaction: a few milliseconds on the database thread


@dataclass(frozen=True)
class Pruned:
    """How many rows one prune deleted."""

    outbox: int
    callbacks: int


def cutoff(days: int, now: datetime | None = None) -> str:
    """The stamp (as utc_now() writes them) before which rows are `days` old."""
    moment = (now or datetime.now(UTC)) - timedelta(days=days)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


async def prune(
    storage: Storage,
    days: int,
    *,
    batch: int = BATCH,
    pause: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Pruned:
    """Delete the done outbox rows and the callbacks older than `days`, `batch` rows per
    transaction, each followed by `pause(as long as it took)`; log how many went."""
    before = cutoff(days)

    async def paced(
        fn: Callable[Concatenate[sqlite_utils.Database, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        started = time.monotonic()
        result = await storage.run(fn, *args, **kwargs)
        await pause(time.monotonic() - started)
        return result

    done = 0
    for state in outbox.DONE_AT:
        after: tuple[str, int] | None = None
        while True:
            deleted, after = await paced(outbox.prune_done, state, before, after, limit=batch)
            done += deleted
            if after is None:
                break
    callbacks = 0
    while True:
        deleted = await paced(requests.prune_callbacks, before, limit=batch)
        callbacks += deleted
        if deleted < batch:
            break
    pruned = Pruned(outbox=done, callbacks=callbacks)
    level = logging.INFO if done or callbacks else logging.DEBUG
    logger.log(
        level,
        "Retention: deleted %d delivered outbox row(s) and %d callback(s) older than %d days",
        done,
        callbacks,
        days,
    )
    return pruned
