"""Replica requests and Tavus callbacks in SQLite.

Plain functions of a sqlite-utils Database, run on the database thread by `Storage.run`.
Every write that changes a request's state is conditional, so a second delivery of the same
event changes nothing.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlite_utils

from domain.consent import (
    ConsentEvent,
    ConsentEventKind,
    media_relayed,
    state_changed,
    submitted,
)
from domain.record import ReplicaRecord
from domain.request import Mode, ReplicaRequest, SlackOrigin
from domain.states import OPEN, State, Transition, sources, target
from domain.subject import Subject, SubjectKind
from domain.training import TrainingResult
from storage import consent
from storage.rows import dict_rows

REQUESTS = "replica_requests"
CALLBACKS = "tavus_callbacks"


def _in(states: frozenset[State]) -> str:
    """SQL condition: the request is in one of `states`."""
    return "state IN ({})".format(", ".join(f"'{state.value}'" for state in sorted(states)))


def _from(transition: Transition) -> str:
    """SQL guard of a conditional UPDATE: the states `transition` may start from
    (domain/states.py's table)."""
    return _in(sources(transition))


# SQL condition "the request may still get a training result".
IS_OPEN = _in(OPEN)


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _record(row: dict[str, Any], approved_by: tuple[str, ...] = ()) -> ReplicaRecord:
    return ReplicaRecord(
        id=row["id"],
        state=State(row["state"]),
        request=ReplicaRequest(
            replica_name=row["replica_name"],
            mode=Mode(row["mode"]),
            model_name=row["model_name"],
            train_video_url=row["train_video_url"],
            consent_video_url=row["consent_video_url"],
            train_image_url=row["train_image_url"],
            voice_name=row["voice_name"],
            auto_fix_training_image=bool(row["auto_fix_training_image"]),
            slack_file_id=row["slack_file_id"],
            slack_file_name=row["slack_file_name"],
            slack_file_owner=row.get("slack_file_owner"),
            slack_file_permalink=row.get("slack_file_permalink"),
            subject=Subject(
                kind=SubjectKind(row.get("subject_kind") or SubjectKind.ME.value),
                user_id=row.get("subject_user_id"),
                name=row.get("subject_name"),
            ),
            intended_use=row.get("intended_use") or "",
            statement=row.get("consent_statement"),
            attestation=row.get("attestation"),
            consent_reference=row.get("consent_reference"),
        ),
        origin=SlackOrigin(
            requester_id=row["requester_id"],
            channel_id=row["channel_id"],
            team_id=row["team_id"],
            thread_ts=row["thread_ts"],
            enterprise_id=row["enterprise_id"],
        ),
        created_at=row["created_at"],
        replica_id=row["replica_id"],
        tavus_status=row["tavus_status"],
        error_message=row["error_message"],
        message_channel_id=row["message_channel_id"],
        message_ts=row["message_ts"],
        finished_at=row["finished_at"],
        create_sent_at=row["create_sent_at"],
        training_progress=row.get("training_progress"),
        approvers=tuple(json.loads(row.get("approvers") or "[]")),
        approved_by=approved_by,
        delete_requested_at=row.get("delete_requested_at"),
        delete_requested_by=row.get("delete_requested_by"),
        delete_hard=row.get("delete_hard") != 0,
        deleted_at=row.get("deleted_at"),
        submitted_at=row.get("submitted_at"),
        thumbnail_video_url=row.get("thumbnail_video_url"),
        finetune_status=row.get("finetune_status"),
    )


def insert_request(
    db: sqlite_utils.Database,
    *,
    view_id: str,
    request: ReplicaRequest,
    origin: SlackOrigin,
    callback_token_hash: str,
) -> int | None:
    """Record a new request, and open its consent record (SUBMITTED): in AWAITING_CONSENT if
    someone must approve it first, else SUBMITTING. None if this view was already submitted."""
    now = utc_now()
    approvers = request.approvers(origin.requester_id)
    state = State.AWAITING_CONSENT if approvers else State.SUBMITTING
    subject = request.subject
    try:
        with db.atomic():
            cursor = db.execute(
                f"""INSERT INTO {REQUESTS} (view_id, team_id, enterprise_id, requester_id,
                    channel_id, thread_ts, replica_name, mode, model_name, train_video_url,
                    consent_video_url, train_image_url, voice_name, auto_fix_training_image,
                    slack_file_id, slack_file_name, state, callback_token_hash, created_at,
                    updated_at, slack_file_owner, slack_file_permalink, subject_kind,
                    subject_user_id, subject_name, intended_use, consent_statement,
                    attestation, consent_reference, approvers)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
                    ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                [
                    view_id,
                    origin.team_id,
                    origin.enterprise_id,
                    origin.requester_id,
                    origin.channel_id,
                    origin.thread_ts,
                    request.replica_name,
                    request.mode.value,
                    request.model_name,
                    request.train_video_url,
                    request.consent_video_url,
                    request.train_image_url,
                    request.voice_name,
                    int(request.auto_fix_training_image),
                    request.slack_file_id,
                    request.slack_file_name,
                    state.value,
                    callback_token_hash,
                    now,
                    now,
                    request.slack_file_owner,
                    request.slack_file_permalink,
                    subject.kind.value,
                    subject.user_id,
                    subject.name,
                    request.intended_use,
                    request.statement,
                    request.attestation,
                    request.consent_reference,
                    json.dumps(list(approvers)),
                ],
            )
            request_id = cursor.lastrowid
            assert request_id is not None
            consent.append(db, submitted(request_id, now, request, origin))
    except sqlite3.IntegrityError:
        if db.execute(f"SELECT 1 FROM {REQUESTS} WHERE view_id = ?", [view_id]).fetchone():
            return None
        raise
    return request_id


class NoSuchRequest(LookupError):
    """No request has that id (a stale or forged button value)."""


def get_request(db: sqlite_utils.Database, request_id: int) -> ReplicaRecord:
    """The request; NoSuchRequest (a LookupError) if there is none."""
    row = _one(db, f"SELECT * FROM {REQUESTS} WHERE id = ?", [request_id])
    if row is None:
        raise NoSuchRequest(request_id)
    approved_by: tuple[str, ...] = ()
    if row["state"] == State.AWAITING_CONSENT.value:
        approved_by = tuple(
            event.actor_id
            for event in consent.events_for(db, request_id)
            if event.kind is ConsentEventKind.APPROVED and event.actor_id
        )
    return _record(row, approved_by)


def find_by_token_hash(db: sqlite_utils.Database, token_hash: str) -> ReplicaRecord | None:
    row = _one(db, f"SELECT * FROM {REQUESTS} WHERE callback_token_hash = ? LIMIT 1", [token_hash])
    return _record(row) if row is not None else None


def _one(db: sqlite_utils.Database, sql: str, parameters: list[Any]) -> dict[str, Any] | None:
    """The first row `sql` selects, as a dict; None if there is none."""
    rows = dict_rows(db, sql, parameters)
    return rows[0] if rows else None


def _update(db: sqlite_utils.Database, request_id: int, where: str, values: dict[str, Any]) -> bool:
    """UPDATE one request if `where` still holds; True if it changed.

    Every change of a request's state goes through here, so this is where the consent record
    gets its STATE_CHANGED, in the same transaction: no door can change a state unrecorded."""
    values = {**values, "updated_at": utc_now()}
    assignments = ", ".join(f"{column} = :{column}" for column in values)
    with db.atomic():
        before = _state(db, request_id) if "state" in values else None
        # What the consent record keeps of the request as the UPDATE left it, in the same
        # statement (not read again after it).
        cursor = db.execute(
            f"""UPDATE {REQUESTS} SET {assignments} WHERE id = :_id AND ({where})
                RETURNING {", ".join(_AFTER_CHANGE)}""",
            {**values, "_id": request_id},
        )
        after = cursor.fetchall()
        if after and before is not None and before != values["state"]:
            _record_state_change(db, request_id, before, values["updated_at"], after[0])
    return bool(after)


# A state change's columns for its STATE_CHANGED event (_record_state_change).
_AFTER_CHANGE = ("state", "replica_id", "error_message", "tavus_status")


def _state(db: sqlite_utils.Database, request_id: int) -> State | None:
    row = db.execute(f"SELECT state FROM {REQUESTS} WHERE id = ?", [request_id]).fetchone()
    return None if row is None else State(row[0])


def _record_state_change(
    db: sqlite_utils.Database, request_id: int, before: State, at: str, after: Sequence[Any]
) -> None:
    """`after`: the request as the UPDATE left it (_AFTER_CHANGE): its new state and what
    Tavus said."""
    state, replica_id, error_message, tavus_status = after
    consent.append(
        db,
        state_changed(
            request_id,
            at,
            from_state=before,
            to_state=State(state),
            replica_id=replica_id,
            reason=error_message,
            tavus_status=tavus_status,
        ),
    )


def set_root_message(db: sqlite_utils.Database, request_id: int, channel_id: str, ts: str) -> None:
    _update(db, request_id, "1", {"message_channel_id": channel_id, "message_ts": ts})


def set_media_url(
    db: sqlite_utils.Database,
    request_id: int,
    request: ReplicaRequest,
    *,
    file_name: str,
    size: int,
    sha256: str,
) -> None:
    """Keep the public URL a relayed Slack file got, before it is sent to Tavus, and record
    in the consent record which bytes that URL serves (`sha256`, hex, of the `size` bytes)."""
    with db.atomic():
        _update(
            db,
            request_id,
            "1",
            {
                "train_video_url": request.train_video_url,
                "train_image_url": request.train_image_url,
            },
        )
        consent.append(
            db,
            media_relayed(
                request_id,
                utc_now(),
                slack_file_id=request.slack_file_id,
                file_name=file_name,
                size=size,
                sha256=sha256,
            ),
        )


def mark_create_sent(db: sqlite_utils.Database, request_id: int) -> bool:
    """Recorded just before POST /v2/replicas: from here on, a crash leaves the create
    ambiguous (reconciled by listing replicas), never re-sent. False if already sent."""
    return _update(
        db,
        request_id,
        f"state = '{State.SUBMITTING.value}' AND create_sent_at IS NULL",
        {"create_sent_at": utc_now()},
    )


def set_callback_token_hash(db: sqlite_utils.Database, request_id: int, token_hash: str) -> None:
    """A resumed submission gets a fresh callback token (only its hash is ever stored)."""
    _update(db, request_id, "create_sent_at IS NULL", {"callback_token_hash": token_hash})


def open_request_ids(db: sqlite_utils.Database) -> list[int]:
    """The ids of the requests that may still get a training result, oldest first: read
    from the state index alone (10,000 in ~3 ms), for a caller that then reads them a page
    at a time (open_requests_among) rather than all in one long job."""
    return [row[0] for row in db.execute(f"SELECT id FROM {REQUESTS} WHERE {IS_OPEN} ORDER BY id")]


def open_requests_among(db: sqlite_utils.Database, ids: Sequence[int]) -> list[ReplicaRecord]:
    """Those of `ids` that are still open, oldest first."""
    marks = ", ".join("?" * len(ids))
    sql = f"SELECT * FROM {REQUESTS} WHERE id IN ({marks}) AND {IS_OPEN} ORDER BY id"
    return [_record(row) for row in dict_rows(db, sql, list(ids))]


def uncertain_requests(db: sqlite_utils.Database) -> list[ReplicaRecord]:
    """Requests whose create may or may not have made a replica, oldest first."""
    sql = f"SELECT * FROM {REQUESTS} WHERE state = ? ORDER BY id"
    return [_record(row) for row in dict_rows(db, sql, [State.UNCERTAIN.value])]


# -- consent: approval before the create, deletion after it -----------------------------------


def append_consent(db: sqlite_utils.Database, event: ConsentEvent) -> None:
    """Add to a request's consent record (within the caller's transaction)."""
    consent.append(db, event)


def decisions(db: sqlite_utils.Database, request_id: int) -> dict[str, ConsentEventKind]:
    """Each approver's answer so far (APPROVED or DECLINED), by Slack user id."""
    answered = (ConsentEventKind.APPROVED, ConsentEventKind.DECLINED)
    return {
        event.actor_id: event.kind
        for event in consent.events_for(db, request_id)
        if event.kind in answered and event.actor_id
    }


def consent_given(db: sqlite_utils.Database, request_id: int) -> bool:
    """Every approver approved: the request may go to Tavus (SUBMITTING). False if it had
    already left AWAITING_CONSENT."""
    return _update(
        db,
        request_id,
        _from(Transition.CONSENTED),
        {"state": target(Transition.CONSENTED).value},
    )


def consent_refused(db: sqlite_utils.Database, request_id: int, reason: str) -> bool:
    """Declined, expired, or withdrawn before the create went out: NOT_CREATED, and it never
    will be (mark_create_sent needs SUBMITTING). False if it had moved on, or the create has
    already been sent (then only a deletion can undo it)."""
    return _update(
        db,
        request_id,
        f"{_from(Transition.CONSENT_REFUSED)} AND create_sent_at IS NULL",
        {
            "state": target(Transition.CONSENT_REFUSED).value,
            "error_message": reason,
            "finished_at": utc_now(),
        },
    )


def awaiting_consent_since_before(db: sqlite_utils.Database, cutoff: str) -> list[ReplicaRecord]:
    """Requests still waiting for an approval that were made before `cutoff` (UTC ISO)."""
    rows = db.table(REQUESTS).rows_where(
        "state = ? AND created_at < ?",
        [State.AWAITING_CONSENT.value, cutoff],
        order_by="id",
    )
    return [_record(row) for row in rows]


def ask_deletion(db: sqlite_utils.Database, request_id: int, by: str, *, hard: bool = True) -> bool:
    """Keep that `by` asked for the request's replica to be deleted (`hard`: its training
    footage too); the first ask counts. False if one was already asked for."""
    return _update(
        db,
        request_id,
        "delete_requested_at IS NULL",
        {"delete_requested_at": utc_now(), "delete_requested_by": by, "delete_hard": int(hard)},
    )


DELETABLE = _from(Transition.DELETED)


def pending_deletions(db: sqlite_utils.Database) -> list[ReplicaRecord]:
    """Requests whose replica is to be deleted at Tavus and is not yet: asked for, and with a
    replica (a create still in doubt joins this list once its replica is found)."""
    rows = db.table(REQUESTS).rows_where(
        f"delete_requested_at IS NOT NULL AND replica_id IS NOT NULL AND {DELETABLE}",
        order_by="id",
    )
    return [_record(row) for row in rows]


def mark_deleted(db: sqlite_utils.Database, request_id: int, *, by: str, hard: bool) -> bool:
    """The replica is gone at Tavus: DELETED, and recorded. False if it already was."""
    with db.atomic():
        changed = _update(
            db,
            request_id,
            DELETABLE,
            {"state": target(Transition.DELETED).value, "deleted_at": utc_now()},
        )
        if changed:
            consent.record_deletion(db, request_id, by=by, hard=hard)
    return changed


def replicas_of_person(db: sqlite_utils.Database, user_id: str) -> list[ReplicaRecord]:
    """Requests whose replica (made, in the making, or waiting for approval) shows or was made
    from footage of `user_id`: they are on camera, or they shared the file. Requests that
    created nothing, and replicas deleted or being deleted, are left out."""
    rows = db.table(REQUESTS).rows_where(
        """(subject_user_id = :user OR slack_file_owner = :user)
           AND state NOT IN (:not_created, :deleted) AND delete_requested_at IS NULL""",
        {
            "user": user_id,
            "not_created": State.NOT_CREATED.value,
            "deleted": State.DELETED.value,
        },
        order_by="id",
    )
    return [_record(row) for row in rows]


def count_creates_since(
    db: sqlite_utils.Database, requester_id: str, since: str, *, other_than_view: str | None = None
) -> int:
    """How many requests `requester_id` made from `since` (a UTC ISO time, as `created_at` is
    written) on, for the monthly limit. Requests that certainly started no training
    (NOT_CREATED: Tavus refused, or nothing was sent) are not counted: a typo in a link should
    not use up the month. `other_than_view`: a submission is not counted against itself (a
    repeated delivery of a recorded form is then still ignored, not refused)."""
    row = db.execute(
        f"""SELECT COUNT(*) FROM {REQUESTS}
            WHERE requester_id = ? AND created_at >= ? AND state != ?
            AND view_id IS NOT ?""",
        [requester_id, since, State.NOT_CREATED.value, other_than_view],
    ).fetchone()
    return int(row[0])


IDS_PER_QUERY = 500  # well under SQLite's bound on parameters


def claimed_replica_ids(db: sqlite_utils.Database, replica_ids: Sequence[str]) -> set[str]:
    """Which of `replica_ids` a request already has: by the unique index, a batch at a time,
    so the cost follows the list asked about, not the history stored."""
    claimed: set[str] = set()
    for start in range(0, len(replica_ids), IDS_PER_QUERY):
        batch = list(replica_ids[start : start + IDS_PER_QUERY])
        marks = ", ".join("?" for _ in batch)
        rows = db.execute(f"SELECT replica_id FROM {REQUESTS} WHERE replica_id IN ({marks})", batch)
        claimed.update(row[0] for row in rows.fetchall())
    return claimed


def adopt_replica(
    db: sqlite_utils.Database, request_id: int, replica_id: str, tavus_status: str
) -> bool:
    """An ambiguous create turned out to have created `replica_id`: it is training. Also
    from NOT_CREATED, when the replica shows up after the bot had given up looking."""
    return _update(
        db,
        request_id,
        f"{_from(Transition.ADOPTED)} AND replica_id IS NULL",
        {
            "state": target(Transition.ADOPTED).value,
            "replica_id": replica_id,
            "tavus_status": tavus_status,
            "error_message": None,
            "finished_at": None,
        },
    )


def mark_training(
    db: sqlite_utils.Database, request_id: int, replica_id: str, tavus_status: str
) -> bool:
    """Tavus accepted the create. Only from SUBMITTING: a result that arrived first stays."""
    return _update(
        db,
        request_id,
        _from(Transition.ACCEPTED),
        {
            "state": target(Transition.ACCEPTED).value,
            "replica_id": replica_id,
            "tavus_status": tavus_status,
            "submitted_at": utc_now(),
        },
    )


def mark_create_failed(
    db: sqlite_utils.Database, request_id: int, state: State, error_message: str
) -> bool:
    """The create failed: NOT_CREATED (certainly nothing started) or UNCERTAIN; or an
    UNCERTAIN one turned out NOT_CREATED."""
    transition = Transition.CREATE_FAILED
    if state is State.UNCERTAIN:
        transition = Transition.CREATE_UNCERTAIN
    assert target(transition) is state, f"no create failure leads to {state}"
    finished = {"finished_at": utc_now()} if not state.is_open else {}
    return _update(
        db,
        request_id,
        f"{_from(transition)} AND replica_id IS NULL",
        {"state": state.value, "error_message": error_message, **finished},
    )


def _reported(result: TrainingResult) -> dict[str, Any]:
    """What a report of Tavus's keeps: its raw status, and progress, tuning status and preview
    when it gave them (no report of one leaves it as it was)."""
    values: dict[str, Any] = {"tavus_status": result.status}
    for column in ("training_progress", "finetune_status", "thumbnail_video_url"):
        if (value := getattr(result, column)) is not None:
            values[column] = value
    return values


def finish_training(
    db: sqlite_utils.Database,
    request_id: int,
    result: TrainingResult,
    *,
    model_name: str | None = None,
) -> bool:
    """Record the training result (its `stage` is SUCCEEDED or FAILED) once. False if the
    request had already finished. `model_name`: the request's, if the caller has read it in
    this transaction (it decides the stage); otherwise it is read here."""
    if model_name is None:
        row = db.execute(f"SELECT model_name FROM {REQUESTS} WHERE id = ?", [request_id]).fetchone()
        if row is None:
            return False
        model_name = row[0] or ""
    succeeded = result.stage(model_name) is State.SUCCEEDED
    transition = Transition.SUCCEEDED if succeeded else Transition.FAILED
    return _update(
        db,
        request_id,
        _from(transition),
        {
            **_reported(result),
            "state": target(transition).value,
            "error_message": result.error_message,
            "finished_at": utc_now(),
        },
    )


def mark_preview(db: sqlite_utils.Database, request_id: int, result: TrainingResult) -> bool:
    """A two-stage model's preview is usable and tuning goes on (PREVIEW_READY), once."""
    return _update(
        db,
        request_id,
        _from(Transition.PREVIEWED),
        {**_reported(result), "state": target(Transition.PREVIEWED).value},
    )


def note_tavus_status(
    db: sqlite_utils.Database, request_id: int, result: TrainingResult
) -> str | None:
    """Keep the latest report of an open request that moves it nowhere (its raw status, and
    progress, tuning status and preview when given). The training progress it had before."""
    row = db.execute(
        f"SELECT training_progress FROM {REQUESTS} WHERE id = ?", [request_id]
    ).fetchone()
    _update(db, request_id, IS_OPEN, _reported(result))
    return None if row is None else row[0]


def rename(db: sqlite_utils.Database, request_id: int, name: str) -> bool:
    """The replica's new name, once Tavus has taken it. False if the request is gone."""
    return _update(db, request_id, "1", {"replica_name": name})


def record_callback(
    db: sqlite_utils.Database,
    request_id: int,
    *,
    replica_id: str | None,
    status: str | None,
    outcome: str,
    raw_body: str,
) -> None:
    db.execute(
        f"""INSERT INTO {CALLBACKS} (request_id, received_at, replica_id, status, outcome, raw_body)
            VALUES (?, ?, ?, ?, ?, ?)""",
        [request_id, utc_now(), replica_id, status, outcome, raw_body],
    )


def callbacks_for(db: sqlite_utils.Database, request_id: int) -> list[dict[str, Any]]:
    return list(db.table(CALLBACKS).rows_where("request_id = ?", [request_id], order_by="id"))


def prune_callbacks(db: sqlite_utils.Database, before: str, *, limit: int = 1000) -> int:
    """Retention (storage/retention.py): delete, in one transaction, the oldest callbacks (at
    most `limit`) received before `before` (a utc_now() stamp); how many went."""
    with db.atomic():
        cursor = db.execute(
            f"""DELETE FROM {CALLBACKS} WHERE id IN (SELECT id FROM {CALLBACKS}
                WHERE received_at < ? ORDER BY received_at LIMIT ?)""",
            [before, limit],
        )
    return cursor.rowcount


# -- the library: a person's replicas, everyone's ----------------------------------------------

# How far a list counts: past this it is "more than COUNT_CAP", so that no count reads rows in
# proportion to the history stored.
COUNT_CAP = 1000

# A person's requests: made by them, of them, or from footage they shared. One index-ordered
# walk (newest first) per way a request concerns them, each stopping after :n rows that pass
# `{where}`, merged: the cost follows the page (and at worst the person's own requests), never
# everyone's. (An OR of the three would read every row of theirs to sort it.)
_MINE = """SELECT id FROM (SELECT id FROM {table} WHERE requester_id = :user AND id < :before
        AND {where} ORDER BY id DESC LIMIT :n)
    UNION SELECT id FROM (SELECT id FROM {table} WHERE subject_user_id = :user AND id < :before
        AND {where} ORDER BY id DESC LIMIT :n)
    UNION SELECT id FROM (SELECT id FROM {table} WHERE slack_file_owner = :user
        AND id < :before AND {where} ORDER BY id DESC LIMIT :n)"""
# Everyone's: by the primary key.
_EVERYONE = """SELECT id FROM {table} WHERE id < :before AND {where} ORDER BY id DESC LIMIT :n"""
# Past any id: "from the newest on".
_NO_BOUND = 2**63 - 1


def _ids(user_id: str | None, where: str = "1") -> str:
    """SQL selecting the ids of (at most :n of) the requests that concern :user (everyone's
    if `user_id` is None), older than :before, that pass `where`."""
    return (_MINE if user_id is not None else _EVERYONE).format(table=REQUESTS, where=where)


def _records(
    db: sqlite_utils.Database, ids_sql: str, params: dict[str, Any]
) -> list[ReplicaRecord]:
    sql = f"SELECT * FROM {REQUESTS} WHERE id IN ({ids_sql}) ORDER BY id DESC LIMIT :limit"
    return [_record(row) for row in dict_rows(db, sql, params)]


def requests_of(
    db: sqlite_utils.Database, user_id: str | None, *, limit: int, before: int | None = None
) -> tuple[list[ReplicaRecord], int]:
    """A page of the requests that concern `user_id` (None: everyone's), newest first, from
    those older than request `before` (None: from the newest); and how many there are from
    this page on, counted up to COUNT_CAP + 1 (more than COUNT_CAP: "more than COUNT_CAP")."""
    bound = _NO_BOUND if before is None else before
    page = _records(
        db, _ids(user_id), {"user": user_id, "before": bound, "n": limit, "limit": limit}
    )
    counted = db.execute(
        f"SELECT count(*) FROM ({_ids(user_id)})",
        {"user": user_id, "before": bound, "n": COUNT_CAP + 1},
    ).fetchone()[0]
    return page, min(int(counted), COUNT_CAP + 1)


def newer_ids(db: sqlite_utils.Database, request_id: int, *, limit: int) -> list[int]:
    """The ids of (at most `limit` of) the requests just newer than `request_id`, oldest
    first: where the page before one starting at `request_id` begins (App Home's Previous)."""
    rows = db.execute(
        f"SELECT id FROM {REQUESTS} WHERE id > ? ORDER BY id LIMIT ?", [request_id, limit]
    )
    return [int(row[0]) for row in rows.fetchall()]


def find_by_name_or_replica_id(
    db: sqlite_utils.Database, text: str, user_id: str | None, *, limit: int
) -> list[ReplicaRecord]:
    """`/replica status <name or replica id>`: the requests whose replica id is `text`, or
    whose name is `text` in any (ASCII) case, newest first; only those concerning `user_id`
    unless it is None (an admin). By indexes: the replica id's, the name's (COLLATE NOCASE),
    or the person's own requests."""
    params = {"user": user_id, "text": text, "before": _NO_BOUND, "n": limit, "limit": limit}
    if user_id is not None:
        matches = "(replica_id = :text OR replica_name = :text COLLATE NOCASE)"
        return _records(db, _ids(user_id, matches), params)
    ids = f"""SELECT id FROM {REQUESTS} WHERE replica_id = :text
        UNION SELECT id FROM (SELECT id FROM {REQUESTS} WHERE replica_name = :text COLLATE NOCASE
            ORDER BY id DESC LIMIT :n)"""
    return _records(db, ids, params)


def people_concerned(db: sqlite_utils.Database, request_id: int) -> set[str]:
    """Whose library a request is in: its requester, the person on camera, the file's owner."""
    row = db.execute(
        f"SELECT requester_id, subject_user_id, slack_file_owner FROM {REQUESTS} WHERE id = ?",
        [request_id],
    ).fetchone()
    return {user for user in row or () if user}
