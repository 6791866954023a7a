"""Durable notifications: Slack outages, rate limits and refusals never lose or double a
message (fault injection against the fake Slack)."""

from __future__ import annotations

import pytest

from replicas import outbox as outbox_module
from storage import outbox
from tests.conftest import Bot, eventually
from tests.handlers.test_replica_form import VIDEO


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outbox_module, "RETRY_BASE_SECONDS", 0.05)


async def training(bot: Bot, channel: str = "C1") -> str:
    """Submit a request from `channel`; returns its callback token once it is training."""
    view_id, view = await bot.open_form(channel=channel)
    await bot.submit(view_id, view, VIDEO)
    await bot.settle()
    return bot.callback_token()


def ready_replies(bot: Bot) -> list[str]:
    return [m.text for m in bot.slack.messages if "is ready" in m.text]


async def test_slack_500_then_429_delivers_once_slack_recovers(bot: Bot) -> None:
    token = await training(bot)
    # Slack is failing when the result arrives: 500 first (did it post? unknown), then
    # rate limits beyond what the client's own RateLimitErrorRetryHandler absorbs.
    bot.slack.fail_next["chat.update"] = ["http_500", "ratelimited", "ratelimited", "ratelimited"]
    bot.slack.fail_next["chat.postMessage"] = [
        "http_500",
        "ratelimited",
        "ratelimited",
        "ratelimited",
    ]
    bot.tavus.set_status("r0001", "completed")
    await bot.tavus_callback(token, {"replica_id": "r0001", "status": "ready"})
    await eventually(lambda: ready_replies(bot), seconds=10)
    await bot.settle()
    assert len(ready_replies(bot)) == 1
    root = bot.slack.messages_in("C1")[0]
    assert root.blocks[0]["text"]["text"].startswith(":white_check_mark:")
    # After the 500 the post was in doubt: the thread was checked before posting again.
    assert bot.slack.calls_to("conversations.replies")
    rows = await bot.services.storage.run(outbox.rows_for, 1)
    assert {row["state"] for row in rows} == {"sent"}


async def test_a_post_slack_made_but_never_confirmed_is_not_repeated(bot: Bot) -> None:
    token = await training(bot)
    held = bot.slack.hold("chat.postMessage", record_first=True)  # posted; the answer is lost
    bot.tavus.set_status("r0001", "completed")
    await bot.tavus_callback(token, {"replica_id": "r0001", "status": "ready"})
    await eventually(lambda: held.waiting)
    held.release()
    await eventually(lambda: bot.slack.calls_to("conversations.replies"), seconds=10)
    await bot.settle()
    assert len(ready_replies(bot)) == 1


async def test_one_channels_outage_does_not_hold_up_another(bot: Bot) -> None:
    first = await training(bot, channel="C1")
    second = await training(bot, channel="C2")
    bot.slack.down_channels.add("C1")
    bot.tavus.set_status("r0001", "completed")
    bot.tavus.set_status("r0002", "completed")
    await bot.tavus_callback(first, {"replica_id": "r0001", "status": "ready"})
    await bot.tavus_callback(second, {"replica_id": "r0002", "status": "ready"})
    await eventually(lambda: [m for m in bot.slack.messages_in("C2") if "is ready" in m.text])
    assert not [m for m in bot.slack.messages_in("C1") if "is ready" in m.text]
    bot.slack.down_channels.clear()  # C1 comes back: its result follows, once
    await eventually(lambda: [m for m in bot.slack.messages_in("C1") if "is ready" in m.text])
    await bot.settle()
    assert len(ready_replies(bot)) == 2


async def test_an_archived_channel_sends_the_result_by_dm(bot: Bot) -> None:
    token = await training(bot)
    bot.slack.fail_next["chat.update"] = ["is_archived"]
    bot.slack.fail_next["chat.postMessage"] = ["is_archived"]
    bot.tavus.set_status("r0001", "completed")
    await bot.tavus_callback(token, {"replica_id": "r0001", "status": "ready"})
    await eventually(lambda: [m for m in bot.slack.messages_in("DU1") if "is ready" in m.text])
    notice = bot.slack.messages_in("DU1")[0]
    assert "<#C1>" in notice.text


async def test_pending_messages_are_delivered_after_a_restart(bot: Bot) -> None:
    token = await training(bot)
    bot.slack.down_channels.add("C1")
    bot.tavus.set_status("r0001", "completed")
    await bot.tavus_callback(token, {"replica_id": "r0001", "status": "ready"})
    await eventually(lambda: bot.slack.calls_to("chat.update")[-1:] and not ready_replies(bot))
    await bot.restart()
    bot.slack.down_channels.clear()
    await eventually(lambda: ready_replies(bot), seconds=10)
    await bot.settle()
    assert len(ready_replies(bot)) == 1


async def test_a_broken_message_is_retried_later_and_holds_up_nobody_else(bot: Bot) -> None:
    await training(bot, channel="C1")
    # A row no code path writes (a reply nothing renders): delivering it fails inside the bot.
    await bot.services.storage.run(outbox.enqueue_reply, 1, "broken")
    bot.services.outbox.wake()
    second = await training(bot, channel="C2")
    bot.tavus.set_status("r0002", "completed")
    await bot.tavus_callback(second, {"replica_id": "r0002", "status": "ready"})
    await eventually(lambda: ready_replies(bot))
    [broken] = [
        r for r in await bot.services.storage.run(outbox.rows_for, 1) if "broken" in r["key"]
    ]
    # It failed before anything was posted: kept for later, and nothing is in doubt.
    assert broken["state"] == "pending" and "KeyError" in broken["last_error"]
    assert 1 <= broken["attempts"] <= 3  # backing off, not spinning
