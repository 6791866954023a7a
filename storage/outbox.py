"""The outbox: Slack messages the workflow owes, written in the same transaction as the state
change that calls for them, and delivered (and retried) by `replicas.outbox.OutboxWorker`.

Rows of one request are delivered in order (the root message before the replies in its
thread); rows of different requests are independent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlite_utils

from storage.replicas import utc_now

OUTBOX = "outbox"
STATUS = "status"
REPLY = "reply"
UNSENT = "state IN ('pending', 'sending')"


@dataclass(frozen=True)
class OutboxRow:
    id: int
    request_id: int
    key: str
    kind: str
    payload: dict[str, Any] | None
    state: str
    attempts: int
    version: int
    created_at: str


def _row(row: dict[str, Any]) -> OutboxRow:
    return OutboxRow(
        id=row["id"],
        request_id=row["request_id"],
        key=row["key"],
        kind=row["kind"],
        payload=json.loads(row["payload"]) if row["payload"] else None,
        state=row["state"],
        attempts=row["attempts"],
        version=row["version"],
        created_at=row["created_at"],
    )


def status_key(request_id: int) -> str:
    return f"{request_id}:status"


def enqueue_status(db: sqlite_utils.Database, request_id: int) -> None:
    """Ask for the root message to show the request's current state (posting it the first
    time). Repeated asks before delivery coalesce into one."""
    now = utc_now()
    db.execute(
        f"""INSERT INTO {OUTBOX} (request_id, key, kind, state, attempts, version,
            next_attempt_at, created_at) VALUES (?, ?, '{STATUS}', 'pending', 0, 1, ?, ?)
            ON CONFLICT(key) DO UPDATE SET version = version + 1, state = CASE
              WHEN state IN ('sent', 'failed') THEN 'pending' ELSE state END,
            next_attempt_at = CASE
              WHEN state IN ('sent', 'failed') THEN excluded.next_attempt_at
              ELSE next_attempt_at END""",
        [request_id, status_key(request_id), now, now],
    )


def enqueue_reply(
    db: sqlite_utils.Database, request_id: int, name: str, message: dict[str, Any]
) -> None:
    """A reply in the request's thread, sent once: a second ask with the same name is a no-op."""
    now = utc_now()
    db.execute(
        f"""INSERT INTO {OUTBOX} (request_id, key, kind, payload, state, attempts,
            next_attempt_at, created_at) VALUES (?, ?, '{REPLY}', ?, 'pending', 0, ?, ?)
            ON CONFLICT(key) DO NOTHING""",
        [request_id, f"{request_id}:{name}", json.dumps(message), now, now],
    )


def due(
    db: sqlite_utils.Database, now: datetime, busy: frozenset[int]
) -> tuple[list[OutboxRow], str | None]:
    """The first unsent row of each request not in `busy`, if it is due; and the earliest
    time a row that is not due yet becomes due."""
    heads = db.execute(
        f"""SELECT * FROM {OUTBOX} WHERE id IN (
            SELECT min(id) FROM {OUTBOX} WHERE {UNSENT} GROUP BY request_id) ORDER BY id"""
    )
    columns = [c[0] for c in heads.description]
    ready: list[OutboxRow] = []
    later: str | None = None
    stamp = now.isoformat(timespec="milliseconds")
    for values in heads.fetchall():
        row = dict(zip(columns, values, strict=True))
        if row["request_id"] in busy:
            continue
        if row["next_attempt_at"] <= stamp:
            ready.append(_row(row))
        elif later is None or row["next_attempt_at"] < later:
            later = row["next_attempt_at"]
    return ready, later


def claim(db: sqlite_utils.Database, row_id: int) -> None:
    """About to call Slack for this row: until it is recorded, the outcome is in doubt."""
    db.execute(
        f"UPDATE {OUTBOX} SET state = 'sending', attempts = attempts + 1 WHERE id = ?", [row_id]
    )


def mark_sent(db: sqlite_utils.Database, row: OutboxRow, channel_id: str, ts: str) -> None:
    """Delivered. A status row asked for again meanwhile stays pending, to show the news."""
    db.execute(
        f"""UPDATE {OUTBOX} SET channel_id = ?, ts = ?, sent_at = ?, last_error = NULL,
            attempts = 0, state = CASE WHEN version = ? THEN 'sent' ELSE 'pending' END
            WHERE id = ?""",
        [channel_id, ts, utc_now(), row.version, row.id],
    )


def retry_later(
    db: sqlite_utils.Database, row_id: int, at: datetime, error: str, *, in_doubt: bool
) -> None:
    """Try again at `at`; `in_doubt` keeps it 'sending' (Slack may have posted it)."""
    db.execute(
        f"""UPDATE {OUTBOX} SET state = ?, next_attempt_at = ?, last_error = ? WHERE id = ?""",
        [
            "sending" if in_doubt else "pending",
            at.isoformat(timespec="milliseconds"),
            error,
            row_id,
        ],
    )


def mark_failed(db: sqlite_utils.Database, row_id: int, error: str) -> None:
    db.execute(
        f"UPDATE {OUTBOX} SET state = 'failed', last_error = ? WHERE id = ?", [error, row_id]
    )


def unsent_count(db: sqlite_utils.Database) -> int:
    return int(db.execute(f"SELECT count(*) FROM {OUTBOX} WHERE {UNSENT}").fetchone()[0])


def rows_for(db: sqlite_utils.Database, request_id: int) -> list[dict[str, Any]]:
    return list(db.table(OUTBOX).rows_where("request_id = ?", [request_id], order_by="id"))
