"""Outbox lanes: rows of one lane go out in order, lanes independently (a request's lane and a
user's DM lane alike); replies are rendered when delivered, from the request as it is then;
and rows written before lanes existed are still delivered (the real bot between the fakes).

No production door writes to a DM lane yet: these tests deliver one end to end so that the
lane is ready for the first that does (a consent DM, an admin notice)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
import sqlite_utils

from blocks import Message
from domain.states import State
from replicas import outbox as outbox_module
from storage import outbox
from storage import replicas as store
from storage.migrations import migrations
from tests.conftest import Bot, BotFactory, eventually
from tests.fakes.fake_slack import FakeSlack
from tests.handlers.test_replica_form import VIDEO
from tests.replicas.test_outbox_delivery import training
from tests.replicas.test_outbox_doubt import carrying, delivered, posts_of


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outbox_module, "RETRY_BASE_SECONDS", 0.05)
    monkeypatch.setattr(outbox_module, "STORAGE_RETRY_BASE_SECONDS", 0.05)


async def send_dm(bot: Bot, user_id: str, name: str, text: str) -> None:
    message = Message(text=text).as_kwargs()
    await bot.services.storage.run(outbox.enqueue_dm, user_id, name, message)
    bot.services.outbox.wake()


async def dm_rows(bot: Bot, user_id: str) -> list[dict[str, object]]:
    return await bot.services.storage.run(outbox.rows_in, outbox.dm_lane(user_id))


async def settled_lane(bot: Bot, user_id: str, seconds: float = 10.0) -> list[dict[str, object]]:
    """The DM lane's rows once none is owed any more; then a little longer, time for a
    duplicate, were there going to be one."""
    deadline = time.monotonic() + seconds
    while True:
        rows = await dm_rows(bot, user_id)
        if rows and all(row["state"] in ("sent", "failed") for row in rows):
            await asyncio.sleep(0.2)
            return rows
        if time.monotonic() > deadline:
            raise AssertionError(f"still owed: {[(r['key'], r['state']) for r in rows]}")
        await asyncio.sleep(0.02)


async def uncertain_create(bot: Bot) -> None:
    """A request whose create Tavus made but answered 500: uncertain, never re-sent."""
    bot.tavus.answer_next_create(500, "oops", creates=True)
    view_id, view = await bot.open_form()
    await bot.submit(view_id, view, VIDEO)
    await eventually(lambda: bot.tavus.creates)


async def adopted_by_callback(bot: Bot) -> None:
    """Tavus's callback names the replica of the uncertain create: it is adopted."""
    response = await bot.tavus_callback(
        bot.callback_token(), {"replica_id": "r0001", "status": "started"}
    )
    assert response.status_code == 202

    async def training() -> bool:
        record = await bot.services.storage.run(store.get_request, 1)
        return record.state is State.TRAINING

    deadline = time.monotonic() + 5
    while not await training():
        assert time.monotonic() < deadline, "not adopted"
        await asyncio.sleep(0.02)


# -- order within a lane, independence across lanes ------------------------------------------


async def test_two_rows_of_one_lane_go_out_in_order(bot: Bot) -> None:
    held = bot.slack.hold("chat.postMessage", then_answer=True, only=carrying("dm:U2:first"))
    await send_dm(bot, "U2", "first", "First things first")
    await send_dm(bot, "U2", "second", "Then this")
    await eventually(lambda: held.waiting)
    await asyncio.sleep(0.3)  # the second is due, but waits for the first
    assert not posts_of(bot, "dm:U2:second")
    held.release()
    await settled_lane(bot, "U2")
    [first], [second] = posts_of(bot, "dm:U2:first"), posts_of(bot, "dm:U2:second")
    assert (first.channel, first.text) == ("DU2", "First things first")
    assert float(first.ts) < float(second.ts)
    # The first answer told the DM's id: the second went there, where a doubt can be checked.
    posted_to = [c.params["channel"] for c in bot.slack.calls_to("chat.postMessage")]
    assert posted_to[-1] == "DU2"


async def test_a_stuck_request_lane_holds_up_no_dm_lane(bot: Bot) -> None:
    token = await training(bot)
    bot.slack.down_channels.add("C1")  # request 1's result cannot go out
    bot.tavus.set_status("r0001", "completed")
    await bot.tavus_callback(token, {"replica_id": "r0001", "status": "ready"})
    await eventually(lambda: bot.slack.calls_to("chat.update")[1:])
    await send_dm(bot, "U2", "notice", "Meanwhile, this")
    await eventually(lambda: posts_of(bot, "dm:U2:notice"))
    assert not posts_of(bot, "1:outcome")
    bot.slack.down_channels.clear()
    await delivered(bot)
    assert len(posts_of(bot, "1:outcome")) == 1


async def test_a_stuck_dm_lane_holds_up_no_request_lane(bot: Bot) -> None:
    token = await training(bot)
    held = bot.slack.hold("chat.postMessage", then_answer=True, only=carrying("dm:U2:notice"))
    await send_dm(bot, "U2", "notice", "Slack is slow with this one")
    await eventually(lambda: held.waiting)
    bot.tavus.set_status("r0001", "completed")
    await bot.tavus_callback(token, {"replica_id": "r0001", "status": "ready"})
    await eventually(lambda: posts_of(bot, "1:outcome"))
    assert not posts_of(bot, "dm:U2:notice")
    held.release()
    await settled_lane(bot, "U2")
    assert len(posts_of(bot, "dm:U2:notice")) == 1


async def test_one_users_dm_lane_holds_up_no_other_users(bot: Bot) -> None:
    held = bot.slack.hold("chat.postMessage", then_answer=True, only=carrying("dm:U2:notice"))
    await send_dm(bot, "U2", "notice", "Held")
    await eventually(lambda: held.waiting)
    await send_dm(bot, "U3", "notice", "Not held")
    await eventually(lambda: posts_of(bot, "dm:U3:notice"))
    held.release()
    await settled_lane(bot, "U2")


# -- at most once in a DM lane ---------------------------------------------------------------


async def test_at_most_max_deliveries_lanes_are_delivered_at_once(
    bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outbox_module, "MAX_DELIVERIES", 3)
    held = bot.slack.hold("chat.postMessage", then_answer=True)
    users = [f"U{n}" for n in range(10, 18)]
    for user in users:
        await send_dm(bot, user, "hello", f"Hello {user}")
    await eventually(lambda: held.waiting == 3)
    await asyncio.sleep(0.3)  # the other five are due, and wait for a free delivery
    assert held.waiting == 3
    held.release()
    for user in users:
        [row] = await settled_lane(bot, user)
        assert row["state"] == "sent"


async def test_a_dm_whose_answer_was_lost_in_a_known_dm_is_looked_for_not_reposted(
    bot: Bot,
) -> None:
    await send_dm(bot, "U2", "hello", "Hello")
    await settled_lane(bot, "U2")  # its answer told the DM's id
    held = bot.slack.hold("chat.postMessage", record_first=True, only=carrying("dm:U2:again"))
    await send_dm(bot, "U2", "again", "Posted, answer lost")
    await eventually(lambda: held.waiting)
    held.release()
    rows = await settled_lane(bot, "U2")
    assert [row["state"] for row in rows] == ["sent", "sent"]
    assert len(posts_of(bot, "dm:U2:again")) == 1
    looked = {c.params["channel"] for c in bot.slack.calls_to("conversations.history")}
    assert looked == {"DU2"}


async def test_a_dm_whose_answer_was_lost_before_the_dm_id_was_known_is_never_said_twice(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    held = bot.slack.hold("chat.postMessage", record_first=True, only=carrying("dm:U2:hello"))
    await send_dm(bot, "U2", "hello", "Posted, answer lost")
    await eventually(lambda: held.waiting)
    held.release()
    # The DM can only be read by its D… id, which that lost answer alone would have told:
    # nothing can show whether it is there, so it is given up rather than maybe said twice.
    [row] = await settled_lane(bot, "U2")
    assert row["state"] == "failed" and "not posting it twice" in str(row["last_error"])
    assert len(posts_of(bot, "dm:U2:hello")) == 1
    assert any("dm:U2:hello" in r.getMessage() for r in caplog.records if r.levelname == "ERROR")
    # The lane goes on.
    await send_dm(bot, "U2", "next", "Next")
    await settled_lane(bot, "U2")
    assert len(posts_of(bot, "dm:U2:next")) == 1


async def test_a_dm_slack_refuses_is_dropped_alone_and_the_lane_goes_on(bot: Bot) -> None:
    bot.slack.fail_next["chat.postMessage"] = ["cannot_dm_bot"]
    await send_dm(bot, "U2", "first", "Refused")
    await send_dm(bot, "U2", "second", "Taken")
    rows = await settled_lane(bot, "U2")
    assert [(row["state"], row["last_error"]) for row in rows] == [
        ("failed", "cannot_dm_bot"),
        ("sent", None),
    ]
    assert not posts_of(bot, "dm:U2:first") and len(posts_of(bot, "dm:U2:second")) == 1


# -- rendered when delivered -----------------------------------------------------------------


async def test_a_reply_shows_the_request_as_it_is_when_it_is_delivered(bot: Bot) -> None:
    await uncertain_create(bot)
    await bot.settle()
    bot.slack.down_channels.add("C1")  # the adoption's reply has to wait
    await adopted_by_callback(bot)

    # A correction made to the request before the reply goes out (here the replica id,
    # fixed by hand) is what the reply shows: it is rendered from the request at delivery.
    def correct(db: sqlite_utils.Database) -> None:
        db.execute("UPDATE replica_requests SET replica_id = 'r0001-fixed' WHERE id = 1")

    await bot.services.storage.run(correct)
    bot.slack.down_channels.clear()
    await delivered(bot)
    [adopted] = posts_of(bot, "1:adopted")
    assert "Tavus did create" in adopted.text and "`r0001-fixed`" in adopted.text


async def test_a_reply_still_tells_the_state_it_was_owed_for_after_the_request_moved_on(
    bot: Bot,
) -> None:
    bot.slack.down_channels.add("C1")  # nothing reaches the channel for a while
    await uncertain_create(bot)
    await eventually(lambda: bot.slack.calls_to("chat.postMessage"))
    await adopted_by_callback(bot)  # before the "uncertain" reply could go out
    bot.slack.down_channels.clear()
    await delivered(bot)
    [uncertain] = posts_of(bot, "1:uncertain")
    assert "no clear answer" in uncertain.text
    assert "Tavus got the request but it failed while handling it" in uncertain.text
    [adopted] = posts_of(bot, "1:adopted")
    assert "`r0001`" in adopted.text and float(uncertain.ts) < float(adopted.ts)
    [root] = posts_of(bot, "1:status")
    assert root.blocks[0]["text"]["text"].startswith(":gear:")  # the root shows it is training


# -- rows written before lanes ---------------------------------------------------------------


def database_before_lanes(path: Path, slack: FakeSlack) -> None:
    """A database as the previous version left it: a finished request whose root message
    needs its last edit and whose result reply is owed, rendered, as that version stored it."""
    db = sqlite_utils.Database(path)
    migrations.apply(db, stop_before="add_outbox_lanes")
    now = store.utc_now()
    # In SQL, as that version wrote it: today's insert_request also writes tables that came
    # later (the consent record).
    db.execute(
        """INSERT INTO replica_requests (view_id, requester_id, channel_id, replica_name, mode,
           model_name, train_video_url, auto_fix_training_image, state, replica_id,
           callback_token_hash, created_at, updated_at)
           VALUES ('V1', 'U1', 'C1', 'Jane', 'video', 'phoenix-4', 'https://a/j', 0,
           'succeeded', 'r0001', 'h', ?, ?)""",
        [now, now],
    )
    request_id = 1
    root = slack.post_as_user("C1", "Replica Jane: Training")
    store.set_root_message(db, request_id, "C1", root.ts)
    reply = json.dumps(Message(text="<@U1> Written by the previous version").as_kwargs())
    for key, kind, payload, version in [
        ("1:status", "status", None, 2),
        ("1:outcome", "reply", reply, 0),
    ]:
        db.execute(
            """INSERT INTO outbox (request_id, key, kind, payload, state, attempts, version,
               next_attempt_at, created_at) VALUES (1, ?, ?, ?, 'pending', 0, ?, ?, ?)""",
            [key, kind, payload, version, now, now],
        )
    db.close()


async def test_messages_owed_before_lanes_existed_are_delivered_after_the_upgrade(
    make_bot: BotFactory, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    database_before_lanes(tmp_path / "replica-bot.db", fake_slack)
    bot = await make_bot()  # migrates, then delivers
    await delivered(bot)
    root = fake_slack.messages_in("C1")[0]
    assert root.blocks[0]["text"]["text"].startswith(":white_check_mark:")  # edited anew
    [reply] = posts_of(bot, "1:outcome")
    # Its stored text, as rendered then, in the root message's thread.
    assert (reply.text, reply.thread_ts) == ("<@U1> Written by the previous version", root.ts)
    rows = await bot.services.storage.run(outbox.rows_for, 1)
    assert [row["lane"] for row in rows] == ["request:1", "request:1"]
