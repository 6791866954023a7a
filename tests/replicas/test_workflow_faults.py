"""One bad message never stops the bot: odd Tavus answers reach the requester, bounded, and
the background loops go on for every other request (the real bot between the fakes)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from domain.record import ReplicaRecord
from domain.states import State
from storage import outbox as outbox_store
from storage import replicas as store
from tests.conftest import Bot, BotFactory, eventually
from tests.handlers.test_replica_form import VIDEO

FAST_POLL = {"poll_interval_seconds": 0.2}
FFMPEG_LOG = (
    "ffmpeg version 6.1 Copyright (c) 2000-2023 the FFmpeg developers\n"
    "  built with gcc 12 (Debian 12.2.0-14)\n"
    "[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55d5] moov atom not found\n"
) * 25
PROXY_PAGE = (
    "<!DOCTYPE html><html><head><title>403 Forbidden</title></head><body>"
    "<h1>Access denied</h1><p>Request blocked by the corporate firewall.</p>"
    + "<!-- padding -->" * 400
    + "</body></html>"
)


async def submit(bot: Bot, name: str) -> None:
    view_id, view = await bot.open_form()
    await bot.submit(view_id, view, {**VIDEO, "replica_name": name})
    await bot.settle()


async def record(bot: Bot, request_id: int) -> ReplicaRecord:
    return await bot.services.storage.run(store.get_request, request_id)


def replies(bot: Bot) -> list[Any]:
    return [m for m in bot.slack.messages if m.thread_ts]


def section_texts(bot: Bot) -> list[str]:
    return [
        block["text"]["text"]
        for message in bot.slack.messages
        for block in message.blocks
        if block.get("type") == "section"
    ]


@pytest.mark.parametrize(
    "error_message",
    [FFMPEG_LOG[:3000], "<" * 400 + "&" * 400],
    ids=["3000-character ffmpeg log", "hundreds of < and &"],
)
async def test_a_huge_tavus_error_is_told_bounded_and_polling_goes_on(
    make_bot: BotFactory, error_message: str
) -> None:
    bot = await make_bot(**FAST_POLL)
    await submit(bot, "Broken")
    await submit(bot, "Fine")
    bot.tavus.set_status("r0001", "error", error_message)
    bot.tavus.set_status("r0002", "completed")
    await eventually(lambda: len(replies(bot)) == 2, seconds=10)
    await bot.settle()
    assert (await record(bot, 1)).state is State.FAILED
    assert (await record(bot, 2)).state is State.SUCCEEDED
    [failed] = [m for m in replies(bot) if "failed" in m.text]
    text = failed.blocks[0]["text"]["text"]
    assert len(text) <= 3000
    assert "the bot's admin can read the whole message in its log" in text
    assert all(len(text) <= 3000 for text in section_texts(bot))
    # The loop is alive and keeps polling.
    rounds = bot.services.reconciler.rounds
    await eventually(lambda: bot.services.reconciler.rounds > rounds + 1)
    assert bot.services.supervisor.stopped_loops() == []


async def test_an_unexpected_error_on_one_request_is_logged_backed_off_and_isolated(
    make_bot: BotFactory, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:

    real_enqueue_reply = outbox_store.enqueue_reply

    def enqueue_reply(db: Any, request_id: int, kind: str) -> None:
        # While its result is being announced, in the state change's transaction.
        if store.get_request(db, request_id).request.replica_name == "Boom":
            raise RuntimeError("a bug that only this request meets")
        real_enqueue_reply(db, request_id, kind)

    monkeypatch.setattr(outbox_store, "enqueue_reply", enqueue_reply)
    bot = await make_bot(**FAST_POLL)
    await submit(bot, "Boom")
    await submit(bot, "Fine")
    bot.tavus.set_status("r0001", "completed")
    bot.tavus.set_status("r0002", "completed")
    await eventually(lambda: any("Fine" in m.text and "is ready" in m.text for m in replies(bot)))
    await eventually(lambda: bot.services.reconciler.rounds >= 6, seconds=10)
    failures = [r for r in caplog.records if "Polling request 1 failed" in r.getMessage()]
    assert failures and all(r.exc_info for r in failures)  # logged with the traceback
    # Backed off: skipped for a growing number of rounds, not retried every round.
    assert len(failures) < bot.services.reconciler.rounds - 1
    assert (await record(bot, 1)).state is State.TRAINING  # nothing half-recorded
    assert bot.services.supervisor.stopped_loops() == []
    # Once the fault is gone, a later round announces it.
    monkeypatch.setattr(outbox_store, "enqueue_reply", real_enqueue_reply)
    await eventually(
        lambda: any("Boom" in m.text and "is ready" in m.text for m in replies(bot)), 15
    )


async def test_a_create_refused_by_something_in_front_of_tavus_says_so(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    bot.tavus.answer_next_create(403, PROXY_PAGE)
    await submit(bot, "Jane")
    assert (await record(bot, 1)).state is State.NOT_CREATED
    _, reply = bot.slack.messages_in("C1")
    assert "something in front of it such as a proxy or firewall" in reply.text
    assert "403" not in reply.text and "Forbidden" not in reply.text  # codes are for the log
    assert "whoever runs the bot" in reply.text
    assert "nothing was created" in reply.text
    assert "restarted" not in reply.text and "<html" not in reply.text.lower()
    [logged] = [
        r.getMessage() for r in caplog.records if "Tavus refused request 1" in r.getMessage()
    ]
    assert "Access denied" in logged and len(logged) < 1000  # the start of the body only
    assert "HTTP 403" in logged
    assert len(bot.tavus.creates) == 1
