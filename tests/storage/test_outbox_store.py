from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlite_utils

from domain.request import Mode, ReplicaRequest, SlackOrigin
from storage import outbox
from storage import replicas as store
from storage.database import open_database
from storage.outbox import Target


def soon() -> datetime:
    """A moment just after anything a test enqueues."""
    return datetime.now(UTC) + timedelta(seconds=1)


MESSAGE = {"text": "hi", "blocks": []}
IN_C1 = Target("C1", "1.0", "1:outcome", "1699999970.000000")


@pytest.fixture
def db() -> Iterator[sqlite_utils.Database]:
    database = open_database(":memory:")
    yield database
    database.close()


def new_request(db: sqlite_utils.Database, view_id: str, requester: str = "U1") -> int:
    request = ReplicaRequest(replica_name="x", mode=Mode.VIDEO, train_video_url="https://a/b")
    request_id = store.insert_request(
        db,
        view_id=view_id,
        request=request,
        origin=SlackOrigin(requester, "C1"),
        callback_token_hash=view_id,
    )
    assert request_id is not None
    return request_id


def test_status_asks_coalesce_until_delivered(db: sqlite_utils.Database) -> None:
    request_id = new_request(db, "V1")
    outbox.enqueue_status(db, request_id)
    outbox.enqueue_status(db, request_id)
    [row], _ = outbox.due(db, soon(), frozenset())
    assert row.kind == "status" and row.version == 2
    outbox.claim(db, row.id, IN_C1)
    outbox.mark_sent(db, row, "C1", "1.1")
    assert outbox.due(db, soon(), frozenset()) == ([], None)
    outbox.enqueue_status(db, request_id)  # a later change re-opens it
    [again], _ = outbox.due(db, soon(), frozenset())
    assert again.id == row.id and again.version == 3


def test_a_status_asked_for_during_its_delivery_stays_pending(db: sqlite_utils.Database) -> None:
    request_id = new_request(db, "V1")
    outbox.enqueue_status(db, request_id)
    [row], _ = outbox.due(db, soon(), frozenset())
    outbox.claim(db, row.id, IN_C1)
    outbox.enqueue_status(db, request_id)  # the state changed while Slack was being called
    outbox.mark_sent(db, row, "C1", "1.1")
    [again], _ = outbox.due(db, soon(), frozenset())
    assert again.id == row.id and again.state == "pending"


def test_replies_are_sent_once_and_in_order_per_request(db: sqlite_utils.Database) -> None:
    first, second = new_request(db, "V1"), new_request(db, "V2")
    outbox.enqueue_status(db, first)
    outbox.enqueue_reply(db, first, "outcome", MESSAGE)
    outbox.enqueue_reply(db, first, "outcome", {"text": "again", "blocks": []})
    outbox.enqueue_reply(db, second, "outcome", MESSAGE)
    due, _ = outbox.due(db, soon(), frozenset())
    assert [(r.request_id, r.kind) for r in due] == [(first, "status"), (second, "reply")]
    assert outbox.due(db, soon(), frozenset({first}))[0] == [due[1]]  # busy requests are skipped
    assert len(outbox.rows_for(db, first)) == 2
    assert outbox.rows_for(db, first)[1]["payload"] == '{"text": "hi", "blocks": []}'


def test_retry_later_keeps_doubt_and_reports_when_it_is_due(db: sqlite_utils.Database) -> None:
    now = soon()
    request_id = new_request(db, "V1")
    outbox.enqueue_reply(db, request_id, "outcome", MESSAGE)
    [row], _ = outbox.due(db, now, frozenset())
    outbox.claim(db, row.id, IN_C1)
    at = now + timedelta(minutes=5)
    outbox.retry_later(db, row.id, at, "Slack answered 500", settled=False)
    assert outbox.due(db, now, frozenset()) == ([], at.isoformat(timespec="milliseconds"))
    [later], _ = outbox.due(db, at, frozenset())
    assert later.state == "sending" and later.attempts == 1
    assert later.target == IN_C1  # where to look before posting again
    outbox.mark_failed(db, row.id, "msg_too_long")
    assert outbox.unsent_count(db) == 0


def test_a_failed_look_keeps_the_doubt_only_an_answer_clears_it(db: sqlite_utils.Database) -> None:
    request_id = new_request(db, "V1")
    outbox.enqueue_reply(db, request_id, "outcome", MESSAGE)
    [row], _ = outbox.due(db, soon(), frozenset())
    outbox.claim(db, row.id, IN_C1)
    # The look was rate limited: nothing is settled, the doubt and its place stay.
    outbox.retry_later(db, row.id, soon(), "rate limited", settled=False)
    [kept], _ = outbox.due(db, soon() + timedelta(seconds=1), frozenset())
    assert (kept.state, kept.target, kept.attempts) == ("sending", IN_C1, 1)
    # The post itself was answered 429: Slack took nothing, so nothing is in doubt.
    outbox.retry_later(db, row.id, soon(), "rate limited", settled=True)
    [settled], _ = outbox.due(db, soon() + timedelta(seconds=1), frozenset())
    assert (settled.state, settled.target, settled.attempts) == ("pending", None, 2)


def test_sent_clears_the_attempt_and_a_new_claim_replaces_it(db: sqlite_utils.Database) -> None:
    request_id = new_request(db, "V1")
    outbox.enqueue_status(db, request_id)
    [row], _ = outbox.due(db, soon(), frozenset())
    assert row.target is None and row.state == "pending"
    outbox.claim(db, row.id, IN_C1)
    elsewhere = Target("C1", None, "1:status", "1700000000.000000")
    outbox.claim(db, row.id, elsewhere)  # e.g. after joining the channel
    [claimed], _ = outbox.due(db, soon(), frozenset())
    assert claimed.target == elsewhere
    outbox.mark_sent(db, claimed, "C1", "1.1")
    [stored] = outbox.rows_for(db, request_id)
    assert stored["state"] == "sent" and stored["target_channel_id"] is None


def test_moving_to_a_dm_then_the_notice(db: sqlite_utils.Database) -> None:
    request_id = new_request(db, "V1")
    outbox.enqueue_reply(db, request_id, "outcome", MESSAGE)
    [row], _ = outbox.due(db, soon(), frozenset())
    outbox.claim(db, row.id, IN_C1)
    outbox.move_to_dm(db, row.id, "C1")  # the channel refused it: nothing in doubt
    [moved], _ = outbox.due(db, soon(), frozenset())
    assert (moved.state, moved.target, moved.moved_from) == ("pending", None, "C1")
    assert moved.dm_channel_id is None and moved.notice_ts is None
    notice = Target("U1", None, "1:outcome:moved", "1700000000.000000")
    outbox.claim(db, row.id, notice)
    outbox.notice_posted(db, row.id, "D0001", "5.5")
    [noticed], _ = outbox.due(db, soon(), frozenset())
    assert (noticed.state, noticed.target) == ("pending", None)
    assert (noticed.moved_from, noticed.dm_channel_id, noticed.notice_ts) == ("C1", "D0001", "5.5")


def test_a_dm_id_is_known_only_for_its_own_requester(db: sqlite_utils.Database) -> None:
    first, other = new_request(db, "V1"), new_request(db, "V2", requester="U2")
    assert outbox.known_dm(db, "U1") is None
    outbox.enqueue_reply(db, first, "outcome", MESSAGE)
    outbox.enqueue_reply(db, other, "outcome", MESSAGE)
    rows, _ = outbox.due(db, soon(), frozenset())
    outbox.move_to_dm(db, rows[0].id, "C1")
    assert outbox.known_dm(db, "U1") is None  # moved, but no answer told the id yet
    outbox.notice_posted(db, rows[0].id, "D0001", "5.5")
    assert outbox.known_dm(db, "U1") == "D0001"
    assert outbox.known_dm(db, "U2") is None


def test_backlog_counts_what_is_owed_and_since_when(db: sqlite_utils.Database) -> None:
    assert outbox.backlog(db) == (0, None)
    first, second = new_request(db, "V1"), new_request(db, "V2")
    outbox.enqueue_status(db, first)
    outbox.enqueue_reply(db, second, "outcome", MESSAGE)
    rows, _ = outbox.due(db, soon(), frozenset())
    outbox.claim(db, rows[1].id, IN_C1)  # in doubt is still owed
    count, oldest = outbox.backlog(db)
    assert count == 2 and oldest == outbox.rows_for(db, first)[0]["created_at"]
    outbox.mark_sent(db, rows[0], "C1", "1.1")
    assert outbox.backlog(db) == (1, outbox.rows_for(db, second)[0]["created_at"])
    outbox.mark_failed(db, rows[1].id, "msg_too_long")
    assert outbox.backlog(db) == (0, None)


def test_a_reopened_status_is_owed_from_now(db: sqlite_utils.Database) -> None:
    request_id = new_request(db, "V1")
    outbox.enqueue_status(db, request_id)
    [row], _ = outbox.due(db, soon(), frozenset())
    outbox.retry_later(db, row.id, datetime.now(UTC), "Slack answered 500", settled=True)
    outbox.move_to_dm(db, row.id, "C1")
    outbox.notice_posted(db, row.id, "D0001", "5.5")
    db.execute("UPDATE outbox SET created_at = '2000-01-01T00:00:00.000+00:00'")
    outbox.mark_sent(db, row, "D0001", "6.6")
    outbox.enqueue_status(db, request_id)  # days later: the result
    [again], _ = outbox.due(db, soon(), frozenset())
    # Not 48 h overdue at once, nor stuck on the old DM route; the DM id stays known.
    assert again.created_at > "2001" and again.attempts == 0
    assert (again.moved_from, again.notice_ts, again.dm_channel_id) == (None, None, "D0001")
    outbox.enqueue_status(db, request_id)  # asked again while still owed: nothing resets
    [same], _ = outbox.due(db, soon(), frozenset())
    assert same.created_at == again.created_at and same.version == again.version + 1


def test_a_row_left_in_doubt_by_an_older_version_has_no_recorded_attempt(
    db: sqlite_utils.Database,
) -> None:
    request_id = new_request(db, "V1")
    outbox.enqueue_reply(db, request_id, "outcome", MESSAGE)
    db.execute("UPDATE outbox SET state = 'sending', attempts = 1")  # what the old claim did
    [row], _ = outbox.due(db, soon(), frozenset())
    assert row.state == "sending" and row.target is None
