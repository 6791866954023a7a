"""Replica requests and Tavus callbacks in SQLite.

Plain functions of a sqlite-utils Database, run on the database thread by `Storage.run`.
Every write that changes a request's state is conditional, so a second delivery of the same
event changes nothing.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any

import sqlite_utils

from replicas.record import ReplicaRecord
from replicas.request import Mode, ReplicaRequest, SlackOrigin, State

REQUESTS = "replica_requests"
CALLBACKS = "tavus_callbacks"
# SQL condition "the request may still get a training result".
IS_OPEN = "state IN ({})".format(", ".join(f"'{state.value}'" for state in State if state.is_open))


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _record(row: dict[str, Any]) -> ReplicaRecord:
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
        ),
        origin=SlackOrigin(
            requester_id=row["requester_id"],
            channel_id=row["channel_id"],
            team_id=row["team_id"],
            thread_ts=row["thread_ts"],
        ),
        created_at=row["created_at"],
        replica_id=row["replica_id"],
        tavus_status=row["tavus_status"],
        error_message=row["error_message"],
        message_channel_id=row["message_channel_id"],
        message_ts=row["message_ts"],
        finished_at=row["finished_at"],
    )


def insert_request(
    db: sqlite_utils.Database,
    *,
    view_id: str,
    request: ReplicaRequest,
    origin: SlackOrigin,
    callback_token_hash: str,
) -> int | None:
    """Record a new request in state SUBMITTING. None if this view was already submitted."""
    now = utc_now()
    try:
        with db.atomic():
            cursor = db.execute(
                f"""INSERT INTO {REQUESTS} (view_id, team_id, requester_id, channel_id, thread_ts,
                    replica_name, mode, model_name, train_video_url, consent_video_url,
                    train_image_url, voice_name, auto_fix_training_image, state,
                    callback_token_hash, created_at, updated_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                [
                    view_id,
                    origin.team_id,
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
                    State.SUBMITTING.value,
                    callback_token_hash,
                    now,
                    now,
                ],
            )
    except sqlite3.IntegrityError:
        if db.execute(f"SELECT 1 FROM {REQUESTS} WHERE view_id = ?", [view_id]).fetchone():
            return None
        raise
    return cursor.lastrowid


def get_request(db: sqlite_utils.Database, request_id: int) -> ReplicaRecord:
    return _record(db.table(REQUESTS).get(request_id))


def find_by_token_hash(db: sqlite_utils.Database, token_hash: str) -> ReplicaRecord | None:
    rows = list(db.table(REQUESTS).rows_where("callback_token_hash = ?", [token_hash], limit=1))
    return _record(rows[0]) if rows else None


def _update(db: sqlite_utils.Database, request_id: int, where: str, values: dict[str, Any]) -> bool:
    """UPDATE one request if `where` still holds; True if it changed."""
    values = {**values, "updated_at": utc_now()}
    assignments = ", ".join(f"{column} = :{column}" for column in values)
    with db.atomic():
        cursor = db.execute(
            f"UPDATE {REQUESTS} SET {assignments} WHERE id = :_id AND ({where})",
            {**values, "_id": request_id},
        )
    return cursor.rowcount == 1


def set_root_message(db: sqlite_utils.Database, request_id: int, channel_id: str, ts: str) -> None:
    _update(db, request_id, "1", {"message_channel_id": channel_id, "message_ts": ts})


def mark_training(
    db: sqlite_utils.Database, request_id: int, replica_id: str, tavus_status: str
) -> bool:
    """Tavus accepted the create. Only from SUBMITTING: a result that arrived first stays."""
    return _update(
        db,
        request_id,
        "state = 'submitting'",
        {
            "state": State.TRAINING.value,
            "replica_id": replica_id,
            "tavus_status": tavus_status,
            "submitted_at": utc_now(),
        },
    )


def mark_create_failed(
    db: sqlite_utils.Database, request_id: int, state: State, error_message: str
) -> bool:
    """The create failed: NOT_CREATED (certainly nothing started) or UNCERTAIN."""
    finished = {"finished_at": utc_now()} if not state.is_open else {}
    return _update(
        db,
        request_id,
        "state = 'submitting'",
        {"state": state.value, "error_message": error_message, **finished},
    )


def finish_training(
    db: sqlite_utils.Database,
    request_id: int,
    *,
    succeeded: bool,
    tavus_status: str,
    error_message: str | None,
) -> bool:
    """Record the training result once. False if the request had already finished."""
    return _update(
        db,
        request_id,
        IS_OPEN,
        {
            "state": (State.SUCCEEDED if succeeded else State.FAILED).value,
            "tavus_status": tavus_status,
            "error_message": error_message,
            "finished_at": utc_now(),
        },
    )


def note_tavus_status(db: sqlite_utils.Database, request_id: int, tavus_status: str) -> None:
    """Keep the latest raw in-progress status of an open request."""
    _update(db, request_id, IS_OPEN, {"tavus_status": tavus_status})


def record_callback(
    db: sqlite_utils.Database,
    request_id: int,
    *,
    replica_id: str | None,
    status: str | None,
    outcome: str,
    raw_body: str,
) -> None:
    db.table(CALLBACKS).insert(
        {
            "request_id": request_id,
            "received_at": utc_now(),
            "replica_id": replica_id,
            "status": status,
            "outcome": outcome,
            "raw_body": raw_body,
        }
    )


def callbacks_for(db: sqlite_utils.Database, request_id: int) -> list[dict[str, Any]]:
    return list(db.table(CALLBACKS).rows_where("request_id = ?", [request_id], order_by="id"))
