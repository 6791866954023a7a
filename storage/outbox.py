"""The outbox: Slack messages the workflow owes, written in the same transaction as the state
change that calls for them, and delivered (and retried) by `replicas.outbox.OutboxWorker`.

Rows of one request are delivered in order (the root message before the replies in its
thread); rows of different requests are independent.

A row is `sending` (in doubt) from the moment its next chat.postMessage is recorded (`claim`,
with where it goes) until Slack's answer is recorded: the message may then be in that one
place, and nowhere else.
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
# What an attempt that Slack's answer settled (nothing posted) leaves behind.
_NO_TARGET = """target_channel_id = NULL, target_thread_ts = NULL, target_key = NULL,
    target_floor = NULL"""


@dataclass(frozen=True)
class Target:
    """Where one chat.postMessage of a row goes, recorded before the call."""

    channel_id: str  # a channel, a DM's D… id, or a user id (their DM, id not known yet)
    thread_ts: str | None
    key: str  # the metadata key the message carries: the row's, or its DM notice's
    floor: str  # a Slack ts the message, if posted, is newer than (Slack's own clock)


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
    target: Target | None = None  # the attempt in doubt, when `state` is 'sending'
    moved_from: str | None = None  # the channel that refused it; it goes to the requester's DM
    dm_channel_id: str | None = None  # that DM's id, once an answer told it
    notice_ts: str | None = None  # the DM notice saying why, once posted


def _row(row: dict[str, Any]) -> OutboxRow:
    target = None
    if row.get("target_channel_id") and row.get("target_key") and row.get("target_floor"):
        target = Target(
            channel_id=row["target_channel_id"],
            thread_ts=row.get("target_thread_ts"),
            key=row["target_key"],
            floor=row["target_floor"],
        )
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
        target=target,
        moved_from=row.get("moved_from_channel_id"),
        dm_channel_id=row.get("dm_channel_id"),
        notice_ts=row.get("notice_ts"),
    )


def status_key(request_id: int) -> str:
    return f"{request_id}:status"


def enqueue_status(db: sqlite_utils.Database, request_id: int) -> None:
    """Ask for the root message to show the request's current state (posting it the first
    time). Repeated asks before delivery coalesce into one.

    A row re-opened after it was sent (or given up) is owed anew from now: `created_at` is
    when the message became owed (the 48 h give-up and the readiness backlog age count from
    it), and where the last post went no longer matters."""
    now = utc_now()
    db.execute(
        f"""INSERT INTO {OUTBOX} (request_id, key, kind, state, attempts, version,
            next_attempt_at, created_at) VALUES (?, ?, '{STATUS}', 'pending', 0, 1, ?, ?)
            ON CONFLICT(key) DO UPDATE SET version = version + 1,
            next_attempt_at = CASE WHEN state IN ('sent', 'failed')
              THEN excluded.next_attempt_at ELSE next_attempt_at END,
            created_at = CASE WHEN state IN ('sent', 'failed')
              THEN excluded.created_at ELSE created_at END,
            attempts = CASE WHEN state IN ('sent', 'failed') THEN 0 ELSE attempts END,
            moved_from_channel_id = CASE WHEN state IN ('sent', 'failed')
              THEN NULL ELSE moved_from_channel_id END,
            notice_ts = CASE WHEN state IN ('sent', 'failed') THEN NULL ELSE notice_ts END,
            state = CASE WHEN state IN ('sent', 'failed') THEN 'pending' ELSE state END""",
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


def claim(db: sqlite_utils.Database, row_id: int, target: Target) -> None:
    """About to call chat.postMessage for this row, at `target`: until the answer is
    recorded, the message may be there. Call it only when no earlier attempt is in doubt."""
    db.execute(
        f"""UPDATE {OUTBOX} SET state = 'sending', target_channel_id = ?, target_thread_ts = ?,
            target_key = ?, target_floor = ? WHERE id = ?""",
        [target.channel_id, target.thread_ts, target.key, target.floor, row_id],
    )


def mark_sent(db: sqlite_utils.Database, row: OutboxRow, channel_id: str, ts: str) -> None:
    """Delivered. A status row asked for again meanwhile stays pending, to show the news."""
    db.execute(
        f"""UPDATE {OUTBOX} SET channel_id = ?, ts = ?, sent_at = ?, last_error = NULL,
            attempts = 0, {_NO_TARGET},
            state = CASE WHEN version = ? THEN 'sent' ELSE 'pending' END
            WHERE id = ?""",
        [channel_id, ts, utc_now(), row.version, row.id],
    )


def retry_later(
    db: sqlite_utils.Database, row_id: int, at: datetime, error: str, *, settled: bool
) -> None:
    """Try again at `at`. `settled`: Slack's answer showed that the last attempt posted
    nothing (a 429, a refusal), so the row leaves doubt; otherwise any doubt stays recorded."""
    if settled:
        db.execute(
            f"""UPDATE {OUTBOX} SET state = 'pending', {_NO_TARGET}, next_attempt_at = ?,
                last_error = ?, attempts = attempts + 1 WHERE id = ?""",
            [at.isoformat(timespec="milliseconds"), error, row_id],
        )
        return
    db.execute(
        f"""UPDATE {OUTBOX} SET next_attempt_at = ?, last_error = ?, attempts = attempts + 1
            WHERE id = ?""",
        [at.isoformat(timespec="milliseconds"), error, row_id],
    )


def move_to_dm(db: sqlite_utils.Database, row_id: int, from_channel_id: str) -> None:
    """The row's channel refused it (or will not let the bot look there): it goes to the
    requester's DM. Nothing is in doubt at this point."""
    db.execute(
        f"""UPDATE {OUTBOX} SET moved_from_channel_id = ?, state = 'pending', {_NO_TARGET}
            WHERE id = ?""",
        [from_channel_id, row_id],
    )


def notice_posted(db: sqlite_utils.Database, row_id: int, dm_channel_id: str, ts: str) -> None:
    """The DM notice is there, and its answer told the DM's id."""
    db.execute(
        f"""UPDATE {OUTBOX} SET dm_channel_id = ?, notice_ts = ?, state = 'pending', {_NO_TARGET}
            WHERE id = ?""",
        [dm_channel_id, ts, row_id],
    )


def known_dm(db: sqlite_utils.Database, user_id: str) -> str | None:
    """The bot's DM with `user_id`, if an earlier post there told its id."""
    found = db.execute(
        f"""SELECT o.dm_channel_id FROM {OUTBOX} o JOIN replica_requests r
            ON r.id = o.request_id WHERE r.requester_id = ? AND o.dm_channel_id IS NOT NULL
            ORDER BY o.id DESC LIMIT 1""",
        [user_id],
    ).fetchone()
    return None if found is None else str(found[0])


def mark_failed(db: sqlite_utils.Database, row_id: int, error: str) -> None:
    db.execute(
        f"UPDATE {OUTBOX} SET state = 'failed', last_error = ? WHERE id = ?", [error, row_id]
    )


def unsent_count(db: sqlite_utils.Database) -> int:
    return backlog(db)[0]


def backlog(db: sqlite_utils.Database) -> tuple[int, str | None]:
    """Messages owed and not delivered yet: how many, and since when the oldest is owed."""
    count, oldest = db.execute(
        f"SELECT count(*), min(created_at) FROM {OUTBOX} WHERE {UNSENT}"
    ).fetchone()
    return int(count), None if oldest is None else str(oldest)


def rows_for(db: sqlite_utils.Database, request_id: int) -> list[dict[str, Any]]:
    return list(db.table(OUTBOX).rows_where("request_id = ?", [request_id], order_by="id"))
