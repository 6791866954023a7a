"""TAVUS_DRY_RUN end to end: the real bot with only the fake Slack to talk to. Tavus is
simulated inside the process (tavus/simulated.py), so the fake Tavus must see no request at
all; every message, the form and App Home say that it is a dry run."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pytest

from blocks import DRY_RUN_BLOCK_ID, DRY_RUN_NOTE, Message, with_dry_run_note
from blocks.library import Page, home_view, list_message
from domain.states import State
from tavus.simulated import PREVIEW_URL, SimulatedTavus
from tests.conftest import Bot, BotFactory, eventually
from tests.fakes.fake_slack import Posted
from tests.fakes.fake_tavus import FakeTavus
from tests.handlers.test_consent import ask, dms_to
from tests.handlers.test_home import open_home, published
from tests.handlers.test_replica_form import VIDEO
from tests.replicas.test_reconciliation import request

TRAINING_SECONDS = 2.0
DRY_RUN = {
    "tavus_dry_run": True,
    "tavus_api_key": "",
    "dry_run_training_seconds": TRAINING_SECONDS,
    "poll_interval_seconds": 0.1,
}
WAIT = 10.0  # seconds: a simulated training of 2 s, polled every 0.1 s


def marked(blocks: list[dict[str, Any]] | None) -> bool:
    return any(block.get("block_id") == DRY_RUN_BLOCK_ID for block in blocks or [])


def untouched(tavus: FakeTavus) -> None:
    """No request of any kind reached the (fake) Tavus."""
    assert tavus.creates == [] and tavus.gets == [] and tavus.deletes == []
    assert tavus.renames == [] and tavus.list_requests == 0 and tavus.voice_requests == 0


def status_of(bot: Bot, channel: str = "C1") -> Posted:
    [root] = [m for m in bot.slack.messages_in(channel) if m.thread_ts is None]
    return root


def replies(bot: Bot) -> list[Posted]:
    return [m for m in bot.slack.messages if m.thread_ts]


def reply_saying(bot: Bot, words: str) -> Posted | None:
    return next((m for m in replies(bot) if words in m.text), None)


def every_post_and_edit_marked(bot: Bot) -> None:
    for method in ("chat.postMessage", "chat.update"):
        for call in bot.slack.calls_to(method):
            assert marked(call.params.get("blocks")), (method, call.params.get("text"))
            assert str(call.params.get("text")).endswith("(dry run)")


async def submit(bot: Bot, **changes: Any) -> None:
    view_id, view = await bot.open_form()
    assert view["blocks"][0]["block_id"] == DRY_RUN_BLOCK_ID  # first thing the form says
    response = await bot.submit(view_id, view, {**VIDEO, **changes})
    assert response.status_code == 200, response.text


async def test_a_request_trains_to_ready_showing_progress_and_nothing_reaches_tavus(
    make_bot: BotFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="server.app")
    bot = await make_bot(**DRY_RUN)
    assert isinstance(bot.services.tavus, SimulatedTavus)
    assert [r.message for r in caplog.records if "TAVUS_DRY_RUN" in r.message] == [
        "TAVUS_DRY_RUN: a dry run. Tavus is simulated in this process: nothing is sent to "
        "Tavus and nothing is charged (training takes 2 s; polled every 0.1 s)"
    ]
    await submit(bot)
    ready = await eventually(lambda: reply_saying(bot, "is ready"), seconds=WAIT)
    await bot.settle()
    record = await request(bot)
    assert record.state is State.SUCCEEDED
    assert record.replica_id is not None and record.replica_id.startswith("dry-phoenix-4-")
    status = status_of(bot)
    # Training showed its progress in the status message, and its time so far.
    shown = [str(update.get("blocks")) for update in status.updates]
    assert any("▰" in blocks and "so far" in blocks for blocks in shown)
    assert "Ready" in status.text and PREVIEW_URL in str(status.blocks)
    assert marked(status.blocks) and marked(ready.blocks)
    every_post_and_edit_marked(bot)
    untouched(bot.tavus)


async def test_a_name_with_fail_fails_with_tavuss_reason_and_the_fix(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot(**DRY_RUN)
    await submit(bot, replica_name="Jane fail demo")
    failed = await eventually(lambda: reply_saying(bot, "failed"), seconds=WAIT)
    await bot.settle()
    assert "minimum duration requirement" in failed.text
    assert "How to fix it:" in failed.text and "at least 1 minute" in failed.text
    assert (await request(bot)).state is State.FAILED
    status = status_of(bot)
    assert "Training failed" in status.text and "Try again" in str(status.blocks)
    every_post_and_edit_marked(bot)
    untouched(bot.tavus)


async def test_phoenix_4_5_previews_then_is_tuned(make_bot: BotFactory) -> None:
    bot = await make_bot(**DRY_RUN)
    await submit(bot, model_name="phoenix-4.5")
    preview = await eventually(lambda: reply_saying(bot, "watermarked preview"), seconds=WAIT)
    assert PREVIEW_URL in preview.text
    tuned = await eventually(lambda: reply_saying(bot, "tuned and ready"), seconds=WAIT)
    await bot.settle()
    assert replies(bot).index(preview) < replies(bot).index(tuned)
    record = await request(bot)
    assert record.state is State.SUCCEEDED and record.finetune_status == "completed"
    assert "Tuned, without watermark." in str(status_of(bot).blocks)
    every_post_and_edit_marked(bot)
    untouched(bot.tavus)


async def test_a_restart_mid_training_still_ends_in_ready(make_bot: BotFactory) -> None:
    bot = await make_bot(**{**DRY_RUN, "dry_run_training_seconds": 3.0})
    await submit(bot)
    await eventually(
        lambda: any("Training" in m.text for m in bot.slack.messages_in("C1")), seconds=WAIT
    )
    await bot.settle()
    assert (await request(bot)).state is State.TRAINING
    await bot.restart()  # a new simulated Tavus, which remembers nothing
    await eventually(lambda: reply_saying(bot, "is ready"), seconds=WAIT)
    assert (await request(bot)).state is State.SUCCEEDED
    untouched(bot.tavus)


async def test_app_home_and_the_consent_dm_say_it_is_a_dry_run(make_bot: BotFactory) -> None:
    bot = await make_bot(**DRY_RUN)
    await open_home(bot)
    home = await published(bot)
    assert home["blocks"][1]["block_id"] == DRY_RUN_BLOCK_ID
    await ask(bot)  # someone else on camera: they are asked in a DM first
    [dm] = await eventually(lambda: dms_to(bot, "U2"))
    assert marked(dm.blocks)
    await bot.settle()
    assert "Waiting for" in status_of(bot).text and marked(status_of(bot).blocks)
    every_post_and_edit_marked(bot)
    untouched(bot.tavus)


async def test_without_a_dry_run_nothing_says_so(bot: Bot) -> None:
    view_id, view = await bot.open_form()
    assert not marked(view["blocks"])
    await bot.submit(view_id, view, VIDEO)
    await eventually(lambda: bot.tavus.creates)
    await bot.settle()
    assert not marked(status_of(bot).blocks)
    assert not any("dry run" in call.params.get("text", "") for call in bot.slack.calls)


def test_the_marker_is_added_once_and_keeps_a_text_only_message_readable() -> None:
    plain = with_dry_run_note(Message(text="Hello <@U1>"))
    assert plain.text == "Hello <@U1> (dry run)"
    blocks = [block.to_dict() for block in plain.blocks]
    assert blocks[0]["text"]["text"] == "Hello <@U1>"
    assert blocks[-1]["elements"][0]["text"] == DRY_RUN_NOTE
    assert with_dry_run_note(plain) is plain
    assert with_dry_run_note(plain, dry_run=False) is plain
    assert with_dry_run_note(Message(text="x"), dry_run=False) == Message(text="x")


def test_the_marker_names_no_setting() -> None:
    # Words for users name no environment variable (tests/test_words.py's rule).
    assert "TAVUS" not in DRY_RUN_NOTE and "Dry run" in DRY_RUN_NOTE


def test_the_replica_list_and_home_builders_take_the_marker_when_asked() -> None:
    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    listed = list_message(Page([], 0, 0), now, title="Your replicas", empty="None.", dry_run=True)
    assert [block.block_id for block in listed.blocks][-1] == DRY_RUN_BLOCK_ID
    plain = list_message(Page([], 0, 0), now, title="Your replicas", empty="None.")
    assert DRY_RUN_BLOCK_ID not in [block.block_id for block in plain.blocks]
    home = home_view(Page([], 0, 0), None, now, dry_run=True).to_dict()
    assert home["blocks"][1]["block_id"] == DRY_RUN_BLOCK_ID
    assert not marked(home_view(Page([], 0, 0), None, now).to_dict()["blocks"])


async def test_replica_list_and_an_answered_consent_dm_say_it_is_a_dry_run(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot(**DRY_RUN)
    request_id = await ask(bot)
    await eventually(lambda: dms_to(bot, "U2"), WAIT)

    listed = await bot.command("list")
    assert marked(listed.json()["blocks"])
    before = len(bot.slack.responses)
    await bot.click("consent_approve", str(request_id), user="U2")
    await eventually(lambda: len(bot.slack.responses) > before, WAIT)
    assert marked(bot.slack.responses[-1]["blocks"])  # the DM, as the approval left it
    untouched(bot.tavus)
