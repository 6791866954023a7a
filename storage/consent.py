"""The consent record (`consent_events`) in SQLite: append-only.

Plain functions of a sqlite-utils Database, run on the database thread by `Storage.run`, each
inside the transaction of the change it records (storage/replicas.py appends a state change
with the UPDATE that makes it). Nothing here updates or deletes a row, and the table's
triggers (storage/migrations.py) abort any statement that tries.

This module imports nothing else of storage's: storage/replicas.py imports it.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import sqlite_utils

from domain.consent import ConsentEvent, ConsentEventKind, deleted

EVENTS = "consent_events"
REQUESTS = "replica_requests"  # storage/replicas.py's table (not imported: see above)

logger = logging.getLogger(__name__)


def append(db: sqlite_utils.Database, event: ConsentEvent) -> None:
    """Add `event` to its request's record."""
    with db.atomic():
        db.execute(
            f"""INSERT INTO {EVENTS} (request_id, kind, at, actor_id, details)
                VALUES (?, ?, ?, ?, ?)""",
            [
                event.request_id,
                event.kind.value,
                event.at,
                event.actor_id,
                json.dumps(event.details, ensure_ascii=False, separators=(",", ":")),
            ],
        )


def append_once(db: sqlite_utils.Database, event: ConsentEvent) -> bool:
    """Add `event` unless its request's record already has an event of its kind (a retried
    lookup, a repeated delivery). True if it was added."""
    with db.atomic():
        if has_event(db, event.request_id, event.kind):
            return False
        append(db, event)
    return True


def has_event(db: sqlite_utils.Database, request_id: int, kind: ConsentEventKind) -> bool:
    row = db.execute(
        f"SELECT 1 FROM {EVENTS} WHERE request_id = ? AND kind = ? LIMIT 1",
        [request_id, kind.value],
    ).fetchone()
    return row is not None


def events_for(db: sqlite_utils.Database, request_id: int) -> list[ConsentEvent]:
    """A request's record, in the order it was written."""
    cursor = db.execute(
        f"""SELECT request_id, kind, at, actor_id, details FROM {EVENTS}
            WHERE request_id = ? ORDER BY id""",
        [request_id],
    )
    return [event for row in cursor.fetchall() if (event := _event(row)) is not None]


def events_since(db: sqlite_utils.Database, since: str | None) -> list[ConsentEvent]:
    """The records of the requests created at or after `since` (None: all), by request id,
    each in the order it was written.

    `since`: a UTC ISO date ("2025-01-31") or timestamp; one with another offset is converted,
    one without an offset is taken as UTC. ValueError if it is neither.

    A request is as old as its row's `created_at`; a request whose row is gone (a hard
    deletion) is as old as its first event, so its record is still found.
    """
    bound = None if since is None else _utc_bound(since)
    cursor = db.execute(
        f"""WITH born AS (
                SELECT e.request_id, COALESCE(r.created_at, MIN(e.at)) AS created_at
                FROM {EVENTS} AS e LEFT JOIN {REQUESTS} AS r ON r.id = e.request_id
                GROUP BY e.request_id
            )
            SELECT e.request_id, e.kind, e.at, e.actor_id, e.details
            FROM {EVENTS} AS e JOIN born AS b ON b.request_id = e.request_id
            WHERE :since IS NULL OR b.created_at >= :since
            ORDER BY e.request_id, e.id""",
        {"since": bound},
    )
    return [event for row in cursor.fetchall() if (event := _event(row)) is not None]


def record_deletion(
    db: sqlite_utils.Database, request_id: int, *, by: str, hard: bool, at: str | None = None
) -> None:
    """A request's replica deleted by Slack user `by`: hard (gone at Tavus) or soft. To be
    called in the transaction that records the deletion itself (the management commands)."""
    append(db, deleted(request_id, at or _utc_now(), by=by, hard=hard))


def _event(row: tuple[Any, ...]) -> ConsentEvent | None:
    """An event as stored; None for one this version cannot read (a kind a newer version
    wrote, unreadable details): the export goes on without it rather than failing."""
    request_id, kind, at, actor_id, details = row
    try:
        parsed = json.loads(details)
        return ConsentEvent(
            request_id=request_id,
            kind=ConsentEventKind(kind),
            at=at,
            details=parsed if isinstance(parsed, dict) else {},
            actor_id=actor_id,
        )
    except ValueError:
        logger.warning("Consent record: skipping unreadable event of request %s", request_id)
        return None


def _utc_now() -> str:
    """As storage/replicas.py's utc_now writes times (the format `events_since` compares)."""
    return _format(datetime.now(UTC))


def _format(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


def _utc_bound(since: str) -> str:
    """`since` written as the stored times are (UTC, milliseconds, "+00:00"), so that text
    order is time order: "…Z" or another offset would compare wrong as text."""
    moment = datetime.fromisoformat(since.strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return _format(moment.astimezone(UTC))
