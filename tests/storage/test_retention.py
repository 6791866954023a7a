"""Retention (RETENTION_DAYS): delivered outbox rows and the callback audit go once old, a
bounded batch at a time; owed rows, requests and the consent record stay; and messages still to
come (a root message's next edit, a Home, a DM) work as before."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
import sqlite_utils

from storage import outbox, retention
from storage import replicas as store
from storage.database import Storage
from storage.outbox import OUTBOX, Lane
from tests.conftest import Bot, eventually
from tests.handlers.test_home import open_home, published
from tests.handlers.test_replica_form import VIDEO
from tests.storage.test_outbox_store import IN_C1, MESSAGE, new_request, soon

DAYS = 90
CUTOFF = retention.cutoff(DAYS)
OLD = retention.cutoff(DAYS + 1)  # a day past the cutoff
RECENT = retention.cutoff(DAYS - 1)  # a day short of it


def deliver_all(db: sqlite_utils.Database, dm: str | None = None) -> None:
    """Mark every owed row sent, lane by lane, as the worker would (`dm`: the DM's id its
    answer told, for a DM lane)."""
    while True:
        rows, _ = outbox.due(db, soon(), frozenset())
        if not rows:
            return
        for row in rows:
            outbox.claim(db, row.id, IN_C1)
            known = dm if row.lane.kind == outbox.LaneKind.DM else None
            outbox.mark_sent(db, row, "C1", f"1.{row.id}", dm_channel_id=known)


def age(db: sqlite_utils.Database, stamp: str, where: str = "1", *params: object) -> None:
    """Make the matching rows done at `stamp`: sent then, or (failed) last attempted then."""
    db.execute(
        f"UPDATE {OUTBOX} SET sent_at = CASE WHEN state = 'sent' THEN ? ELSE sent_at END, "
        f"next_attempt_at = ?, created_at = ? WHERE {where}",
        [stamp, stamp, stamp, *params],
    )


def prune_all(db: sqlite_utils.Database, limit: int = 1000) -> tuple[int, int]:
    """Every batch of both done states, as `retention.prune` runs them: rows deleted, and
    how many batches it took."""
    deleted = batches = 0
    for state in outbox.DONE_AT:
        after: tuple[str, int] | None = None
        while True:
            went, after = outbox.prune_done(db, state, CUTOFF, after, limit=limit)
            deleted += went
            batches += 1
            if after is None:
                break
    return deleted, batches


def keys(db: sqlite_utils.Database) -> set[str]:
    return {row[0] for row in db.execute(f"SELECT key FROM {OUTBOX}").fetchall()}


def test_done_rows_older_than_the_cutoff_go_and_owed_rows_stay(db: sqlite_utils.Database) -> None:
    done, owed, failed, recent = (new_request(db, view) for view in ("V1", "V2", "V3", "V4"))
    outbox.announce(db, done, "outcome")
    outbox.enqueue_status(db, failed)
    outbox.enqueue_status(db, recent)
    deliver_all(db)
    outbox.mark_failed(db, outbox.rows_for(db, failed)[0]["id"], "msg_too_long")
    # Owed long ago and never delivered: a status pending, and a reply in doubt.
    outbox.enqueue_reply(db, owed, "outcome")
    outbox.enqueue_status(db, owed)
    [reply, _] = outbox.rows_for(db, owed)
    outbox.claim(db, reply["id"], IN_C1)
    age(db, OLD, "request_id != ?", recent)
    age(db, RECENT, "request_id = ?", recent)  # delivered yesterday: kept

    assert prune_all(db)[0] == 3
    assert keys(db) == {f"{owed}:status", f"{owed}:outcome", f"{recent}:status"}
    assert {row["state"] for row in outbox.rows_for(db, owed)} == {"pending", "sending"}


def test_failed_rows_go_by_when_they_were_last_attempted(db: sqlite_utils.Database) -> None:
    for view in ("V1", "V2"):
        request_id = new_request(db, view)
        outbox.enqueue_status(db, request_id)
        [row] = outbox.rows_for(db, request_id)
        outbox.mark_failed(db, row["id"], "channel_not_found")
    age(db, OLD, "request_id = ?", 1)
    age(db, RECENT, "request_id = ?", 2)

    assert prune_all(db)[0] == 1
    assert keys(db) == {"2:status"}


def test_batches_are_bounded_and_resume_where_the_last_one_stopped(
    db: sqlite_utils.Database,
) -> None:
    for index in range(25):
        outbox.enqueue_status(db, new_request(db, f"V{index}"))
    deliver_all(db)
    age(db, OLD)  # all done at the same moment: the id orders them within it
    first, after = outbox.prune_done(db, "sent", CUTOFF, limit=10)
    assert first == 10 and after is not None
    assert len(keys(db)) == 15

    deleted, batches = prune_all(db, limit=10)
    assert deleted == 15 and keys(db) == set()
    assert batches == 2 + 1  # sent: 10 + 5 (a short batch ends it); failed: one empty look


def test_the_newest_row_of_a_lane_that_knows_a_dm_is_kept(db: sqlite_utils.Database) -> None:
    for name in ("a", "b", "c"):
        outbox.enqueue_dm(db, "U7", name, MESSAGE)
    for user in ("U8", "U9"):
        outbox.enqueue_dm(db, user, "a", MESSAGE)
    deliver_all(db, dm="D7")
    age(db, OLD)

    deleted, _ = prune_all(db, limit=2)  # batches that look at kept rows still move on
    assert deleted == 2
    assert keys(db) == {"dm:U7:c", "dm:U8:a", "dm:U9:a"}
    assert outbox.known_dm(db, "U7") == "D7"  # later DMs to U7 can still be checked
    outbox.enqueue_dm(db, "U7", "d", MESSAGE)
    deliver_all(db, dm="D7")
    prune_all(db)  # once a newer row knows the DM, the old one may go
    assert {key for key in keys(db) if key.startswith("dm:U7")} == {"dm:U7:d"}


def test_a_home_row_pruned_is_written_again_and_due_at_once(db: sqlite_utils.Database) -> None:
    outbox.enqueue_home(db, "U1", throttle_seconds=0)
    deliver_all(db)
    age(db, OLD)
    prune_all(db)
    assert keys(db) == set()

    outbox.enqueue_home(db, "U1")  # a change to one of U1's replicas: throttled, 30 s
    [row], later = outbox.due(db, soon(), frozenset())
    assert row.lane == Lane("home", "U1") and later is None


def test_old_callbacks_go_oldest_first_in_batches(db: sqlite_utils.Database) -> None:
    request_id = new_request(db, "V1")
    for _ in range(5):
        store.record_callback(
            db, request_id, replica_id="r1", status="training", outcome="applied", raw_body="{}"
        )
    db.execute(
        "UPDATE tavus_callbacks SET received_at = ? WHERE id <= 3",
        [OLD],
    )
    db.execute("UPDATE tavus_callbacks SET received_at = ? WHERE id = 1", [retention.cutoff(400)])
    events = db.execute("SELECT count(*) FROM consent_events").fetchone()[0]

    assert store.prune_callbacks(db, CUTOFF, limit=2) == 2
    assert [c["id"] for c in store.callbacks_for(db, request_id)] == [3, 4, 5]
    assert store.prune_callbacks(db, CUTOFF, limit=2) == 1
    assert store.prune_callbacks(db, CUTOFF, limit=2) == 0
    assert [c["id"] for c in store.callbacks_for(db, request_id)] == [4, 5]
    # The request and its consent record are kept.
    assert store.get_request(db, request_id).id == request_id
    assert db.execute("SELECT count(*) FROM consent_events").fetchone()[0] == events


def test_every_look_of_a_prune_is_indexed(db: sqlite_utils.Database) -> None:
    plans: list[str] = []
    for state, column in outbox.DONE_AT.items():
        plan = db.execute(
            f"EXPLAIN QUERY PLAN SELECT id FROM {OUTBOX} WHERE state = ? AND {column} < ? "
            f"ORDER BY {column}, id LIMIT 10",
            [state, CUTOFF],
        ).fetchall()
        plans.extend(str(step[-1]) for step in plan)
    plan = db.execute(
        "EXPLAIN QUERY PLAN SELECT id FROM tavus_callbacks WHERE received_at < ? "
        "ORDER BY received_at LIMIT 10",
        [CUTOFF],
    ).fetchall()
    plans.extend(str(step[-1]) for step in plan)
    assert any("idx_outbox_state_sent_at" in step for step in plans)
    assert any("idx_outbox_state_next_attempt_at" in step for step in plans)
    assert any("idx_tavus_callbacks_received_at" in step for step in plans)
    assert not any(step.startswith("SCAN") or "TEMP B-TREE" in step for step in plans)


def seven_old_of_each(db: sqlite_utils.Database) -> None:
    """Seven delivered status messages and seven callbacks, all past the retention period."""
    for index in range(7):
        request_id = new_request(db, f"V{index}")
        outbox.enqueue_status(db, request_id)
        store.record_callback(
            db, request_id, replica_id=None, status="ready", outcome="applied", raw_body="{}"
        )
    deliver_all(db)
    age(db, OLD)
    db.execute("UPDATE tavus_callbacks SET received_at = ?", [OLD])


async def test_every_batch_is_followed_by_a_pause_as_long_as_it_took(storage: Storage) -> None:
    # The database thread is pruning at most half the time: a first prune of millions of rows
    # must leave callbacks and Slack's requests their answers meanwhile.
    await storage.run(seven_old_of_each)
    pauses: list[float] = []

    async def pause(seconds: float) -> None:
        pauses.append(seconds)

    pruned = await retention.prune(storage, DAYS, batch=3, pause=pause)

    assert pruned == retention.Pruned(outbox=7, callbacks=7)
    assert len(pauses) == 7  # outbox: 3, 3, 1, then none failed; callbacks: 3, 3, 1
    assert all(seconds > 0 for seconds in pauses)


async def test_prune_deletes_in_batches_and_says_how_many_went(
    storage: Storage, caplog: pytest.LogCaptureFixture
) -> None:
    await storage.run(seven_old_of_each)
    batches: list[int] = []
    real = outbox.prune_done

    def counted(
        db: sqlite_utils.Database,
        state: str,
        before: str,
        after: tuple[str, int] | None = None,
        *,
        limit: int = 1000,
    ) -> tuple[int, tuple[str, int] | None]:
        went, next_after = real(db, state, before, after, limit=limit)
        batches.append(went)
        return went, next_after

    with pytest.MonkeyPatch.context() as patch, caplog.at_level(logging.INFO):
        patch.setattr(outbox, "prune_done", counted)
        pruned = await retention.prune(storage, DAYS, batch=3)

    assert pruned == retention.Pruned(outbox=7, callbacks=7)
    assert batches == [3, 3, 1, 0]  # sent, then failed
    assert "deleted 7 delivered outbox row(s) and 7 callback(s) older than 90 days" in caplog.text
    assert (
        await storage.run(lambda db: db.execute(f"SELECT count(*) FROM {OUTBOX}").fetchone()[0])
        == 0
    )
    assert await retention.prune(storage, DAYS) == retention.Pruned(outbox=0, callbacks=0)


def test_the_cutoff_is_written_as_the_rows_are() -> None:
    now = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    assert retention.cutoff(90, now) == (now - timedelta(days=90)).isoformat(
        timespec="milliseconds"
    )
    assert retention.cutoff(1, now) < store.utc_now()


# -- end to end: what is still to come after a prune ------------------------------------------


async def age_and_prune(bot: Bot) -> None:
    storage = bot.services.storage
    await storage.run(age, OLD)
    await storage.run(lambda db: db.execute("UPDATE tavus_callbacks SET received_at = ?", [OLD]))
    pruned = await retention.prune(storage, DAYS)
    assert pruned.outbox > 0


async def test_after_a_prune_the_next_change_edits_the_same_root_message(bot: Bot) -> None:
    view_id, view = await bot.open_form()
    await bot.submit(view_id, view, VIDEO)
    await bot.settle()
    token = bot.callback_token()
    [root] = [m for m in bot.slack.messages_in("C1") if m.thread_ts is None]
    edits = len(root.updates)
    await age_and_prune(bot)
    assert await bot.services.storage.run(outbox.rows_for, 1) == []
    posts = len(bot.slack.calls_to("chat.postMessage"))

    bot.tavus.set_status("r0001", "completed")
    await bot.tavus_callback(token, {"replica_id": "r0001", "status": "ready"})
    await eventually(lambda: [m for m in bot.slack.messages if "is ready" in m.text])
    await bot.settle()

    # The root message was edited, not posted again; the one new post is the reply under it.
    assert [m for m in bot.slack.messages_in("C1") if m.thread_ts is None] == [root]
    assert len(root.updates) > edits
    assert root.blocks[0]["text"]["text"].startswith(":white_check_mark:")
    assert len(bot.slack.calls_to("chat.postMessage")) == posts + 1
    [reply] = [m for m in bot.slack.messages if "is ready" in m.text]
    assert reply.thread_ts == root.ts
    rows = await bot.services.storage.run(outbox.rows_for, 1)
    assert {row["key"]: row["state"] for row in rows} == {"1:status": "sent", "1:outcome": "sent"}


async def test_after_a_prune_a_home_is_published_again_on_the_next_change(bot: Bot) -> None:
    view_id, view = await bot.open_form()
    await bot.submit(view_id, view, VIDEO)
    await bot.settle()
    token = bot.callback_token()
    await open_home(bot, "U1")
    await published(bot, "U1")
    publishes = bot.slack.home_publishes("U1")
    await age_and_prune(bot)
    assert "home:U1" not in await bot.services.storage.run(keys)

    bot.tavus.set_status("r0001", "completed")
    await bot.tavus_callback(token, {"replica_id": "r0001", "status": "ready"})
    await published(bot, "U1", publishes + 1)
    assert "home:U1" in await bot.services.storage.run(keys)
    await open_home(bot, "U1")  # and opening it still publishes it at once
    await published(bot, "U1", publishes + 2)
