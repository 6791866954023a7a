"""storage.consent, and the consent record storage.replicas keeps with every request, against
a real SQLite: append-only (the database refuses UPDATE and DELETE), written in the transaction
of the change it records, and read back in order."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
import sqlite_utils

from domain.consent import (
    ATTESTATION_ME_PHOTO,
    ATTESTATION_ME_VIDEO,
    ATTESTATION_OUTSIDE,
    IMAGE_RIGHTS_STATEMENT,
    STATEMENT_VERSION,
    ConsentEvent,
    ConsentEventKind,
    consent_sentence,
)
from domain.request import Mode, ReplicaRequest, SlackOrigin
from domain.states import State
from domain.subject import Subject, SubjectKind
from domain.training import TrainingResult
from storage import consent
from storage import replicas as store
from storage.database import open_database
from storage.migrations import migrations

VIDEO = ReplicaRequest(
    replica_name="Jane Doe",
    mode=Mode.VIDEO,
    model_name="phoenix-3",
    train_video_url="https://media.example/jane.mp4",
    subject=Subject(SubjectKind.ME, "U1", "Jane Doe"),
    intended_use="Sales demos",
    statement=consent_sentence("Jane Doe"),
    attestation=ATTESTATION_ME_VIDEO,
)
ORIGIN = SlackOrigin(
    requester_id="U1", channel_id="C1", team_id="T1", thread_ts="1700.0001", enterprise_id="E1"
)
Kind = ConsentEventKind


def insert(
    db: sqlite_utils.Database,
    *,
    view_id: str = "V1",
    request: ReplicaRequest = VIDEO,
) -> int:
    request_id = store.insert_request(
        db,
        view_id=view_id,
        request=request,
        origin=ORIGIN,
        callback_token_hash=f"hash-{view_id}",
    )
    assert request_id is not None
    return request_id


def event(request_id: int, at: str, kind: Kind = Kind.SUBMITTED, **details: str) -> ConsentEvent:
    return ConsentEvent(request_id, kind, at, dict(details), actor_id="U1")


def kinds(db: sqlite_utils.Database, request_id: int) -> list[Kind]:
    return [e.kind for e in consent.events_for(db, request_id)]


def changes(db: sqlite_utils.Database, request_id: int) -> list[tuple[str, str]]:
    return [
        (e.details["from"], e.details["to"])
        for e in consent.events_for(db, request_id)
        if e.kind is Kind.STATE_CHANGED
    ]


# -- append-only -------------------------------------------------------------------------------


def test_events_come_back_as_written_in_order(db: sqlite_utils.Database) -> None:
    first = event(7, "2026-01-01T00:00:00.000+00:00", note="é ✓", nested="x")
    second = ConsentEvent(7, Kind.POSTED, "2026-01-01T00:00:01.000+00:00", {"n": [1, None]})
    consent.append(db, first)
    consent.append(db, event(8, "2026-01-01T00:00:00.500+00:00"))
    consent.append(db, second)
    assert consent.events_for(db, 7) == [first, second]
    assert consent.events_for(db, 9) == []


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE consent_events SET details = '{}'",
        "UPDATE consent_events SET actor_id = 'U2' WHERE id = 1",
        "DELETE FROM consent_events",
        "DELETE FROM consent_events WHERE id = 1",
        "INSERT OR REPLACE INTO consent_events (id, request_id, kind, at, details) "
        "VALUES (1, 1, 'deleted', 'now', '{}')",
    ],
)
def test_the_database_refuses_to_change_or_remove_an_event(
    db: sqlite_utils.Database, statement: str
) -> None:
    request_id = insert(db)
    before = consent.events_for(db, request_id)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute(statement)
    assert consent.events_for(db, request_id) == before


def test_a_plain_connection_is_refused_too(tmp_path: Path) -> None:
    """Without sqlite-utils' recursive_triggers (a sqlite3 shell, another tool): even
    INSERT OR REPLACE, which deletes without firing DELETE triggers there, cannot overwrite."""
    path = tmp_path / "bot.db"
    db = open_database(path)
    request_id = insert(db)
    before = consent.events_for(db, request_id)
    db.close()
    plain = sqlite3.connect(path)
    try:
        assert plain.execute("PRAGMA recursive_triggers").fetchone()[0] == 0
        for statement in [
            "UPDATE consent_events SET details = '{}'",
            "DELETE FROM consent_events",
            "INSERT OR REPLACE INTO consent_events (id, request_id, kind, at, details) "
            "VALUES (1, 1, 'deleted', 'now', '{}')",
            "REPLACE INTO consent_events (id, request_id, kind, at, details) "
            "VALUES (1, 1, 'deleted', 'now', '{}')",
        ]:
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                plain.execute(statement)
        plain.execute(
            "INSERT INTO consent_events (request_id, kind, at, details) "
            "VALUES (1, 'posted', 'now', '{}')"
        )  # appending still works
        plain.commit()
    finally:
        plain.close()
    db = open_database(path)
    try:
        assert consent.events_for(db, request_id)[:1] == before
        assert kinds(db, request_id) == [Kind.SUBMITTED, Kind.POSTED]
    finally:
        db.close()


def test_the_table_api_is_refused_too(db: sqlite_utils.Database) -> None:
    request_id = insert(db)
    before = consent.events_for(db, request_id)
    table = db.table("consent_events")
    with pytest.raises(sqlite3.IntegrityError):
        table.update(1, {"kind": "deleted"})
    with pytest.raises(sqlite3.IntegrityError):
        table.delete(1)
    with pytest.raises(sqlite3.IntegrityError):
        table.delete_where()
    assert consent.events_for(db, request_id) == before


def test_append_once_keeps_the_first_of_a_kind(db: sqlite_utils.Database) -> None:
    first = ConsentEvent(1, Kind.POSTED, "2026-01-01T00:00:00.000+00:00", {"permalink": "a"})
    again = ConsentEvent(1, Kind.POSTED, "2026-01-01T00:00:09.000+00:00", {"permalink": "b"})
    assert consent.append_once(db, first)
    assert not consent.append_once(db, again)
    assert consent.events_for(db, 1) == [first]
    assert consent.append_once(db, ConsentEvent(2, Kind.POSTED, "x", {"permalink": "c"}))


def test_a_deletion_is_recorded_with_who_and_how(db: sqlite_utils.Database) -> None:
    request_id = insert(db)
    consent.record_deletion(db, request_id, by="UADMIN", hard=False)
    consent.record_deletion(db, request_id, by="U1", hard=True, at="2026-05-01T00:00:00.000+00:00")
    soft, hard = consent.events_for(db, request_id)[-2:]
    assert (soft.kind, soft.actor_id, soft.details) == (
        Kind.DELETED,
        "UADMIN",
        {"by": "UADMIN", "hard": False},
    )
    assert soft.at.endswith("+00:00")
    assert (hard.actor_id, hard.at, hard.details["hard"]) == (
        "U1",
        "2026-05-01T00:00:00.000+00:00",
        True,
    )


# -- the record of a request, written by storage.replicas --------------------------------------


def test_submission_opens_the_record_with_what_the_form_showed(db: sqlite_utils.Database) -> None:
    request_id = insert(db)
    [submitted] = consent.events_for(db, request_id)
    row = db.table("replica_requests").get(request_id)
    assert (submitted.kind, submitted.actor_id, submitted.at) == (
        Kind.SUBMITTED,
        "U1",
        row["created_at"],
    )
    assert submitted.details == {
        "requester_id": "U1",
        "subject": {"kind": "me", "user_id": "U1", "name": "Jane Doe"},
        "intended_use": "Sales demos",
        "how": {
            "method": "attestation",
            "text": ATTESTATION_ME_VIDEO,
            "by": "U1",
            "at": row["created_at"],
        },
        "statement": {"text": consent_sentence("Jane Doe"), "version": STATEMENT_VERSION},
        "media": {"url": "https://media.example/jane.mp4"},
        "mode": "video",
        "model": "phoenix-3",
        "replica_name": "Jane Doe",
        "workspace": {"team_id": "T1", "enterprise_id": "E1"},
        "channel_id": "C1",
        "state": "submitting",
    }
    assert "I, Jane Doe, am currently speaking" in submitted.details["statement"]["text"]


def test_a_member_on_camera_is_asked_first_and_the_record_says_so(
    db: sqlite_utils.Database,
) -> None:
    member = replace(VIDEO, subject=Subject(SubjectKind.MEMBER, "U2", "Sam Roe"), attestation=None)
    request_id = insert(db, request=member)
    [submitted] = consent.events_for(db, request_id)
    assert submitted.details["how"] == {"method": "approval", "approvers": ["U2"]}
    assert submitted.details["subject"] == {"kind": "member", "user_id": "U2", "name": "Sam Roe"}
    assert submitted.details["state"] == "awaiting_consent"
    record = store.get_request(db, request_id)
    assert (record.state, record.approvers, record.awaiting) == (
        State.AWAITING_CONSENT,
        ("U2",),
        ("U2",),
    )


def test_someone_outside_slack_is_recorded_with_the_attestation_and_reference(
    db: sqlite_utils.Database,
) -> None:
    outside = replace(
        VIDEO,
        subject=Subject(SubjectKind.OUTSIDE, None, "Ana Lima"),
        statement=consent_sentence("Ana Lima"),
        attestation=ATTESTATION_OUTSIDE,
        consent_reference="https://docs.example/release.pdf?sig=secret",
    )
    [submitted] = consent.events_for(db, insert(db, request=outside))
    how = submitted.details["how"]
    assert (how["method"], how["text"], how["by"]) == ("attestation", ATTESTATION_OUTSIDE, "U1")
    assert how["reference"].startswith("https://docs.example/release.pdf (query removed")
    assert "I, Ana Lima, am currently speaking" in submitted.details["statement"]["text"]
    assert store.get_request(db, 1).state is State.SUBMITTING


@pytest.mark.parametrize(
    ("replica", "media", "attestation"),
    [
        (
            ReplicaRequest(
                replica_name="Jane",
                mode=Mode.IMAGE,
                train_image_url="https://m.example/j.png",
                statement=IMAGE_RIGHTS_STATEMENT,
                attestation=ATTESTATION_ME_PHOTO,
            ),
            {"url": "https://m.example/j.png"},
            ATTESTATION_ME_PHOTO,
        ),
        (
            ReplicaRequest(
                replica_name="Jane",
                mode=Mode.VIDEO,
                train_video_url="https://m.example/j.mp4",
                consent_video_url="https://m.example/consent.mp4",
                attestation=ATTESTATION_ME_VIDEO,
            ),
            {
                "url": "https://m.example/j.mp4",
                "consent_video_url": "https://m.example/consent.mp4",
            },
            ATTESTATION_ME_VIDEO,
        ),
    ],
    ids=["photo", "separate consent video"],
)
def test_what_a_request_relies_on_is_recorded_as_shown(
    db: sqlite_utils.Database, replica: ReplicaRequest, media: dict[str, str], attestation: str
) -> None:
    [submitted] = consent.events_for(db, insert(db, request=replica))
    assert submitted.details["statement"] == {
        "text": replica.statement,
        "version": STATEMENT_VERSION,
    }
    assert submitted.details["media"] == media
    assert submitted.details["how"]["text"] == attestation


def test_a_slack_file_is_recorded_by_id_and_its_bytes_once_relayed(
    db: sqlite_utils.Database,
) -> None:
    shared = ReplicaRequest(
        replica_name="Jane", mode=Mode.VIDEO, slack_file_id="F1", slack_file_name="jane.mp4"
    )
    request_id = insert(db, request=shared)
    [submitted] = consent.events_for(db, request_id)
    assert submitted.details["media"] == {
        "slack_file_id": "F1",
        "file_name": "jane.mp4",
        "file_owner": None,
    }

    relayed = shared.with_media_url("https://bot.example/media/secret/jane.mp4")
    store.set_media_url(db, request_id, relayed, file_name="jane.mp4", size=5, sha256="ab" * 32)

    assert store.get_request(db, request_id).request.train_video_url == relayed.train_video_url
    last = consent.events_for(db, request_id)[-1]
    assert (last.kind, last.details) == (
        Kind.MEDIA_RELAYED,
        {"slack_file_id": "F1", "file_name": "jane.mp4", "size": 5, "sha256": "ab" * 32},
    )
    assert "secret" not in str(last.details)  # the copy's URL is a secret: not recorded


def test_a_repeated_submission_records_nothing_more(db: sqlite_utils.Database) -> None:
    request_id = insert(db)
    again = store.insert_request(
        db, view_id="V1", request=VIDEO, origin=ORIGIN, callback_token_hash="other"
    )
    assert again is None
    assert kinds(db, request_id) == [Kind.SUBMITTED]


def test_every_state_change_is_recorded_with_what_tavus_said(db: sqlite_utils.Database) -> None:
    request_id = insert(db)
    assert store.mark_training(db, request_id, "r1", "started")
    store.note_tavus_status(
        db, request_id, TrainingResult(status="training", training_progress="5/100")
    )  # no change
    assert store.finish_training(
        db, request_id, TrainingResult(status="error", error_message="bad fps")
    )
    training, failed = consent.events_for(db, request_id)[1:]
    assert training.details == {
        "from": "submitting",
        "to": "training",
        "replica_id": "r1",
        "reason": None,
        "tavus_status": "started",
    }
    assert training.actor_id is None  # Tavus's doing, not a person's
    assert failed.details == {
        "from": "training",
        "to": "failed",
        "replica_id": "r1",
        "reason": "bad fps",
        "tavus_status": "error",
    }
    assert failed.at == db.table("replica_requests").get(request_id)["updated_at"]


Move = Callable[[sqlite_utils.Database, int], bool]


def _not_created(db: sqlite_utils.Database, request_id: int) -> bool:
    return store.mark_create_failed(db, request_id, State.NOT_CREATED, "Tavus said no")


def _uncertain(db: sqlite_utils.Database, request_id: int) -> bool:
    return store.mark_create_failed(db, request_id, State.UNCERTAIN, "no answer")


def _adopted(db: sqlite_utils.Database, request_id: int) -> bool:
    return store.adopt_replica(db, request_id, "r9", "training")


def _succeeded(db: sqlite_utils.Database, request_id: int) -> bool:
    return store.finish_training(db, request_id, TrainingResult(status="ready"))


@pytest.mark.parametrize(
    ("moves", "expected"),
    [
        ([_not_created], [("submitting", "not_created")]),
        ([_uncertain, _adopted], [("submitting", "uncertain"), ("uncertain", "training")]),
        ([_uncertain, _not_created], [("submitting", "uncertain"), ("uncertain", "not_created")]),
        ([_not_created, _adopted], [("submitting", "not_created"), ("not_created", "training")]),
        ([_succeeded], [("submitting", "succeeded")]),
    ],
    ids=["refused", "adopted", "given up", "adopted late", "result first"],
)
def test_each_transition_is_recorded(
    db: sqlite_utils.Database, moves: list[Move], expected: list[tuple[str, str]]
) -> None:
    request_id = insert(db)
    for move in moves:
        assert move(db, request_id)
    assert changes(db, request_id) == expected
    # The record agrees with the request.
    assert expected[-1][1] == store.get_request(db, request_id).state


def test_a_change_refused_by_its_guard_records_nothing(db: sqlite_utils.Database) -> None:
    request_id = insert(db)
    assert _succeeded(db, request_id)
    before = consent.events_for(db, request_id)
    assert not _succeeded(db, request_id)  # a repeated delivery
    assert not store.mark_training(db, request_id, "r2", "started")
    assert not _not_created(db, request_id)
    store.set_root_message(db, request_id, "C1", "1.1")  # no state in it
    store.note_tavus_status(db, request_id, TrainingResult(status="ready"))
    assert consent.events_for(db, request_id) == before


def test_a_change_rolled_back_takes_its_record_with_it(db: sqlite_utils.Database) -> None:
    request_id = insert(db)
    with pytest.raises(RuntimeError), db.atomic():
        assert store.mark_training(db, request_id, "r1", "started")
        raise RuntimeError("the outbox row could not be written")
    assert store.get_request(db, request_id).state is State.SUBMITTING
    assert kinds(db, request_id) == [Kind.SUBMITTED]


# -- events_since ------------------------------------------------------------------------------


def set_created_at(db: sqlite_utils.Database, request_id: int, created_at: str) -> None:
    db.execute("UPDATE replica_requests SET created_at = ? WHERE id = ?", [created_at, request_id])


@pytest.fixture
def three_requests(db: sqlite_utils.Database) -> list[int]:
    """Made on Jan 31 at 23:30, Feb 1 at 10:00 and Feb 2 (UTC), their events interleaved."""
    ids = [insert(db, view_id=f"V{n}") for n in range(3)]
    for request_id, created_at in zip(
        ids,
        [
            "2026-01-31T23:30:00.000+00:00",
            "2026-02-01T10:00:00.000+00:00",
            "2026-02-02T00:00:00.000+00:00",
        ],
        strict=True,
    ):
        set_created_at(db, request_id, created_at)
    # The oldest request changes last: its age, not its events' times, decides.
    for request_id in reversed(ids):
        assert store.mark_training(db, request_id, f"r{request_id}", "started")
    return ids


def selected(events: list[ConsentEvent]) -> list[tuple[int, Kind]]:
    return [(e.request_id, e.kind) for e in events]


def test_events_since_none_is_every_record_by_request_then_order(
    db: sqlite_utils.Database, three_requests: list[int]
) -> None:
    first, second, third = three_requests
    assert selected(consent.events_since(db, None)) == [
        (first, Kind.SUBMITTED),
        (first, Kind.STATE_CHANGED),
        (second, Kind.SUBMITTED),
        (second, Kind.STATE_CHANGED),
        (third, Kind.SUBMITTED),
        (third, Kind.STATE_CHANGED),
    ]


@pytest.mark.parametrize(
    ("since", "expected"),
    [
        ("2026-01-31", [0, 1, 2]),
        ("2026-02-01", [1, 2]),
        ("2026-02-01T10:00:00+00:00", [1, 2]),  # at or after: the same moment counts
        ("2026-02-01T10:00:00Z", [1, 2]),  # "Z" compared as a time, not as text
        ("2026-02-01T10:00:00.001+00:00", [2]),
        ("2026-02-01T11:00:00+01:00", [1, 2]),  # another offset: converted to UTC
        ("2026-02-01T10:00:00", [1, 2]),  # no offset: UTC
        ("2026-02-03", []),
    ],
)
def test_events_since_keeps_whole_records_of_requests_made_since(
    db: sqlite_utils.Database, three_requests: list[int], since: str, expected: list[int]
) -> None:
    events = consent.events_since(db, since)
    assert sorted({e.request_id for e in events}) == [three_requests[i] for i in expected]
    for request_id in {e.request_id for e in events}:
        assert [e for e in events if e.request_id == request_id] == consent.events_for(
            db, request_id
        )


@pytest.mark.parametrize("since", ["", "yesterday", "2026-13-01", "2026-02-01 at noon"])
def test_events_since_refuses_what_is_not_a_date(
    db: sqlite_utils.Database, three_requests: list[int], since: str
) -> None:
    with pytest.raises(ValueError):
        consent.events_since(db, since)


def test_a_record_whose_request_row_is_gone_is_as_old_as_its_first_event(
    db: sqlite_utils.Database,
) -> None:
    consent.append(db, event(41, "2026-03-01T00:00:00.000+00:00"))
    consent.append(db, event(41, "2026-03-05T00:00:00.000+00:00", Kind.DELETED))
    assert [e.request_id for e in consent.events_since(db, "2026-03-01")] == [41, 41]
    assert consent.events_since(db, "2026-03-02") == []


# -- migrations and restarts -------------------------------------------------------------------


def test_the_record_survives_closing_and_reopening_the_database(tmp_path: Path) -> None:
    path = tmp_path / "bot.db"
    db = open_database(path)
    request_id = insert(db)
    assert store.mark_training(db, request_id, "r1", "started")
    written = consent.events_for(db, request_id)
    db.close()
    reopened = open_database(path)
    try:
        assert consent.events_for(reopened, request_id) == written
        assert not list(migrations.pending(reopened))
    finally:
        reopened.close()


def test_an_older_database_gets_the_table_and_its_guards(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = sqlite_utils.Database(path)
    migrations.apply(old, stop_before="add_consent_events")
    assert "consent_events" not in old.table_names()
    old.close()
    db = open_database(path)  # the upgrade
    try:
        request_id = insert(db)
        assert kinds(db, request_id) == [Kind.SUBMITTED]
        assert ["request_id"] in [index.columns for index in db.table("consent_events").indexes]
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute("DELETE FROM consent_events")
    finally:
        db.close()


def test_an_event_this_version_cannot_read_is_skipped_not_fatal(db: sqlite_utils.Database) -> None:
    # A kind a newer version wrote, and details that are not JSON: the export goes on.
    db.execute(
        "INSERT INTO consent_events (request_id, kind, at, actor_id, details) "
        "VALUES (1, 'from_the_future', '2026-12-02T00:00:00.000+00:00', NULL, '{}')"
    )
    db.execute(
        "INSERT INTO consent_events (request_id, kind, at, actor_id, details) "
        "VALUES (1, 'posted', '2026-12-02T00:00:01.000+00:00', NULL, '{bad')"
    )
    assert consent.events_since(db, None) == []
    assert consent.events_for(db, 1) == []
