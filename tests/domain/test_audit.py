"""domain.audit: a request's consent record folded into one CSV row, safe for spreadsheets."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

import pytest

from domain import consent
from domain.audit import COLUMNS, audit_csv, audit_rows, day_start, parse_day, safe_cell
from domain.consent import ConsentEvent, ConsentEventKind
from domain.request import Mode, ReplicaRequest, SlackOrigin
from domain.states import State
from domain.subject import Subject, SubjectKind

K = ConsentEventKind
AT = "2026-03-01T10:00:00.000+00:00"


def submitted(request_id: int = 1, **changes: Any) -> ConsentEvent:
    details: dict[str, Any] = {
        "requester": "U1",
        "subject": {"kind": "self", "user_id": "U1"},
        "intended_use": "Sales videos",
        "how": {"method": "attestation", "text": "I consent", "by": "U1", "at": AT},
        "statement": {"text": "I, Jane Doe, am currently speaking…", "version": "1"},
        "media": {"url": "https://cdn.example.com/jane.mp4"},
        "mode": "video",
        "model": "phoenix-4",
        "replica_name": "Jane",
        "team_id": "T1",
        "enterprise_id": "E1",
        **changes,
    }
    return ConsentEvent(request_id, K.SUBMITTED, AT, details, actor_id="U1")


def changed(request_id: int, before: str, after: str, at: str, **more: Any) -> ConsentEvent:
    return ConsentEvent(request_id, K.STATE_CHANGED, at, {"from": before, "to": after, **more})


def parsed(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def test_a_whole_record_is_one_row_with_every_column() -> None:
    events = [
        submitted(1),
        ConsentEvent(1, K.POSTED, AT, {"permalink": "https://acme.slack.com/archives/C1/p1"}),
        changed(1, "submitting", "training", "2026-03-01T10:00:01.000+00:00", replica_id="r1"),
        changed(1, "training", "succeeded", "2026-03-01T14:00:00.000+00:00", reason=None),
        ConsentEvent(1, K.DELETED, "2026-04-01T09:00:00.000+00:00", {"hard": True}, "UADMIN"),
    ]
    [row] = audit_rows(events)
    assert list(row) == list(COLUMNS)
    assert row == {
        "request_id": "1",
        "submitted_at": AT,
        "requester_id": "U1",
        "team_id": "T1",
        "enterprise_id": "E1",
        "replica_name": "Jane",
        "mode": "video",
        "model": "phoenix-4",
        "subject_kind": "self",
        "subject": "U1",
        "intended_use": "Sales videos",
        "consent_method": "attestation",
        "consent_text": "I consent",
        "consent_by": "U1",
        "consent_at": AT,
        "consent_reference": "",
        "decisions": "",
        "statement": "I, Jane Doe, am currently speaking…",
        "statement_version": "1",
        "media_url": "https://cdn.example.com/jane.mp4",
        "consent_video_url": "",
        "slack_file_id": "",
        "file_name": "",
        "media_sha256": "",
        "status_permalink": "https://acme.slack.com/archives/C1/p1",
        "replica_id": "r1",
        "state": "succeeded",
        "state_history": (
            "submitting->training 2026-03-01T10:00:01.000+00:00; "
            "training->succeeded 2026-03-01T14:00:00.000+00:00"
        ),
        "withdrawn_at": "",
        "withdrawn_by": "",
        "deleted_at": "2026-04-01T09:00:00.000+00:00",
        "deleted_by": "UADMIN",
        "deletion": "hard",
    }


def test_a_shared_file_a_named_subject_and_an_approval() -> None:
    events = [
        submitted(
            2,
            subject={"kind": "other", "name": "John Roe"},
            how={"method": "approval", "text": "Approved by John", "by": "U2"},
            statement=None,
            media={"slack_file_id": "F1", "file_name": "john.mp4"},
        ),
        ConsentEvent(2, K.MEDIA_RELAYED, AT, {"sha256": "ab" * 32, "size": 10, "file_name": "x"}),
        ConsentEvent(2, K.DELETED, AT, {"hard": False}, "U2"),
    ]
    [row] = audit_rows(events)
    assert (row["subject_kind"], row["subject"]) == ("other", "John Roe")
    assert (row["consent_method"], row["consent_by"], row["consent_at"]) == ("approval", "U2", "")
    assert (row["statement"], row["statement_version"]) == ("", "")
    assert (row["slack_file_id"], row["file_name"], row["media_url"]) == ("F1", "john.mp4", "")
    assert row["media_sha256"] == "ab" * 32
    assert (row["deletion"], row["deleted_by"]) == ("soft", "U2")


def test_the_records_own_events_fill_their_columns() -> None:
    # The shapes domain/consent.py writes (its builders), not hand-made ones: if the record
    # changes a key, this fails until the export reads the new one.
    origin = SlackOrigin(requester_id="U1", channel_id="C1", team_id="T1", enterprise_id="E1")
    request = ReplicaRequest(
        replica_name="Jane",
        mode=Mode.VIDEO,
        model_name="phoenix-4",
        train_video_url="https://cdn.example.com/jane.mp4",
        slack_file_id="F1",
        slack_file_name="jane.mp4",
        slack_file_owner="U1",
        subject=Subject(SubjectKind.ME, "U1", "Jane Doe"),
        intended_use="Sales demos",
        statement=consent.consent_sentence("Jane Doe"),
        attestation=consent.ATTESTATION_ME_VIDEO,
        consent_reference="https://docs.example/release",
    )
    events = [
        consent.submitted(7, AT, request, origin),
        consent.media_relayed(
            7, "t1", slack_file_id="F1", file_name="jane.mp4", size=3, sha256="cd" * 32
        ),
        consent.posted(7, "t2", channel_id="C1", ts="1.2", permalink="https://acme/p12"),
        consent.state_changed(
            7,
            "t3",
            from_state=State.SUBMITTING,
            to_state=State.TRAINING,
            replica_id="r7",
            reason=None,
            tavus_status="started",
        ),
        consent.deleted(7, "t4", by="UADMIN", hard=False),
    ]
    [row] = audit_rows(events)
    assert {column: value for column, value in row.items() if value} == {
        "request_id": "7",
        "submitted_at": AT,
        "requester_id": "U1",
        "team_id": "T1",
        "enterprise_id": "E1",
        "replica_name": "Jane",
        "mode": "video",
        "model": "phoenix-4",
        "subject_kind": "me",
        "subject": "U1",
        "intended_use": "Sales demos",
        "consent_method": "attestation",
        "consent_text": consent.ATTESTATION_ME_VIDEO,
        "consent_by": "U1",
        "consent_at": AT,
        "consent_reference": "https://docs.example/release",
        "statement": consent.consent_sentence("Jane Doe"),
        "statement_version": consent.STATEMENT_VERSION,
        "slack_file_id": "F1",
        "file_name": "jane.mp4",
        "media_sha256": "cd" * 32,
        "status_permalink": "https://acme/p12",
        "replica_id": "r7",
        "state": "training",
        "state_history": "submitting->training t3",
        "deleted_at": "t4",
        "deleted_by": "UADMIN",
        "deletion": "soft",
    }


def test_a_separate_consent_video_is_exported_and_no_statement_is_claimed() -> None:
    origin = SlackOrigin(requester_id="U1", channel_id="C1")
    request = ReplicaRequest(
        replica_name="Jane",
        mode=Mode.VIDEO,
        train_video_url="https://cdn.example.com/jane.mp4",
        consent_video_url="https://cdn.example.com/consent.mp4",
    )
    [row] = audit_rows([consent.submitted(1, AT, request, origin)])
    assert row["consent_video_url"] == "https://cdn.example.com/consent.mp4"
    assert (row["statement"], row["state"], row["team_id"]) == ("", "submitting", "")


def test_one_row_per_request_in_request_order() -> None:
    events = [submitted(3), submitted(1), changed(3, "submitting", "not_created", AT)]
    rows = audit_rows(events)
    assert [row["request_id"] for row in rows] == ["1", "3"]
    assert rows[1]["state"] == "not_created"


def test_a_request_with_no_state_change_is_submitting() -> None:
    [row] = audit_rows([submitted(1)])
    assert (row["state"], row["state_history"], row["replica_id"]) == ("submitting", "", "")


def test_the_latest_state_counts_and_a_known_replica_id_is_kept() -> None:
    events = [
        submitted(1),
        changed(1, "submitting", "training", "t1", replica_id="r1"),
        changed(1, "training", "failed", "t2", replica_id=None, reason="bad video"),
    ]
    [row] = audit_rows(events)
    assert (row["state"], row["replica_id"]) == ("failed", "r1")
    assert row["state_history"] == "submitting->training t1; training->failed t2"


def test_missing_and_odd_details_leave_cells_empty_and_never_fail() -> None:
    events = [
        ConsentEvent(5, K.SUBMITTED, AT, {"subject": "U1", "how": None, "media": ["x"]}, "U9"),
        ConsentEvent(5, K.POSTED, AT, {}),
        ConsentEvent(6, K.STATE_CHANGED, AT, {"to": "training", "replica_id": 42}),
    ]
    first, second = audit_rows(events)
    assert first["requester_id"] == "U9"  # no "requester": whoever submitted
    assert first["subject"] == first["consent_method"] == first["media_url"] == ""
    assert first["status_permalink"] == ""
    # A record whose submission is missing still exports what it has.
    assert (second["submitted_at"], second["state"], second["replica_id"]) == ("", "training", "42")
    assert second["state_history"] == f"->training {AT}"


def test_no_events_is_just_the_header() -> None:
    assert audit_rows([]) == []
    assert parsed(audit_csv([])) == [list(COLUMNS)]


def test_the_csv_has_a_header_and_one_line_per_request() -> None:
    text = audit_csv([submitted(1, intended_use="Line one\nline two, with a comma"), submitted(2)])
    assert text.startswith(",".join(COLUMNS) + "\r\n")
    lines = parsed(text)
    assert lines[0] == list(COLUMNS)
    assert [line[0] for line in lines[1:]] == ["1", "2"]
    assert lines[1][COLUMNS.index("intended_use")] == "Line one\nline two, with a comma"


@pytest.mark.parametrize(
    "value",
    [
        '=HYPERLINK("https://evil.example","click")',
        "+1+cmd|' /C calc'!A0",
        "-2+3",
        "@SUM(A1:A2)",
        "\t=1+1",
        "\r=1+1",
    ],
)
def test_a_cell_that_a_spreadsheet_would_run_is_written_as_text(value: str) -> None:
    events = [
        submitted(1, replica_name=value, intended_use=value),
        changed(1, "submitting", "failed", AT, replica_id=value),
    ]
    line = parsed(audit_csv(events))[1]
    for column in ("replica_name", "intended_use", "replica_id"):
        assert line[COLUMNS.index(column)] == "'" + value, column


@pytest.mark.parametrize("value", ["Jane", "", " =1", "a=b", "1-2", "'quoted", "https://x/@y"])
def test_harmless_cells_are_left_alone(value: str) -> None:
    assert safe_cell(value) == value


def test_parse_day_takes_only_yyyy_mm_dd() -> None:
    assert parse_day("2026-03-01") == date(2026, 3, 1)
    for bad in ("2026-3-1", "20260301", "2026-W09", "2026-02-30", "0000-01-01", "", " 2026-03-01"):
        with pytest.raises(ValueError):
            parse_day(bad)


def test_day_start_is_written_like_the_records_timestamps() -> None:
    assert day_start(date(2026, 3, 1)) == "2026-03-01T00:00:00.000+00:00"
    assert day_start(date(2026, 3, 1)) <= AT < day_start(date(2026, 3, 2))


def test_approvals_decisions_and_a_withdrawal_fill_their_columns() -> None:
    origin = SlackOrigin(requester_id="U1", channel_id="C1")
    request = ReplicaRequest(
        replica_name="Sam",
        mode=Mode.VIDEO,
        slack_file_id="F1",
        slack_file_name="sam.mp4",
        slack_file_owner="U3",
        subject=Subject(SubjectKind.MEMBER, "U2", "Sam Roe"),
        intended_use="Training videos",
        statement=consent.consent_sentence("Sam Roe"),
    )
    events = [
        consent.submitted(4, AT, request, origin),
        consent.decided(4, "t1", by="U2", approved=True, role="subject", statement="s"),
        consent.decided(4, "t2", by="U3", approved=True, role="file_owner", statement="s"),
        consent.deletion_asked(4, "t5", by="U2", revoked=True),
        consent.deletion_asked(4, "t6", by="UADMIN", revoked=False),
        consent.deleted(4, "t7", by="U2", hard=True),
    ]
    [row] = audit_rows(events)
    assert (row["subject_kind"], row["subject"]) == ("member", "U2")
    assert (row["consent_method"], row["consent_text"]) == ("approval", "")
    assert (row["consent_by"], row["consent_at"]) == ("U2; U3", "t2")
    assert row["decisions"] == "U2 approved t1; U3 approved t2"
    assert (row["withdrawn_at"], row["withdrawn_by"]) == ("t5", "U2 (revoked)")
    assert (row["deleted_at"], row["deletion"]) == ("t7", "hard")


def test_a_decline_and_an_expiry_are_decisions() -> None:
    origin = SlackOrigin(requester_id="U1", channel_id="C1")
    request = ReplicaRequest(
        replica_name="Sam", mode=Mode.IMAGE, subject=Subject(SubjectKind.MEMBER, "U2")
    )
    declined = [
        consent.submitted(1, AT, request, origin),
        consent.decided(1, "t1", by="U2", approved=False, role="subject", statement=None),
    ]
    lapsed = [
        consent.submitted(2, AT, request, origin),
        consent.expired(2, "t9", waiting_for=["U2"], days=7),
    ]
    first, second = audit_rows([*declined, *lapsed])
    assert (first["decisions"], first["consent_by"]) == ("U2 declined t1", "")
    assert second["decisions"] == "expired t9"
