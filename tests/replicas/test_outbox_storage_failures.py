"""The outbox when its own database fails (a full disk, a missing table) or one row is broken:
each failure is logged and backed off, never a hot loop; the loop never ends; and once the
database works again every owed message goes out exactly once.

A full disk is simulated on the bot's own connection with `PRAGMA query_only`: reads work,
every write fails with sqlite3.OperationalError, as on a disk with no space left."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3

import pytest
import sqlite_utils

from blocks.messages import ReplyKind
from replicas import outbox as outbox_module
from storage import outbox
from tests.conftest import Bot, eventually
from tests.replicas.test_outbox_delivery import training
from tests.replicas.test_outbox_doubt import carrying, delivered, posts_of

# Over a second of failing storage the back-off (0.05 s, doubling) allows a handful of
# attempts; the hot loop this guards against made thousands.
MOST_ATTEMPTS_PER_SECOND = 12


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outbox_module, "RETRY_BASE_SECONDS", 0.05)
    monkeypatch.setattr(outbox_module, "STORAGE_RETRY_BASE_SECONDS", 0.05)


async def disk_full(bot: Bot, full: bool) -> None:
    def query_only(db: sqlite_utils.Database) -> None:
        db.execute(f"PRAGMA query_only = {int(full)}")

    await bot.services.storage.run(query_only)


def outbox_errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r for r in caplog.records if r.name == outbox_module.__name__ and r.levelno >= logging.ERROR
    ]


async def test_a_post_slack_made_whose_recording_failed_goes_out_once_space_is_freed(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    token = await training(bot)
    # Slack is slow to answer the result's post; the disk fills up meanwhile.
    held = bot.slack.hold("chat.postMessage", then_answer=True, only=carrying("1:outcome"))
    bot.tavus.set_status("r0001", "completed")
    await bot.tavus_callback(token, {"replica_id": "r0001", "status": "ready"})
    await eventually(lambda: held.waiting)
    await disk_full(bot, True)
    caplog.clear()
    held.release()  # Slack posts it and says so; the bot cannot write that down
    await asyncio.sleep(1.0)
    errors = outbox_errors(caplog)
    assert 1 <= len(errors) <= MOST_ATTEMPTS_PER_SECOND
    assert all(r.exc_info for r in errors)  # each with its traceback
    assert len(bot.slack.calls_to("conversations.replies")) <= MOST_ATTEMPTS_PER_SECOND
    assert "readonly" in (bot.services.outbox.storage_error or "")
    await disk_full(bot, False)
    await delivered(bot)
    assert len(posts_of(bot, "1:outcome")) == 1  # found where it was, not posted again
    assert bot.services.outbox.storage_error is None


async def test_nothing_is_posted_while_the_attempt_cannot_be_recorded(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    token = await training(bot)
    bot.slack.down_channels.add("C1")  # the result waits in the outbox
    bot.tavus.set_status("r0001", "completed")
    await bot.tavus_callback(token, {"replica_id": "r0001", "status": "ready"})
    await eventually(lambda: bot.slack.calls_to("chat.update")[1:])
    await disk_full(bot, True)
    bot.slack.down_channels.clear()
    caplog.clear()
    posts_before = len(bot.slack.calls_to("chat.postMessage"))
    await asyncio.sleep(1.0)
    assert 1 <= len(outbox_errors(caplog)) <= MOST_ATTEMPTS_PER_SECOND
    # The root's edit may go out (repeating it is harmless); a post never does unrecorded.
    assert len(bot.slack.calls_to("chat.postMessage")) == posts_before
    await disk_full(bot, False)
    await delivered(bot)
    assert len(posts_of(bot, "1:outcome")) == 1
    root = bot.slack.messages_in("C1")[0]
    assert root.blocks[0]["text"]["text"].startswith(":white_check_mark:")


async def test_an_unreadable_outbox_is_waited_out_and_the_loop_goes_on(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    token = await training(bot)
    bot.slack.down_channels.add("C1")
    bot.tavus.set_status("r0001", "completed")
    await bot.tavus_callback(token, {"replica_id": "r0001", "status": "ready"})
    await eventually(lambda: bot.slack.calls_to("chat.update")[1:])
    database = bot.settings.database_path
    with contextlib.closing(sqlite3.connect(database)) as db, db:
        db.execute("ALTER TABLE outbox RENAME TO outbox_away")  # reading it now fails
    bot.slack.down_channels.clear()
    caplog.clear()
    for _ in range(50):  # wake-ups must not cut the back-off short
        bot.services.outbox.wake()
        await asyncio.sleep(0.02)
    assert 1 <= len(outbox_errors(caplog)) <= MOST_ATTEMPTS_PER_SECOND
    assert "outbox" in (bot.services.outbox.storage_error or "")
    assert bot.services.supervisor.stopped_loops() == []
    with contextlib.closing(sqlite3.connect(database)) as db, db:
        db.execute("ALTER TABLE outbox_away RENAME TO outbox")
    await delivered(bot)
    assert len(posts_of(bot, "1:outcome")) == 1
    assert bot.services.outbox.storage_error is None


async def test_a_row_whose_request_cannot_be_read_is_backed_off_and_others_go_on(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    # A row for a request that is not there: reading it fails before anything is claimed.
    await bot.services.storage.run(outbox.enqueue_status, 99)
    caplog.clear()
    bot.services.outbox.wake()
    token = await training(bot)
    bot.tavus.set_status("r0001", "completed")
    await bot.tavus_callback(token, {"replica_id": "r0001", "status": "ready"})
    await delivered(bot)
    await asyncio.sleep(0.5)
    assert len(posts_of(bot, "1:outcome")) == 1
    [orphan] = await bot.services.storage.run(outbox.rows_for, 99)
    assert orphan["state"] == "pending" and "NoSuchRequest" in orphan["last_error"]
    assert 1 <= orphan["attempts"] <= MOST_ATTEMPTS_PER_SECOND
    assert 1 <= len([r for r in caplog.records if "99:status" in r.getMessage()]) <= 30


@pytest.mark.parametrize("refusal", ["msg_too_long", "invalid_blocks"])
async def test_a_message_slack_refuses_for_good_stops_nothing_else(bot: Bot, refusal: str) -> None:
    first = await training(bot, channel="C1")
    second = await training(bot, channel="C2")
    bot.slack.fail_next["chat.postMessage"] = [refusal]  # the next post: request 1's result
    bot.tavus.set_status("r0001", "completed")
    await bot.tavus_callback(first, {"replica_id": "r0001", "status": "ready"})
    await eventually(lambda: not bot.slack.fail_next["chat.postMessage"])
    bot.tavus.set_status("r0002", "completed")
    await bot.tavus_callback(second, {"replica_id": "r0002", "status": "ready"})
    await delivered(bot, request_id=2)
    assert len(posts_of(bot, "2:outcome")) == 1
    [status, outcome] = await bot.services.storage.run(outbox.rows_for, 1)
    assert status["state"] == "sent"
    assert (outcome["state"], outcome["last_error"]) == ("failed", refusal)
    assert not posts_of(bot, "1:outcome")
    # Request 1 is not stuck either: its next message still goes out.
    await bot.services.storage.run(outbox.enqueue_reply, 1, ReplyKind.ADOPTED)
    bot.services.outbox.wake()
    await eventually(lambda: posts_of(bot, "1:adopted"))
