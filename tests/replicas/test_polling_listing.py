"""A polling round reads Tavus's listing (a page per 100 replicas) rather than one GET per
replica: training still going on is recorded from the listing alone, nothing is written when
nothing changed, and a result is confirmed with GET before it is announced."""

from __future__ import annotations

from typing import Any

from storage import replicas as store
from tests.conftest import Bot, eventually
from tests.handlers.test_manage import JANE, created


async def updated_at(bot: Bot, request_id: int) -> Any:
    def read(db: Any) -> Any:
        return db.execute(
            "SELECT updated_at FROM replica_requests WHERE id = ?", [request_id]
        ).fetchone()[0]

    return await bot.services.storage.run(read)


async def test_a_round_reads_the_listing_and_gets_nothing_while_training(bot: Bot) -> None:
    first = await created(bot)
    second = await created(bot, JANE)
    bot.tavus.set_progress("r0001", "30/100")
    bot.tavus.set_progress("r0002", "60/100")
    gets, lists = len(bot.tavus.gets), bot.tavus.list_requests

    await bot.services.reconciler.round()

    assert bot.tavus.gets[gets:] == []  # no GET for training that goes on
    assert bot.tavus.list_requests == lists + 1
    progress = [
        (await bot.services.storage.run(store.get_request, n)).training_progress
        for n in (first, second)
    ]
    assert progress == ["30/100", "60/100"]


async def test_nothing_is_written_when_nothing_changed(bot: Bot) -> None:
    request_id = await created(bot)
    bot.tavus.set_progress("r0001", "30/100")
    await bot.services.reconciler.round()
    before = await updated_at(bot, request_id)

    await bot.services.reconciler.round()

    assert await updated_at(bot, request_id) == before


async def test_a_result_in_the_listing_is_confirmed_with_get_then_announced(bot: Bot) -> None:
    await created(bot)
    bot.tavus.set_status("r0001", "completed")
    gets = len(bot.tavus.gets)

    await bot.services.reconciler.round()

    assert bot.tavus.gets[gets:] == ["r0001"]
    await eventually(lambda: any("is ready" in m.text for m in bot.slack.messages))


async def test_a_replica_the_listing_does_not_show_is_asked_about(bot: Bot) -> None:
    await created(bot)
    hidden = bot.tavus.replicas.pop("r0001")
    bot.tavus.gets.clear()
    await bot.services.reconciler.round()  # GET answers 400: logged, the round goes on
    assert bot.tavus.gets == ["r0001"]
    bot.tavus.replicas["r0001"] = hidden


async def test_an_unreadable_listing_falls_back_to_asking_each(bot: Bot) -> None:
    await created(bot)
    bot.tavus.set_progress("r0001", "70/100")
    bot.tavus.garble_list = True
    bot.tavus.gets.clear()
    await bot.services.reconciler.round()
    assert bot.tavus.gets == ["r0001"]
    record = await bot.services.storage.run(store.get_request, 1)
    assert record.training_progress == "70/100"
