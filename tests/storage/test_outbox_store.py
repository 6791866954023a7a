from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlite_utils

from domain.request import Mode, ReplicaRequest, SlackOrigin
from domain.states import State
from storage import outbox
from storage import replicas as store
from storage.database import open_database
from storage.migrations import migrations
from storage.outbox import Announced, Lane, Target


def soon() -> datetime:
    """A moment just after anything a test enqueues."""
    return datetime.now(UTC) + timedelta(seconds=1)


MESSAGE = {"text": "hi", "blocks": []}
IN_C1 = Target("C1", "1.0", "1:outcome", "1699999970.000000")


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
    outbox.enqueue_reply(db, first, "outcome")
    outbox.enqueue_reply(db, first, "outcome")
    outbox.enqueue_reply(db, second, "outcome")
    due, _ = outbox.due(db, soon(), frozenset())
    assert [(r.request_id, r.kind) for r in due] == [(first, "status"), (second, "outcome")]
    busy = frozenset({outbox.request_lane(first)})
    assert outbox.due(db, soon(), busy)[0] == [due[1]]  # busy lanes are skipped
    assert len(outbox.rows_for(db, first)) == 2


def test_due_gives_the_oldest_heads_up_to_a_limit_and_when_the_next_waiting_one_is_due(
    db: sqlite_utils.Database,
) -> None:
    now = soon()
    ids = [new_request(db, f"V{n}") for n in range(5)]
    for request_id in ids:
        outbox.enqueue_status(db, request_id)
        outbox.enqueue_reply(db, request_id, "outcome")  # behind its lane's head
    # The last lane's head waits 5 minutes; the busy first lane's head, 1 minute.
    *_, last = outbox.due(db, now, frozenset())[0]
    at = now + timedelta(minutes=5)
    outbox.retry_later(db, last.id, at, "Slack answered 500", settled=True)
    [first, *_] = outbox.due(db, now, frozenset())[0]
    outbox.retry_later(db, first.id, now + timedelta(minutes=1), "busy", settled=True)
    busy = frozenset({outbox.request_lane(ids[0])})

    rows, later = outbox.due(db, now, busy, limit=2)

    assert [(r.request_id, r.kind) for r in rows] == [(ids[1], "status"), (ids[2], "status")]
    assert later == at.isoformat(timespec="milliseconds")  # the busy lane's is not counted
    assert [r.request_id for r in outbox.due(db, now, frozenset(), limit=None)[0]] == ids[1:4]
    assert outbox.due(db, now, busy, limit=0) == ([], later)


def test_retry_later_keeps_doubt_and_reports_when_it_is_due(db: sqlite_utils.Database) -> None:
    now = soon()
    request_id = new_request(db, "V1")
    outbox.enqueue_reply(db, request_id, "outcome")
    [row], _ = outbox.due(db, now, frozenset())
    outbox.claim(db, row.id, IN_C1)
    at = now + timedelta(minutes=5)
    outbox.retry_later(db, row.id, at, "Slack answered 500", settled=False)
    assert outbox.due(db, now, frozenset()) == ([], at.isoformat(timespec="milliseconds"))
    [later], _ = outbox.due(db, at, frozenset())
    assert later.state == "sending" and later.attempts == 1
    assert later.target == IN_C1  # where to look before posting again
    outbox.mark_failed(db, row.id, "msg_too_long")
    assert outbox.backlog(db) == (0, None)


def test_a_failed_look_keeps_the_doubt_only_an_answer_clears_it(db: sqlite_utils.Database) -> None:
    request_id = new_request(db, "V1")
    outbox.enqueue_reply(db, request_id, "outcome")
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
    outbox.enqueue_reply(db, request_id, "outcome")
    [row], _ = outbox.due(db, soon(), frozenset())
    outbox.claim(db, row.id, IN_C1)
    outbox.move_to_dm(db, row.id, "C1")  # the channel refused it: nothing in doubt
    [moved], _ = outbox.due(db, soon(), frozenset())
    assert (moved.state, moved.target, moved.moved_from) == ("pending", None, "C1")
    assert moved.dm_channel_id is None and moved.notice_ts is None
    notice = Target("U1", None, "1:outcome:moved", "1700000000.000000")
    outbox.claim(db, row.id, notice)
    outbox.notice_posted(db, row, "D0001", "5.5")
    [noticed], _ = outbox.due(db, soon(), frozenset())
    assert (noticed.state, noticed.target) == ("pending", None)
    assert (noticed.moved_from, noticed.dm_channel_id, noticed.notice_ts) == ("C1", "D0001", "5.5")


def test_a_dm_id_is_known_only_for_its_own_requester(db: sqlite_utils.Database) -> None:
    first, other = new_request(db, "V1"), new_request(db, "V2", requester="U2")
    assert outbox.known_dm(db, "U1") is None
    outbox.enqueue_reply(db, first, "outcome")
    outbox.enqueue_reply(db, other, "outcome")
    rows, _ = outbox.due(db, soon(), frozenset())
    outbox.move_to_dm(db, rows[0].id, "C1")
    assert outbox.known_dm(db, "U1") is None  # moved, but no answer told the id yet
    outbox.notice_posted(db, rows[0], "D0001", "5.5")
    assert outbox.known_dm(db, "U1") == "D0001"
    assert outbox.known_dm(db, "U2") is None


def test_a_dm_id_is_read_by_its_key_whatever_the_outbox_holds(db: sqlite_utils.Database) -> None:
    outbox.enqueue_dm(db, "U7", "hello", {"text": "hi", "blocks": []})
    [row], _ = outbox.due(db, soon(), frozenset())
    outbox.mark_sent(db, row, "D0007", "1.1", dm_channel_id="D0007")
    assert outbox.known_dm(db, "U7") == "D0007"
    plan = db.execute(
        "EXPLAIN QUERY PLAN SELECT dm_channel_id FROM known_dms WHERE user_id = ?", ["U7"]
    ).fetchall()
    assert "USING INDEX" in str(plan) or "PRIMARY KEY" in str(plan)  # never a scan
    db.execute("DELETE FROM outbox")  # pruned: the DM is still known
    assert outbox.known_dm(db, "U7") == "D0007"


def test_backlog_counts_what_is_owed_and_since_when(db: sqlite_utils.Database) -> None:
    assert outbox.backlog(db) == (0, None)
    first, second = new_request(db, "V1"), new_request(db, "V2")
    outbox.enqueue_status(db, first)
    outbox.enqueue_reply(db, second, "outcome")
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
    outbox.notice_posted(db, row, "D0001", "5.5")
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
    outbox.enqueue_reply(db, request_id, "outcome")
    db.execute("UPDATE outbox SET state = 'sending', attempts = 1")  # what the old claim did
    [row], _ = outbox.due(db, soon(), frozenset())
    assert row.state == "sending" and row.target is None


# -- lanes ----------------------------------------------------------------------------------


def test_a_lane_is_written_and_read_back_as_kind_and_owner() -> None:
    assert str(outbox.request_lane(12)) == "request:12"
    assert str(outbox.dm_lane("U123")) == "dm:U123"
    assert Lane.parse("request:12") == outbox.request_lane(12)
    assert outbox.request_lane(12).request_id == 12
    assert outbox.dm_lane("U123").request_id is None
    # A kind a newer version wrote still reads back; it is about no request this one knows.
    home = Lane.parse("home:U123")
    assert (home.kind, home.owner, home.request_id) == ("home", "U123", None)


def test_each_lane_gives_its_first_unsent_row_and_busy_lanes_wait(
    db: sqlite_utils.Database,
) -> None:
    request_id = new_request(db, "V1")
    outbox.enqueue_status(db, request_id)
    outbox.enqueue_dm(db, "U2", "first", MESSAGE)
    outbox.enqueue_dm(db, "U2", "second", {"text": "then", "blocks": []})
    outbox.enqueue_dm(db, "U3", "first", MESSAGE)
    due, _ = outbox.due(db, soon(), frozenset())
    assert [(str(r.lane), r.key) for r in due] == [
        ("request:1", "1:status"),
        ("dm:U2", "dm:U2:first"),  # its second waits for it
        ("dm:U3", "dm:U3:first"),
    ]
    busy = frozenset({outbox.dm_lane("U2"), outbox.request_lane(request_id)})
    assert [r.key for r in outbox.due(db, soon(), busy)[0]] == ["dm:U3:first"]
    outbox.mark_sent(db, due[1], "DU2", "1.1")
    assert [r.key for r in outbox.due(db, soon(), busy - {outbox.dm_lane("U2")})[0]] == [
        "dm:U2:second",
        "dm:U3:first",
    ]


def test_a_dm_lane_row_carries_its_message_and_no_request(db: sqlite_utils.Database) -> None:
    outbox.enqueue_dm(db, "U2", "welcome", MESSAGE)
    outbox.enqueue_dm(db, "U2", "welcome", {"text": "again", "blocks": []})  # once per name
    [row], _ = outbox.due(db, soon(), frozenset())
    assert (row.request_id, row.kind, row.payload) == (None, outbox.MESSAGE, MESSAGE)
    assert row.announced() is None
    assert len(outbox.rows_in(db, outbox.dm_lane("U2"))) == 1
    assert outbox.backlog(db)[0] == 1  # owed like any other message


def test_a_request_lane_takes_no_ready_made_message(db: sqlite_utils.Database) -> None:
    request_id = new_request(db, "V1")
    with pytest.raises(ValueError, match="rendered"):
        outbox.enqueue_message(db, outbox.request_lane(request_id), "outcome", MESSAGE)
    assert outbox.rows_for(db, request_id) == []


def test_a_reply_keeps_the_state_it_announces_whatever_follows(
    db: sqlite_utils.Database,
) -> None:
    request_id = new_request(db, "V1")
    store.mark_create_failed(db, request_id, State.UNCERTAIN, "no answer came back")
    outbox.enqueue_reply(db, request_id, "uncertain")
    store.adopt_replica(db, request_id, "r1", "started")  # it moves on before delivery
    outbox.enqueue_reply(db, request_id, "adopted")
    [uncertain], _ = outbox.due(db, soon(), frozenset())
    assert uncertain.announced() == Announced(State.UNCERTAIN, "no answer came back")
    assert uncertain.payload is not None and "text" not in uncertain.payload  # not rendered
    outbox.mark_sent(db, uncertain, "C1", "1.1")
    [adopted], _ = outbox.due(db, soon(), frozenset())
    assert adopted.announced() == Announced(State.TRAINING, None)


def test_a_reply_about_no_request_is_refused(db: sqlite_utils.Database) -> None:
    with pytest.raises(LookupError):
        outbox.enqueue_reply(db, 99, "outcome")
    assert outbox.backlog(db) == (0, None)


def test_a_reply_that_lost_what_it_announces_fails_only_itself(db: sqlite_utils.Database) -> None:
    request_id = new_request(db, "V1")
    outbox.enqueue_reply(db, request_id, "outcome")
    db.execute("UPDATE outbox SET payload = NULL")
    [row], _ = outbox.due(db, soon(), frozenset())  # still read with the others
    with pytest.raises(ValueError):
        row.announced()


def test_a_dm_lane_learns_its_dm_id_when_it_is_sent(db: sqlite_utils.Database) -> None:
    outbox.enqueue_dm(db, "U2", "welcome", MESSAGE)
    assert outbox.known_dm(db, "U2") is None
    [row], _ = outbox.due(db, soon(), frozenset())
    outbox.mark_sent(db, row, "DU2", "1.1", dm_channel_id="DU2")
    assert outbox.known_dm(db, "U2") == "DU2"
    assert outbox.known_dm(db, "U1") is None
    # A request's sent row learns nothing by default.
    request_id = new_request(db, "V1")
    outbox.enqueue_status(db, request_id)
    [status], _ = outbox.due(db, soon(), frozenset())
    outbox.mark_sent(db, status, "C1", "2.2")
    assert outbox.known_dm(db, "U1") is None


def request_before_lanes(db: sqlite_utils.Database, view_id: str) -> int:
    """A request as the version before lanes wrote it, in SQL: today's insert_request also
    writes tables that came later (the consent record)."""
    cursor = db.execute(
        """INSERT INTO replica_requests (view_id, requester_id, channel_id, replica_name, mode,
           state, callback_token_hash, created_at) VALUES (?, 'U1', 'C1', 'x', 'video',
           'submitting', ?, '2000')""",
        [view_id, view_id],
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def test_the_lanes_migration_puts_older_rows_in_their_requests_lanes(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = sqlite_utils.Database(path)
    migrations.apply(old, stop_before="add_outbox_lanes")
    first, second = request_before_lanes(old, "V1"), request_before_lanes(old, "V2")
    payload = '{"text": "Written before lanes", "blocks": []}'
    for request_id, key, kind in [
        (first, f"{first}:status", "status"),
        (second, f"{second}:outcome", "reply"),
        (first, f"{first}:outcome", "reply"),
    ]:
        old.execute(
            """INSERT INTO outbox (request_id, key, kind, payload, state, attempts,
               next_attempt_at, created_at) VALUES (?, ?, ?, ?, 'pending', 0, '2000', '2000')""",
            [request_id, key, kind, None if kind == "status" else payload],
        )
    ids = [row["id"] for row in old.table("outbox").rows_where(order_by="id")]
    old.close()
    db = open_database(path)  # the upgrade
    try:
        rows = list(db.table("outbox").rows_where(order_by="id"))
        assert [row["id"] for row in rows] == ids  # ids, hence each lane's order, kept
        assert [row["lane"] for row in rows] == ["request:1", "request:2", "request:1"]
        assert ["lane"] in [index.columns for index in db.table("outbox").indexes]
        due, _ = outbox.due(db, soon(), frozenset())
        assert [(r.key, r.kind) for r in due] == [("1:status", "status"), ("2:outcome", "reply")]
        assert due[1].payload == {"text": "Written before lanes", "blocks": []}
        assert due[1].announced() is None  # carries its rendered message
        # Rows about no request fit now; a lane they must have.
        outbox.enqueue_dm(db, "U2", "welcome", MESSAGE)
        with pytest.raises(sqlite3.IntegrityError):
            db.execute(
                """INSERT INTO outbox (key, kind, state, attempts, next_attempt_at)
                   VALUES ('x', 'message', 'pending', 0, '2000')"""
            )
    finally:
        db.close()


def test_one_unreadable_payload_fails_only_its_own_row(db: sqlite_utils.Database) -> None:
    outbox.enqueue_dm(db, "U2", "broken", MESSAGE)
    outbox.enqueue_dm(db, "U3", "fine", MESSAGE)
    db.execute("UPDATE outbox SET payload = '{bad' WHERE key = 'dm:U2:broken'")
    due, _ = outbox.due(db, soon(), frozenset())  # reading every lane's head still works
    broken, fine = due
    assert broken.key == "dm:U2:broken" and broken.payload is None  # fails when delivered
    assert fine.payload == MESSAGE
