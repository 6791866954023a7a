"""storage.replicas and storage.migrations against a real (in-memory or temporary) SQLite."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import sqlite_utils

from domain.record import ReplicaRecord
from domain.request import Mode, ReplicaRequest, SlackOrigin
from domain.states import State
from domain.training import TrainingResult
from storage import replicas as store
from storage.database import open_database
from storage.migrations import migrations

VIDEO = ReplicaRequest(
    replica_name="Jane Doe",
    mode=Mode.VIDEO,
    model_name="phoenix-3",
    train_video_url="https://media.example/jane.mp4",
    consent_video_url="https://media.example/consent.mp4",
    voice_name="anna",
)
IMAGE = ReplicaRequest(
    replica_name="Jane Photo",
    mode=Mode.IMAGE,
    train_image_url="https://media.example/jane.png",
    voice_name="julia",
    auto_fix_training_image=True,
)
ORIGIN = SlackOrigin(requester_id="U1", channel_id="C1", team_id="T1", thread_ts="1700.0001")


def insert(
    db: sqlite_utils.Database,
    *,
    view_id: str = "V1",
    request: ReplicaRequest = VIDEO,
    origin: SlackOrigin = ORIGIN,
    token_hash: str | None = None,
) -> int:
    request_id = store.insert_request(
        db,
        view_id=view_id,
        request=request,
        origin=origin,
        callback_token_hash=token_hash or f"hash-{view_id}",
    )
    assert request_id is not None
    return request_id


# -- schema and migrations ---------------------------------------------------------------------


def test_schema_is_created(db: sqlite_utils.Database) -> None:
    assert {"replica_requests", "tavus_callbacks"} <= set(db.table_names())
    assert not list(migrations.pending(db))


def test_file_database_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "bot.db"

    database = open_database(path)
    try:
        assert path.exists()
        assert database.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert database.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
    finally:
        database.close()


def test_migrations_are_idempotent_and_keep_data(tmp_path: Path) -> None:
    path = tmp_path / "bot.db"
    first = open_database(path)
    request_id = insert(first)
    applied = first.execute("SELECT count(*) FROM _sqlite_migrations").fetchone()[0]
    first.close()

    second = open_database(path)
    try:
        assert second.execute("SELECT count(*) FROM _sqlite_migrations").fetchone()[0] == applied
        assert applied == len(migrations.pending(sqlite_utils.Database(memory=True)))
        assert store.get_request(second, request_id).request == VIDEO
    finally:
        second.close()


def test_string_path_works(tmp_path: Path) -> None:
    database = open_database(str(tmp_path / "bot.db"))
    try:
        assert database.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        database.close()


def test_applying_migrations_again_is_a_no_op(db: sqlite_utils.Database) -> None:
    migrations.apply(db)
    migrations.apply(db)

    assert db.execute("SELECT count(*) FROM _sqlite_migrations").fetchone()[0] == len(
        migrations.pending(sqlite_utils.Database(memory=True))
    )


# -- insert and read ---------------------------------------------------------------------------


def test_insert_returns_an_id_and_records_submitting(db: sqlite_utils.Database) -> None:
    request_id = insert(db)

    record = store.get_request(db, request_id)
    assert isinstance(request_id, int)
    assert record.id == request_id
    assert record.state is State.SUBMITTING
    assert record.created_at
    assert record.replica_id is None
    assert record.finished_at is None


def test_repeated_view_id_returns_none(db: sqlite_utils.Database) -> None:
    insert(db, view_id="V1")

    again = store.insert_request(
        db, view_id="V1", request=IMAGE, origin=ORIGIN, callback_token_hash="another-hash"
    )

    assert again is None
    assert db.table("replica_requests").count == 1


def test_distinct_views_get_distinct_ids(db: sqlite_utils.Database) -> None:
    assert insert(db, view_id="V1") != insert(db, view_id="V2")


def test_repeated_token_hash_on_another_view_is_an_error(db: sqlite_utils.Database) -> None:
    insert(db, view_id="V1", token_hash="same")

    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
        insert(db, view_id="V2", token_hash="same")


@pytest.mark.parametrize(
    ("request_", "origin"),
    [
        (VIDEO, ORIGIN),
        (IMAGE, SlackOrigin(requester_id="U2", channel_id="D2")),
        (ReplicaRequest("Bare", Mode.VIDEO, train_video_url="https://x.example/a.mp4"), ORIGIN),
        (VIDEO, SlackOrigin(requester_id="U1", channel_id="C1", team_id="T1", enterprise_id="E1")),
    ],
    ids=["video-full", "image-no-team-thread", "video-minimal", "enterprise-grid"],
)
def test_records_round_trip_every_field(
    db: sqlite_utils.Database, request_: ReplicaRequest, origin: SlackOrigin
) -> None:
    request_id = insert(db, request=request_, origin=origin)

    record = store.get_request(db, request_id)

    assert record.request == request_
    assert record.origin == origin
    assert isinstance(record.request.mode, Mode)
    assert isinstance(record.state, State)
    assert isinstance(record.request.auto_fix_training_image, bool)


def test_token_hash_is_stored_not_a_token(db: sqlite_utils.Database) -> None:
    insert(db, token_hash="abc123hash")

    row = next(db.table("replica_requests").rows)
    assert row["callback_token_hash"] == "abc123hash"


def test_find_by_token_hash(db: sqlite_utils.Database) -> None:
    first = insert(db, view_id="V1", token_hash="h1")
    second = insert(db, view_id="V2", token_hash="h2", request=IMAGE)

    found = store.find_by_token_hash(db, "h2")

    assert isinstance(found, ReplicaRecord)
    assert found.id == second
    assert found.request == IMAGE
    other = store.find_by_token_hash(db, "h1")
    assert other is not None
    assert other.id == first
    assert store.find_by_token_hash(db, "nope") is None


def test_set_root_message(db: sqlite_utils.Database) -> None:
    request_id = insert(db)

    store.set_root_message(db, request_id, "C1", "1700000000.000200")

    record = store.get_request(db, request_id)
    assert (record.message_channel_id, record.message_ts) == ("C1", "1700000000.000200")


# -- state transitions -------------------------------------------------------------------------


def test_mark_training_from_submitting(db: sqlite_utils.Database) -> None:
    request_id = insert(db)

    assert store.mark_training(db, request_id, "r90bbd427f71", "started") is True

    record = store.get_request(db, request_id)
    assert record.state is State.TRAINING
    assert record.replica_id == "r90bbd427f71"
    assert record.tavus_status == "started"
    assert record.finished_at is None


def test_mark_training_only_from_submitting(db: sqlite_utils.Database) -> None:
    request_id = insert(db)
    store.mark_training(db, request_id, "r1", "started")

    assert store.mark_training(db, request_id, "r2", "started") is False
    assert store.get_request(db, request_id).replica_id == "r1"


def test_mark_training_after_an_early_result_keeps_the_result(db: sqlite_utils.Database) -> None:
    request_id = insert(db)
    assert store.finish_training(db, request_id, TrainingResult(status="ready"))

    assert store.mark_training(db, request_id, "r1", "started") is False
    assert store.get_request(db, request_id).state is State.SUCCEEDED


def test_mark_create_failed_not_created_is_finished(db: sqlite_utils.Database) -> None:
    request_id = insert(db)

    assert store.mark_create_failed(db, request_id, State.NOT_CREATED, "Invalid voice") is True

    record = store.get_request(db, request_id)
    assert record.state is State.NOT_CREATED
    assert record.error_message == "Invalid voice"
    assert record.finished_at is not None


def test_mark_create_failed_uncertain_stays_open(db: sqlite_utils.Database) -> None:
    request_id = insert(db)

    assert store.mark_create_failed(db, request_id, State.UNCERTAIN, "timed out") is True

    record = store.get_request(db, request_id)
    assert record.state is State.UNCERTAIN
    assert record.finished_at is None
    # A late result for an uncertain create is still recorded.
    assert store.finish_training(db, request_id, TrainingResult(status="ready"))


def test_mark_create_failed_only_from_submitting(db: sqlite_utils.Database) -> None:
    request_id = insert(db)
    store.mark_training(db, request_id, "r1", "started")

    assert store.mark_create_failed(db, request_id, State.NOT_CREATED, "late") is False
    assert store.get_request(db, request_id).state is State.TRAINING


def test_finish_training_once(db: sqlite_utils.Database) -> None:
    request_id = insert(db)
    store.mark_training(db, request_id, "r1", "started")

    assert store.finish_training(
        db, request_id, TrainingResult(status="error", error_message="too short")
    )
    assert not store.finish_training(db, request_id, TrainingResult(status="ready"))

    record = store.get_request(db, request_id)
    assert record.state is State.FAILED
    assert record.tavus_status == "error"
    assert record.error_message == "too short"
    assert record.finished_at is not None


def test_finish_training_success(db: sqlite_utils.Database) -> None:
    request_id = insert(db)
    store.mark_training(db, request_id, "r1", "started")

    assert store.finish_training(db, request_id, TrainingResult(status="completed"))

    record = store.get_request(db, request_id)
    assert (record.state, record.tavus_status, record.error_message) == (
        State.SUCCEEDED,
        "completed",
        None,
    )


def test_finish_training_after_not_created_changes_nothing(db: sqlite_utils.Database) -> None:
    request_id = insert(db)
    store.mark_create_failed(db, request_id, State.NOT_CREATED, "refused")

    assert not store.finish_training(db, request_id, TrainingResult(status="ready"))
    assert store.get_request(db, request_id).state is State.NOT_CREATED


def test_transitions_touch_only_their_request(db: sqlite_utils.Database) -> None:
    first = insert(db, view_id="V1")
    second = insert(db, view_id="V2")

    store.mark_training(db, first, "r1", "started")

    assert store.get_request(db, second).state is State.SUBMITTING


def test_transitions_of_a_missing_request_change_nothing(db: sqlite_utils.Database) -> None:
    assert store.mark_training(db, 999, "r1", "started") is False
    assert not store.finish_training(db, 999, TrainingResult(status="ready"))


def test_note_tavus_status_on_open_request(db: sqlite_utils.Database) -> None:
    request_id = insert(db)
    store.mark_training(db, request_id, "r1", "started")

    store.note_tavus_status(db, request_id, TrainingResult(status="training"))

    record = store.get_request(db, request_id)
    assert record.tavus_status == "training"
    assert record.state is State.TRAINING


def test_note_tavus_status_ignores_finished_request(db: sqlite_utils.Database) -> None:
    request_id = insert(db)
    store.mark_training(db, request_id, "r1", "started")
    store.finish_training(db, request_id, TrainingResult(status="ready"))

    store.note_tavus_status(db, request_id, TrainingResult(status="started"))

    assert store.get_request(db, request_id).tavus_status == "ready"


def test_updates_move_updated_at(db: sqlite_utils.Database) -> None:
    request_id = insert(db)
    db.execute("UPDATE replica_requests SET updated_at = '2000-01-01' WHERE id = ?", [request_id])

    store.mark_training(db, request_id, "r1", "started")

    row = db.table("replica_requests").get(request_id)
    assert row["updated_at"] > "2000-01-01"
    assert row["submitted_at"] is not None


# -- callbacks ---------------------------------------------------------------------------------


def test_record_callback_and_callbacks_for(db: sqlite_utils.Database) -> None:
    first = insert(db, view_id="V1")
    second = insert(db, view_id="V2")
    ready = json.dumps({"replica_id": "r1", "status": "ready"})

    store.record_callback(
        db, first, replica_id="r1", status="ready", outcome="succeeded", raw_body=ready
    )
    store.record_callback(
        db, first, replica_id=None, status=None, outcome="duplicate", raw_body="not json"
    )
    store.record_callback(db, second, replica_id="r2", status="error", outcome="x", raw_body="{}")

    callbacks = store.callbacks_for(db, first)

    assert [(c["replica_id"], c["status"], c["outcome"], c["raw_body"]) for c in callbacks] == [
        ("r1", "ready", "succeeded", ready),
        (None, None, "duplicate", "not json"),
    ]
    assert all(c["request_id"] == first and c["received_at"] for c in callbacks)
    assert callbacks[0]["id"] < callbacks[1]["id"]
    assert len(store.callbacks_for(db, second)) == 1
    assert store.callbacks_for(db, 999) == []


def test_utc_now_is_iso_with_milliseconds() -> None:
    now = store.utc_now()

    assert now.endswith("+00:00")
    assert len(now.split(".")[1]) == len("123+00:00")


def test_count_creates_since_counts_what_may_have_started_a_training(
    db: sqlite_utils.Database,
) -> None:
    since = store.utc_now()
    for view_id in ("V1", "V2", "V3"):
        insert(db, view_id=view_id)
    insert(db, view_id="V4", origin=SlackOrigin(requester_id="U2", channel_id="C1", team_id="T1"))
    store.mark_create_failed(db, 2, State.NOT_CREATED, "Invalid voice")  # V2 started nothing
    store.mark_create_failed(db, 3, State.UNCERTAIN, "timeout")  # V3 may have

    assert store.count_creates_since(db, "U1", since) == 2
    assert store.count_creates_since(db, "U1", since, other_than_view="V1") == 1
    assert store.count_creates_since(db, "U1", "2999-01-01T00:00:00.000+00:00") == 0
    assert store.count_creates_since(db, "U3", since) == 0
