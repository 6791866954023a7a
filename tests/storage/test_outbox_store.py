from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlite_utils

from replicas.request import Mode, ReplicaRequest, SlackOrigin
from storage import outbox
from storage import replicas as store
from storage.database import open_database


def soon() -> datetime:
    """A moment just after anything a test enqueues."""
    return datetime.now(UTC) + timedelta(seconds=1)


MESSAGE = {"text": "hi", "blocks": []}


@pytest.fixture
def db() -> Iterator[sqlite_utils.Database]:
    database = open_database(":memory:")
    yield database
    database.close()


def new_request(db: sqlite_utils.Database, view_id: str) -> int:
    request = ReplicaRequest(replica_name="x", mode=Mode.VIDEO, train_video_url="https://a/b")
    request_id = store.insert_request(
        db,
        view_id=view_id,
        request=request,
        origin=SlackOrigin("U1", "C1"),
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
    outbox.claim(db, row.id)
    outbox.mark_sent(db, row, "C1", "1.1")
    assert outbox.due(db, soon(), frozenset()) == ([], None)
    outbox.enqueue_status(db, request_id)  # a later change re-opens it
    [again], _ = outbox.due(db, soon(), frozenset())
    assert again.id == row.id and again.version == 3


def test_a_status_asked_for_during_its_delivery_stays_pending(db: sqlite_utils.Database) -> None:
    request_id = new_request(db, "V1")
    outbox.enqueue_status(db, request_id)
    [row], _ = outbox.due(db, soon(), frozenset())
    outbox.claim(db, row.id)
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
    outbox.claim(db, row.id)
    at = now + timedelta(minutes=5)
    outbox.retry_later(db, row.id, at, "Slack answered 500", in_doubt=True)
    assert outbox.due(db, now, frozenset()) == ([], at.isoformat(timespec="milliseconds"))
    [later], _ = outbox.due(db, at, frozenset())
    assert later.state == "sending" and later.attempts == 1
    outbox.mark_failed(db, row.id, "msg_too_long")
    assert outbox.unsent_count(db) == 0
