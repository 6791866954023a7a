"""At most once, for real: a post whose answer was lost is looked for where it can only be, and
only an answer that settles the doubt lets it be posted again (fault injection against the
fake Slack, which pages history 15 messages at a time and keeps its own clock)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Callable
from typing import Any

import pytest

from replicas import outbox as outbox_module
from storage import outbox
from tests.conftest import Bot, eventually
from tests.fakes.fake_slack import Hold, Posted
from tests.handlers.test_replica_form import VIDEO
from tests.replicas.test_outbox_delivery import training


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outbox_module, "RETRY_BASE_SECONDS", 0.05)
    monkeypatch.setattr(outbox_module, "STORAGE_RETRY_BASE_SECONDS", 0.05)


def key_of(params_or_message: dict[str, Any] | Posted) -> str | None:
    """The outbox key a post carries in its metadata."""
    metadata = (
        params_or_message.metadata
        if isinstance(params_or_message, Posted)
        else params_or_message.get("metadata")
    )
    return ((metadata or {}).get("event_payload") or {}).get("key")


def carrying(key: str) -> Callable[[dict[str, Any]], bool]:
    return lambda params: key_of(params) == key


def posts_of(bot: Bot, key: str, channel: str | None = None) -> list[Posted]:
    return [
        m
        for m in bot.slack.messages
        if key_of(m) == key and (channel is None or m.channel == channel)
    ]


async def delivered(bot: Bot, request_id: int = 1, seconds: float = 10.0) -> None:
    """Wait until every outbox row of the request is sent, then a little longer: time for a
    duplicate, were there going to be one."""
    deadline = time.monotonic() + seconds
    while True:
        rows = await bot.services.storage.run(outbox.rows_for, request_id)
        if rows and all(row["state"] == "sent" for row in rows):
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"not delivered: {[(r['key'], r['state']) for r in rows]}")
        await asyncio.sleep(0.02)
    await bot.settle()
    await asyncio.sleep(0.2)


async def result_post_lost(bot: Bot, token: str) -> Hold:
    """The result reply is posted, but Slack's answer never arrives (500 once released)."""
    held = bot.slack.hold("chat.postMessage", record_first=True, only=carrying("1:outcome"))
    bot.tavus.set_status("r0001", "completed")
    await bot.tavus_callback(token, {"replica_id": "r0001", "status": "ready"})
    await eventually(lambda: held.waiting)
    return held


async def root_post_lost(bot: Bot, channel: str = "C1") -> Hold:
    """The root status message is posted, but Slack's answer never arrives."""
    held = bot.slack.hold(
        "chat.postMessage",
        record_first=True,
        # Not where Slack refuses it outright: that answer is never lost here.
        only=lambda params: (
            carrying("1:status")(params) and params["channel"] not in bot.slack.private
        ),
    )
    view_id, view = await bot.open_form(channel=channel)
    await bot.submit(view_id, view, VIDEO)
    await eventually(lambda: held.waiting)
    return held


@pytest.mark.parametrize(
    "look_fails",
    [
        ["ratelimited"] * 3,  # past what slack_sdk's own 429 handler (2 retries) absorbs
        ["invalid_cursor"],  # a refusal is no answer either
        ["http_500", "ratelimited", "ratelimited", "ratelimited", "fatal_error"],
    ],
)
async def test_a_failed_look_keeps_the_doubt_until_an_answer_settles_it(
    bot: Bot, look_fails: list[str]
) -> None:
    held = await result_post_lost(bot, await training(bot))
    bot.slack.fail_next["conversations.replies"] = list(look_fails)
    held.release()
    await delivered(bot)
    assert len(posts_of(bot, "1:outcome")) == 1
    assert not bot.slack.fail_next["conversations.replies"]  # every failure was met, and waited


async def test_a_busy_channel_does_not_hide_the_earlier_post(bot: Bot) -> None:
    held = await root_post_lost(bot)
    for n in range(30):  # two pages and more of chatter after it
        bot.slack.post_as_user("C1", f"chatter {n}")
    held.release()
    await delivered(bot)
    assert len(posts_of(bot, "1:status")) == 1
    pages = bot.slack.calls_to("conversations.history")
    assert len(pages) >= 3 and all(call.params.get("oldest") for call in pages)


async def test_a_long_thread_is_read_to_its_end(bot: Bot) -> None:
    token = await training(bot)
    root = bot.slack.messages_in("C1")[0]
    for n in range(30):  # the reply lands after them all: on the thread's third page
        bot.slack.post_as_user("C1", f"chatter {n}", thread_ts=root.ts)
    held = await result_post_lost(bot, token)
    held.release()
    await delivered(bot)
    assert len(posts_of(bot, "1:outcome")) == 1
    assert len(bot.slack.calls_to("conversations.replies")) >= 3


async def test_a_post_in_doubt_after_moving_to_a_dm_is_looked_for_in_that_dm(bot: Bot) -> None:
    bot.slack.private.add("G1")  # the bot cannot post there, nor join
    held = await root_post_lost(bot, channel="G1")
    held.release()
    await delivered(bot)
    [root] = posts_of(bot, "1:status")
    assert root.channel == "DU1"
    [notice] = posts_of(bot, "1:status:moved")
    assert notice.channel == "DU1" and "<#G1>" in notice.text
    # The DM was read by its D… id, learnt from the notice's answer (no im:write needed).
    looked = {call.params["channel"] for call in bot.slack.calls_to("conversations.history")}
    assert looked == {"DU1"}


@pytest.mark.parametrize("lost", ["root", "reply"])
async def test_slack_s_clock_minutes_behind_the_bot_s_still_finds_the_post(
    bot: Bot, lost: str
) -> None:
    bot.slack.clock_offset = -300.0  # Slack's ts and Date run 5 minutes behind this host
    if lost == "root":
        held = await root_post_lost(bot)
        key = "1:status"
    else:
        held = await result_post_lost(bot, await training(bot))
        key = "1:outcome"
    held.release()
    await delivered(bot)
    assert len(posts_of(bot, key)) == 1


async def test_removed_from_a_public_channel_it_rejoins_to_look(bot: Bot) -> None:
    held = await result_post_lost(bot, await training(bot))
    bot.slack.not_member.add("C1")  # someone removed the bot meanwhile
    held.release()
    await delivered(bot)
    assert len(posts_of(bot, "1:outcome")) == 1
    assert [c.params["channel"] for c in bot.slack.calls_to("conversations.join")] == ["C1"]
    assert not bot.slack.messages_in("DU1")


async def test_removed_from_a_private_channel_it_cannot_look_so_the_dm_gets_it(
    bot: Bot,
) -> None:
    held = await result_post_lost(bot, await training(bot))
    bot.slack.private.add("C1")  # removed, and no way back in: no look, no post there
    held.release()
    await delivered(bot)
    # The lost attempt is in the channel; the DM gets it once; no place has it twice.
    assert len(posts_of(bot, "1:outcome", "C1")) == 1
    assert len(posts_of(bot, "1:outcome", "DU1")) == 1
    assert len(posts_of(bot, "1:outcome:moved", "DU1")) == 1


async def test_a_dropped_connection_after_slack_posted_is_not_reposted_by_the_client(
    bot: Bot,
) -> None:
    token = await training(bot)
    # slack_sdk retries a reset connection by itself; for a post that Slack already made,
    # that would be a second message nobody checked for.
    bot.slack.fail_next["chat.postMessage"] = ["posted_then_disconnect"]
    bot.tavus.set_status("r0001", "completed")
    await bot.tavus_callback(token, {"replica_id": "r0001", "status": "ready"})
    await delivered(bot)
    assert len(posts_of(bot, "1:outcome")) == 1
    assert bot.slack.calls_to("conversations.replies")  # it looked instead


async def test_a_row_left_in_doubt_by_an_older_version_is_looked_for_in_its_thread(
    bot: Bot,
) -> None:
    held = await result_post_lost(bot, await training(bot))
    await bot.stop()  # in flight: stays in doubt
    held.release()
    # As the previous version left such rows: in doubt, nothing recorded about where.
    with contextlib.closing(sqlite3.connect(bot.settings.database_path)) as db, db:
        db.execute(
            "UPDATE outbox SET target_channel_id = NULL, target_key = NULL, target_floor = NULL"
        )
    await bot.start()
    await delivered(bot)
    assert len(posts_of(bot, "1:outcome")) == 1
