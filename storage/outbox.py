"""The outbox: Slack messages the workflow owes, written in the same transaction as the state
change that calls for them, and delivered (and retried) by `replicas.outbox.OutboxWorker`.

Every row belongs to a lane (`Lane`): the rows of one lane are delivered in order (a request's
root message before the replies in its thread), and lanes are independent of each other (one
lane's trouble never holds up another). A request's lane holds its root message and replies;
messages that are about no request (a user's DM) have lanes of their own.

What a row says is rendered when it is delivered, where it can be: the root message from the
request's newest state, a reply (its `kind` names the renderer, blocks.messages.REPLIES) from
the request as it is then, except for the state and reason it announces, which are kept with
the row when it becomes owed (`Announced`). A lane that is not a request has no record to
render from, so its rows carry their message (`MESSAGE`).

A row is `sending` (in doubt) from the moment its next chat.postMessage is recorded (`claim`,
with where it goes) until Slack's answer is recorded: the message may then be in that one
place, and nowhere else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from weakref import WeakKeyDictionary

import sqlite_utils

from domain.states import State
from storage.home import viewers_of
from storage.replicas import REQUESTS, utc_now
from storage.rows import dict_rows

OUTBOX = "outbox"
# Kinds of row. Any other kind of a request's row is a reply rendered when it is delivered,
# by the renderer of that name (blocks.messages.REPLIES).
STATUS = "status"  # a request's root message, rendered from its newest state
HOME = "home"  # a user's App Home, rendered from the requests when delivered
# A Home is published at most this often per user, however many of their replicas change.
HOME_THROTTLE_SECONDS = 30.0
REPLY = "reply"  # written before lanes: a reply already rendered, its payload its text and blocks
MESSAGE = "message"  # a lane that is not a request: the payload is the message itself
UNSENT = "state IN ('pending', 'sending')"
# What an attempt that Slack's answer settled (nothing posted) leaves behind.
_NO_TARGET = """target_channel_id = NULL, target_thread_ts = NULL, target_key = NULL,
    target_floor = NULL"""
# Done rows, deleted once older than RETENTION_DAYS (`prune_done`), by the indexed column
# that tells when each was done: when it was last sent; for one given up, when its last
# attempt was due (shortly before it was given up).
DONE_AT = {"sent": "sent_at", "failed": "next_attempt_at"}
# How many times each connection has owed rows (see `owed`).
_OWED: WeakKeyDictionary[sqlite_utils.Database, int] = WeakKeyDictionary()


class LaneKind(StrEnum):
    REQUEST = "request"  # one replica request: its root message, then replies in its thread
    # One user's DM, for messages that are about no request (a consent DM sent before any
    # request exists, an admin notice). No production door writes to it yet (enqueue_dm).
    DM = "dm"
    # One user's App Home ("home:U123"): one row, re-opened whenever it should be published
    # again, rendered when delivered (views.publish replaces the whole tab: nothing in doubt).
    HOME = "home"


@dataclass(frozen=True)
class Lane:
    """The queue a row waits in: rows of one lane go out in order, lanes independently."""

    # A LaneKind; one this version does not know (a newer version wrote it) is backed off like
    # any row the worker cannot deliver, never a failure of the whole outbox.
    kind: str
    owner: str  # the request id, or the user id

    def __str__(self) -> str:
        return f"{self.kind}:{self.owner}"

    @classmethod
    def parse(cls, text: str) -> Lane:
        kind, _, owner = text.partition(":")
        return cls(kind, owner)

    @property
    def request_id(self) -> int | None:
        """The request whose lane this is; None for any other lane."""
        return int(self.owner) if self.kind == LaneKind.REQUEST else None


def request_lane(request_id: int) -> Lane:
    return Lane(LaneKind.REQUEST, str(request_id))


def dm_lane(user_id: str) -> Lane:
    return Lane(LaneKind.DM, user_id)


def home_lane(user_id: str) -> Lane:
    return Lane(LaneKind.HOME, user_id)


@dataclass(frozen=True)
class Announced:
    """What a request's reply announces: the request's state and reason when the reply became
    owed. Everything else is rendered from the request as it is when the reply is delivered;
    these two are kept because the request may have moved on by then (an `uncertain` reply
    not yet delivered when the replica is adopted still tells why it was uncertain)."""

    state: State
    error_message: str | None


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
    lane: Lane
    request_id: int | None  # None for a lane that is not a request
    key: str
    kind: str
    payload: dict[str, Any] | None  # by kind: a rendered message, or what a reply announces
    state: str
    attempts: int
    version: int
    created_at: str
    target: Target | None = None  # the attempt in doubt, when `state` is 'sending'
    moved_from: str | None = None  # the channel that refused it; it goes to the requester's DM
    dm_channel_id: str | None = None  # that DM's id (or a DM lane's), once an answer told it
    notice_ts: str | None = None  # the DM notice saying why, once posted

    def announced(self) -> Announced | None:
        """What a reply rendered at delivery announces; None for other rows. Read when the row
        is delivered, not with the others, so that one broken row stops only itself."""
        if self.kind in (STATUS, REPLY, MESSAGE) or self.lane.kind != LaneKind.REQUEST:
            return None
        if self.payload is None:
            raise ValueError(f"{self.key}: a reply without what it announces")
        return Announced(State(self.payload["state"]), self.payload.get("error_message"))


def _payload(raw: str | None) -> dict[str, Any] | None:
    """A row's payload; None if it is missing or unreadable, which fails that row alone when it
    is delivered (reading every lane's head must never fail for one bad row)."""
    if not raw:
        return None
    try:
        payload = json.loads(raw)
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


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
        lane=Lane.parse(row["lane"]),
        request_id=row["request_id"],
        key=row["key"],
        kind=row["kind"],
        payload=_payload(row["payload"]),
        state=row["state"],
        attempts=row["attempts"],
        version=row["version"],
        created_at=row["created_at"],
        target=target,
        moved_from=row.get("moved_from_channel_id"),
        dm_channel_id=row.get("dm_channel_id"),
        notice_ts=row.get("notice_ts"),
    )


def owed(db: sqlite_utils.Database) -> int:
    """How many times rows have been owed through `db`: every enqueue that wrote a row, or
    brought one forward, counts. Compared before and after a transaction, it tells whether
    the outbox worker has anything new to look for (`ReplicaWorkflow._commit` wakes it only
    then). A transaction rolled back still counts: at worst a look that finds nothing."""
    return _OWED.get(db, 0)


def _owe(db: sqlite_utils.Database) -> None:
    _OWED[db] = _OWED.get(db, 0) + 1


def status_key(request_id: int) -> str:
    return f"{request_id}:status"


def enqueue_status(
    db: sqlite_utils.Database, request_id: int, *, throttle_seconds: float | None = None
) -> None:
    """Ask for the root message to show the request's current state (posting it the first
    time), and for the Home tabs that show the request to be published again. Repeated asks
    before delivery coalesce into one.

    `throttle_seconds`: news that can wait (training progress) goes out no sooner than that
    long after the message was last sent. An ask without it is due at once, and brings a
    throttled one forward (a result never waits behind a progress update)."""
    _enqueue_render(
        db, request_lane(request_id), request_id, status_key(request_id), STATUS, throttle_seconds
    )
    for user_id in viewers_of(db, request_id):
        enqueue_home(db, user_id)


def enqueue_home(
    db: sqlite_utils.Database, user_id: str, *, throttle_seconds: float = HOME_THROTTLE_SECONDS
) -> None:
    """Ask for `user_id`'s App Home to be published again (at most every `throttle_seconds`:
    0 for a user who just opened it)."""
    lane = home_lane(user_id)
    _enqueue_render(db, lane, None, str(lane), HOME, throttle_seconds)


def _enqueue_render(
    db: sqlite_utils.Database,
    lane: Lane,
    request_id: int | None,
    key: str,
    kind: str,
    throttle_seconds: float | None,
) -> None:
    """Owe the one row of `key`, rendered when it is delivered.

    A row re-opened after it was sent (or given up) is owed anew from now: `created_at` is
    when the message became owed (the 48 h give-up and the readiness backlog age count from
    it), and where the last post went no longer matters. With `throttle_seconds` it is due
    no sooner than that long after it was last sent; without, at once (and a pending row
    not backing off is brought forward)."""
    now = datetime.now(UTC)
    due = now
    if throttle_seconds:
        row = db.execute(f"SELECT sent_at FROM {OUTBOX} WHERE key = ?", [key]).fetchone()
        if row is not None and row[0]:
            due = max(now, datetime.fromisoformat(row[0]) + timedelta(seconds=throttle_seconds))
    db.execute(
        f"""INSERT INTO {OUTBOX} (lane, request_id, key, kind, state, attempts, version,
            next_attempt_at, created_at) VALUES (?, ?, ?, ?, 'pending', 0, 1, ?, ?)
            ON CONFLICT(key) DO UPDATE SET version = version + 1,
            next_attempt_at = CASE WHEN state IN ('sent', 'failed')
              THEN excluded.next_attempt_at
              WHEN state = 'pending' AND attempts = 0
              THEN min(next_attempt_at, excluded.next_attempt_at)
              ELSE next_attempt_at END,
            created_at = CASE WHEN state IN ('sent', 'failed')
              THEN excluded.created_at ELSE created_at END,
            attempts = CASE WHEN state IN ('sent', 'failed') THEN 0 ELSE attempts END,
            moved_from_channel_id = CASE WHEN state IN ('sent', 'failed')
              THEN NULL ELSE moved_from_channel_id END,
            notice_ts = CASE WHEN state IN ('sent', 'failed') THEN NULL ELSE notice_ts END,
            state = CASE WHEN state IN ('sent', 'failed') THEN 'pending' ELSE state END""",
        [str(lane), request_id, key, kind, _stamp(due), _stamp(now)],
    )
    _owe(db)


def _stamp(moment: datetime) -> str:
    """As utc_now() writes times: comparable as text."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def enqueue_reply(db: sqlite_utils.Database, request_id: int, kind: str) -> None:
    """A reply in the request's thread, sent once: a second ask of the same kind is a no-op.

    `kind` names its renderer (blocks.messages.REPLIES), which renders it from the request
    when it is delivered. The request's state and reason now are kept with it (`Announced`):
    they are what the reply is about, whatever the request has become by then."""
    found = db.execute(
        f"SELECT state, error_message FROM {REQUESTS} WHERE id = ?", [request_id]
    ).fetchone()
    if found is None:
        raise LookupError(f"no request {request_id} to reply about")
    announced = {"state": found[0], "error_message": found[1]}
    _insert_once(db, request_lane(request_id), request_id, f"{request_id}:{kind}", kind, announced)


def announce(db: sqlite_utils.Database, request_id: int, kind: str) -> None:
    """Within a state change: refresh the root message and reply in its thread, once."""
    enqueue_status(db, request_id)
    # Rendered when delivered, from the request then (and the state it tells, kept now).
    enqueue_reply(db, request_id, kind)


def enqueue_message(
    db: sqlite_utils.Database, lane: Lane, name: str, message: dict[str, Any]
) -> None:
    """A message (`Message.as_kwargs()`) in a lane that is not a request's, sent once: a
    second ask with the same name is a no-op. Such a lane has no record to render from, so
    the message is kept as it is; a request's messages are rendered when delivered instead."""
    if lane.kind == LaneKind.REQUEST:
        raise ValueError(f"{lane}: a request's replies are rendered from it (enqueue_reply)")
    _insert_once(db, lane, None, f"{lane}:{name}", MESSAGE, message)


def enqueue_dm(db: sqlite_utils.Database, user_id: str, name: str, message: dict[str, Any]) -> None:
    """A message to `user_id`'s DM, in that user's own lane: in order with their other DMs,
    independent of every request. Nothing writes one yet (a consent DM, an admin notice
    would); tests deliver it end to end so that the lane is ready for them."""
    enqueue_message(db, dm_lane(user_id), name, message)


def _insert_once(
    db: sqlite_utils.Database,
    lane: Lane,
    request_id: int | None,
    key: str,
    kind: str,
    payload: dict[str, Any],
) -> None:
    now = utc_now()
    cursor = db.execute(
        f"""INSERT INTO {OUTBOX} (lane, request_id, key, kind, payload, state, attempts,
            next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?)
            ON CONFLICT(key) DO NOTHING""",
        [str(lane), request_id, key, kind, json.dumps(payload), now, now],
    )
    if cursor.rowcount:  # a second ask of the same key writes nothing, and owes nothing
        _owe(db)


def due(
    db: sqlite_utils.Database,
    now: datetime,
    busy: frozenset[Lane],
    *,
    limit: int | None = None,
) -> tuple[list[OutboxRow], str | None]:
    """The first unsent row of each lane not in `busy`, if it is due, at most `limit` of them,
    the longest due first; and the earliest time an unsent row of a lane not in `busy` becomes
    due (a row behind its lane's head may make that a look that finds nothing).

    Every look is a few index steps, whatever is owed: a polling round that moved 10,000
    replicas' progress owes 10,000 status edits (due minutes later, at the throttle), and the
    worker looks after every commit that owes one. Reading every lane's head at each look took
    6.5 ms of the database thread, three quarters of its time in such a round."""
    stamp = now.isoformat(timespec="milliseconds")
    given = {
        "now": stamp,
        "busy": json.dumps(sorted(str(lane) for lane in busy)),
        "limit": -1 if limit is None else limit,
    }
    found: list[dict[str, Any]] = []
    later: str | None = None
    # One state at a time, so that each query walks the (state, next_attempt_at) index in
    # order and stops at its limit: no sort of everything due.
    for state in ("pending", "sending"):
        found += dict_rows(
            db,
            f"""SELECT * FROM {OUTBOX} AS o WHERE o.state = :state AND o.next_attempt_at <= :now
                AND o.lane NOT IN (SELECT value FROM json_each(:busy))
                AND NOT EXISTS (SELECT 1 FROM {OUTBOX} AS earlier WHERE earlier.lane = o.lane
                    AND earlier.id < o.id AND earlier.{UNSENT})
                ORDER BY o.next_attempt_at, o.id LIMIT :limit""",
            {**given, "state": state},
        )
        waiting = db.execute(
            f"""SELECT next_attempt_at FROM {OUTBOX} WHERE state = :state
                AND next_attempt_at > :now AND lane NOT IN (SELECT value FROM json_each(:busy))
                ORDER BY next_attempt_at LIMIT 1""",
            {**given, "state": state},
        ).fetchone()
        if waiting is not None and (later is None or waiting[0] < later):
            later = waiting[0]
    found.sort(key=lambda row: (row["next_attempt_at"], row["id"]))
    return [_row(row) for row in (found if limit is None else found[:limit])], later


def claim(db: sqlite_utils.Database, row_id: int, target: Target) -> None:
    """About to call chat.postMessage for this row, at `target`: until the answer is
    recorded, the message may be there. Call it only when no earlier attempt is in doubt."""
    db.execute(
        f"""UPDATE {OUTBOX} SET state = 'sending', target_channel_id = ?, target_thread_ts = ?,
            target_key = ?, target_floor = ? WHERE id = ?""",
        [target.channel_id, target.thread_ts, target.key, target.floor, row_id],
    )


def mark_sent(
    db: sqlite_utils.Database,
    row: OutboxRow,
    channel_id: str,
    ts: str,
    *,
    dm_channel_id: str | None = None,
) -> None:
    """Delivered. A status row asked for again meanwhile stays pending, to show the news.
    `dm_channel_id`: the post went to a user's DM, whose D… id its answer told (`known_dm`)."""
    now = datetime.now(UTC)
    # A Home asked for again meanwhile waits its turn: at most one publish per throttle.
    due = now + timedelta(seconds=HOME_THROTTLE_SECONDS if row.kind == HOME else 0)
    db.execute(
        f"""UPDATE {OUTBOX} SET channel_id = ?, ts = ?, sent_at = ?, last_error = NULL,
            attempts = 0, {_NO_TARGET}, dm_channel_id = coalesce(?, dm_channel_id),
            next_attempt_at = max(next_attempt_at, ?),
            state = CASE WHEN version = ? THEN 'sent' ELSE 'pending' END
            WHERE id = ?""",
        [channel_id, ts, _stamp(now), dm_channel_id, _stamp(due), row.version, row.id],
    )
    if dm_channel_id is not None:
        _learn_dm(db, row, dm_channel_id)


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


def notice_posted(db: sqlite_utils.Database, row: OutboxRow, dm_channel_id: str, ts: str) -> None:
    """The DM notice is there, and its answer told the DM's id."""
    db.execute(
        f"""UPDATE {OUTBOX} SET dm_channel_id = ?, notice_ts = ?, state = 'pending', {_NO_TARGET}
            WHERE id = ?""",
        [dm_channel_id, ts, row.id],
    )
    _learn_dm(db, row, dm_channel_id)


KNOWN_DMS = "known_dms"


def known_dm(db: sqlite_utils.Database, user_id: str) -> str | None:
    """The bot's DM with `user_id`, if an earlier post there told its id (a request of theirs
    moved to it or started there, or their own DM lane): one primary-key read."""
    found = db.execute(
        f"SELECT dm_channel_id FROM {KNOWN_DMS} WHERE user_id = ?", [user_id]
    ).fetchone()
    return None if found is None else str(found[0])


def _learn_dm(db: sqlite_utils.Database, row: OutboxRow, dm_channel_id: str) -> None:
    """Keep the DM id an answer told, for the user whose DM it is: a DM lane's owner, or the
    requester of a request's row."""
    if row.lane.kind == LaneKind.DM:
        user_id: str | None = row.lane.owner
    else:
        found = db.execute(
            f"SELECT requester_id FROM {REQUESTS} WHERE id = ?", [row.request_id]
        ).fetchone()
        user_id = None if found is None else found[0]
    if user_id:
        db.execute(
            f"""INSERT INTO {KNOWN_DMS} (user_id, dm_channel_id, learnt_at) VALUES (?, ?, ?)
                ON CONFLICT(user_id) DO UPDATE SET dm_channel_id = excluded.dm_channel_id,
                learnt_at = excluded.learnt_at""",
            [user_id, dm_channel_id, utc_now()],
        )


def mark_failed(db: sqlite_utils.Database, row_id: int, error: str) -> None:
    db.execute(
        f"UPDATE {OUTBOX} SET state = 'failed', last_error = ? WHERE id = ?", [error, row_id]
    )


def backlog(db: sqlite_utils.Database) -> tuple[int, str | None]:
    """Messages owed and not delivered yet: how many, and since when the oldest is owed."""
    count, oldest = db.execute(
        f"SELECT count(*), min(created_at) FROM {OUTBOX} WHERE {UNSENT}"
    ).fetchone()
    return int(count), None if oldest is None else str(oldest)


def rows_for(db: sqlite_utils.Database, request_id: int) -> list[dict[str, Any]]:
    return rows_in(db, request_lane(request_id))


def rows_in(db: sqlite_utils.Database, lane: Lane) -> list[dict[str, Any]]:
    return list(db.table(OUTBOX).rows_where("lane = ?", [str(lane)], order_by="id"))


def prune_done(
    db: sqlite_utils.Database,
    state: str,
    before: str,
    after: tuple[str, int] | None = None,
    *,
    limit: int = 1000,
) -> tuple[int, tuple[str, int] | None]:
    """One batch of retention (storage/retention.py), one transaction: of the rows in `state`
    ('sent' or 'failed') done before `before` (a utc_now() stamp), the first `limit` after
    `after`, in the order they were done (`DONE_AT`, then id), are looked at, and those not
    kept are deleted. How many went, and where the next batch starts (None: none left).

    A row still owed (pending, or sending: in doubt) is never looked at. Kept: the newest row
    of a lane that recorded a DM's id (`dm_channel_id`), one per lane, as where that id was
    told (`known_dm` reads the id itself from `known_dms`, which retention never prunes).
    Nothing else a done row holds is read again: a request's
    root message is edited through the request's `message_channel_id`/`message_ts`, and a
    status or Home row asked for again is written anew."""
    column = DONE_AT[state]
    where = f"o.state = ? AND o.{column} < ?"
    params: list[Any] = [state, before]
    if after is not None:
        where += f" AND o.{column} >= ? AND (o.{column} > ? OR o.id > ?)"
        params += [after[0], after[0], after[1]]
    with db.atomic():
        looked = db.execute(
            f"""SELECT o.id, o.{column}, CASE WHEN o.dm_channel_id IS NULL THEN 0
                ELSE o.id = (SELECT max(d.id) FROM {OUTBOX} d
                  WHERE d.lane = o.lane AND d.dm_channel_id IS NOT NULL) END
                FROM {OUTBOX} o WHERE {where} ORDER BY o.{column}, o.id LIMIT ?""",
            [*params, limit],
        ).fetchall()
        gone = [(row_id,) for row_id, _, kept in looked if not kept]
        db.conn.executemany(f"DELETE FROM {OUTBOX} WHERE id = ?", gone)
    if len(looked) < limit:
        return len(gone), None
    last_id, last_done, _ = looked[-1]
    return len(gone), (str(last_done), int(last_id))
