"""The outbox worker is woken only by a transaction that owed a Slack message: a polling round
over many requests with no news sends it looking for due rows not once, and a change that
has something to say still gets it out at once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
import sqlite_utils

from blocks.messages import ReplyKind
from domain.training import TrainingResult
from replicas import outbox as outbox_module
from storage import outbox
from storage import replicas as store
from tests.conftest import Bot, BotFactory, eventually
from tests.handlers.test_replica_form import VIDEO

REQUESTS = 3


class Looks:
    """Counts the outbox worker's wakes and its look-ups of due rows."""

    def __init__(self, bot: Bot, monkeypatch: pytest.MonkeyPatch) -> None:
        self.wakes = 0
        self.lookups = 0
        worker = bot.services.outbox
        wake = worker.wake
        due = outbox.due

        def counted_wake() -> None:
            self.wakes += 1
            wake()

        def counted_due(
            db: sqlite_utils.Database, now: datetime, busy: Any, limit: int | None = None
        ) -> Any:
            self.lookups += 1
            return due(db, now, busy, limit=limit)

        monkeypatch.setattr(worker, "wake", counted_wake)
        monkeypatch.setattr(outbox, "due", counted_due)


@pytest.fixture
async def training(make_bot: BotFactory, monkeypatch: pytest.MonkeyPatch) -> Bot:
    """A bot with REQUESTS requests training, its first polling round done, and an outbox
    that looks for due rows only when woken (no idle check within a test). Training progress
    is shown at most every 2 s."""
    monkeypatch.setattr(outbox_module, "IDLE_CHECK_SECONDS", 3600.0)
    bot = await make_bot(poll_interval_seconds=3600.0, progress_update_seconds=2.0)
    for _ in range(REQUESTS):
        view_id, view = await bot.open_form()
        await bot.submit(view_id, view, VIDEO)
        await bot.settle()
    assert len(bot.tavus.creates) == REQUESTS
    await eventually(lambda: bot.services.reconciler.rounds >= 1, seconds=10)
    await bot.settle()
    return bot


async def test_a_polling_round_with_no_news_wakes_the_outbox_zero_times(
    training: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot = training
    looks = Looks(bot, monkeypatch)
    # An unreadable listing: every open request is asked about and its answer committed, as
    # in a round over requests the listing does not show.
    bot.tavus.garble_list = True
    bot.tavus.gets.clear()

    await bot.services.reconciler.round()
    for request_id in range(1, REQUESTS + 1):
        await bot.services.workflow.check_replica(request_id, f"r{request_id:04d}")

    assert sorted(bot.tavus.gets) == sorted([f"r{n:04d}" for n in range(1, REQUESTS + 1)] * 2)
    assert (looks.wakes, looks.lookups) == (0, 0)


async def test_a_change_found_by_polling_gets_its_message_out_at_once(
    training: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot = training
    looks = Looks(bot, monkeypatch)
    bot.tavus.garble_list = True
    bot.tavus.set_status("r0002", "completed")

    await bot.services.reconciler.round()

    # The idle check is an hour away: only the wake can have sent it.
    await eventually(lambda: [m for m in bot.slack.messages if "is ready" in m.text])
    assert looks.wakes >= 1 and looks.lookups >= 1
    [ready] = [m for m in bot.slack.messages if "is ready" in m.text]
    [root] = [m for m in bot.slack.messages_in("C1") if m.ts == ready.thread_ts]
    assert root.blocks[0]["text"]["text"].startswith(":white_check_mark:")


async def test_a_throttled_progress_update_wakes_the_outbox_to_send_it_when_due(
    training: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot = training
    looks = Looks(bot, monkeypatch)
    [root, *_] = [m for m in bot.slack.messages_in("C1") if m.thread_ts is None]
    edits = len(root.updates)
    bot.tavus.set_progress("r0001", "40/100")  # shown no sooner than 2 s after the last one

    await bot.services.reconciler.round()

    assert looks.wakes == 1  # the worker learns when it becomes due: no idle check needed
    await eventually(lambda: len(root.updates) > edits, seconds=10)
    assert "40%" in str(root.blocks)


async def test_commit_wakes_only_when_the_transaction_owed_a_message(
    training: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot = training
    looks = Looks(bot, monkeypatch)
    commit = bot.services.workflow._commit

    def changes(change: Callable[[sqlite_utils.Database], object]) -> Any:
        return commit(change)

    await changes(lambda db: store.note_tavus_status(db, 1, TrainingResult(status="training")))
    await changes(lambda db: store.get_request(db, 1))
    assert looks.wakes == 0
    await changes(lambda db: outbox.enqueue_reply(db, 1, ReplyKind.ADOPTED))
    assert looks.wakes == 1
    await changes(lambda db: outbox.enqueue_reply(db, 1, ReplyKind.ADOPTED))  # already owed
    assert looks.wakes == 1
    await changes(lambda db: outbox.enqueue_status(db, 1))
    assert looks.wakes == 2

    def fails(db: sqlite_utils.Database) -> None:
        outbox.enqueue_status(db, 2)
        raise RuntimeError("the change failed: nothing was written")

    with pytest.raises(RuntimeError):
        await changes(fails)
    assert looks.wakes == 2
    await bot.settle()


async def test_a_home_opened_still_wakes_the_outbox(
    training: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot = training
    looks = Looks(bot, monkeypatch)
    await bot.services.home.opened("U1", is_admin=False)
    assert looks.wakes == 1
    await eventually(lambda: bot.slack.home_publishes("U1") >= 1)
