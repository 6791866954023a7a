"""Tavus's training_progress is kept with the request, from polling and from callbacks."""

from __future__ import annotations

from domain.states import State
from domain.training import TrainingResult
from replicas.callbacks import parse_callback
from storage import replicas as store
from tests.conftest import Bot, BotFactory, eventually
from tests.handlers.test_replica_form import VIDEO
from tests.replicas.test_reconciliation import FAST_POLL, request, submit_video


async def test_polling_keeps_the_latest_progress(make_bot: BotFactory) -> None:
    bot = await make_bot(**FAST_POLL)
    await submit_video(bot)
    bot.tavus.replicas["r0001"]["training_progress"] = "42/100"

    async def progress() -> str | None:
        return (await request(bot)).training_progress

    await eventually(lambda: bot.tavus.list_requests)  # polling reads the listing
    rounds = bot.services.reconciler.rounds
    await eventually(lambda: bot.services.reconciler.rounds > rounds)
    assert await progress() == "42/100"
    bot.tavus.set_status("r0001", "completed")
    await eventually(lambda: any("is ready" in m.text for m in bot.slack.messages))
    record = await request(bot)
    assert record.state is State.SUCCEEDED and record.training_progress == "100/100"


async def test_a_callback_without_progress_keeps_the_last_one(bot: Bot) -> None:
    view_id, view = await bot.open_form()
    await bot.submit(view_id, view, VIDEO)
    await bot.settle()
    await bot.services.storage.run(
        store.note_tavus_status, 1, TrainingResult(status="training", training_progress="10/100")
    )
    await bot.tavus_callback(bot.callback_token(), {"replica_id": "r0001", "status": "training"})
    assert (await request(bot)).training_progress == "10/100"


def test_a_callback_body_carries_its_progress() -> None:
    parsed = parse_callback(
        b'{"replica_id": "r1", "status": "training", "training_progress": "7/100"}'
    )
    assert parsed is not None and parsed[1].training_progress == "7/100"
    odd = parse_callback(b'{"replica_id": "r1", "status": "training", "training_progress": 7}')
    assert odd is not None and odd[1].training_progress is None
