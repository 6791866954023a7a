"""Never lose a result: polling, ambiguous creates, restarts (fault injection, no network)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.record import ReplicaRecord
from domain.request import Mode, ReplicaRequest, SlackOrigin
from domain.states import State
from replicas import ambiguous as ambiguous_module
from storage import replicas as store
from tests.conftest import Bot, BotFactory, eventually
from tests.handlers.test_replica_form import VIDEO

FAST_POLL = {"poll_interval_seconds": 0.2}


async def submit_video(bot: Bot) -> None:
    view_id, view = await bot.open_form()
    await bot.submit(view_id, view, VIDEO)
    await eventually(lambda: bot.tavus.creates)
    await bot.settle()


async def request(bot: Bot, request_id: int = 1) -> ReplicaRecord:
    return await bot.services.storage.run(store.get_request, request_id)


async def replies(bot: Bot) -> list[str]:
    return [m.text for m in bot.slack.messages if m.thread_ts]


async def test_without_a_callback_the_result_arrives_by_polling(make_bot: BotFactory) -> None:
    bot = await make_bot(**FAST_POLL)
    await submit_video(bot)
    assert (await request(bot)).state is State.TRAINING
    bot.tavus.set_status("r0001", "completed")
    await eventually(lambda: any("is ready" in m.text for m in bot.slack.messages))
    await bot.settle()
    assert (await request(bot)).state is State.SUCCEEDED
    # Later rounds find nothing open: one announcement, and no more polling of it.
    polled = len(bot.tavus.gets)
    await eventually(lambda: bot.services.reconciler.rounds >= 3)
    assert len(bot.tavus.gets) == polled
    assert sum("is ready" in m.text for m in bot.slack.messages) == 1


async def test_polling_and_callback_together_announce_once(make_bot: BotFactory) -> None:
    bot = await make_bot(**FAST_POLL)
    await submit_video(bot)
    token = bot.callback_token()
    bot.tavus.set_status("r0001", "error", "There was an issue downloading your video file")
    await bot.tavus_callback(
        token, {"replica_id": "r0001", "status": "error", "error_message": "download"}
    )
    await eventually(lambda: bot.services.reconciler.rounds >= 2)
    await bot.settle()
    assert (await request(bot)).state is State.FAILED
    assert sum("failed" in text for text in await replies(bot)) == 1


async def test_without_public_url_no_callback_url_is_sent_and_polling_delivers(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot(public_url=None, **FAST_POLL)
    await submit_video(bot)
    assert "callback_url" not in bot.tavus.creates[0]
    bot.tavus.set_status("r0001", "ready")
    await eventually(lambda: any("is ready" in m.text for m in bot.slack.messages))


async def test_tavus_errors_while_polling_back_off_and_lose_nothing(make_bot: BotFactory) -> None:
    bot = await make_bot(**FAST_POLL)
    await submit_video(bot)
    bot.tavus.fail_reads = 6  # GET answers 503 for a while (each read is retried twice)
    bot.tavus.set_status("r0001", "completed")
    await eventually(lambda: any("is ready" in m.text for m in bot.slack.messages), seconds=10)


async def test_a_create_that_times_out_after_tavus_got_it_is_found_not_resent(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot(tavus_timeout_seconds=0.3, **FAST_POLL)
    # An older replica with the same name must not be mistaken for this request's.
    bot.tavus.add_replica("rold", "Jane – sales", datetime.now(UTC) - timedelta(days=3))
    bot.tavus.answer_next_create(200, {"replica_id": "r0001"}, delay=1.0, creates=True)
    await submit_video(bot)
    await eventually(lambda: any("asking Tavus whether" in m.text for m in bot.slack.messages))
    await eventually(lambda: bot.tavus.list_requests > 0)
    await eventually(
        lambda: any("Tavus did create" in text for text in [m.text for m in bot.slack.messages])
    )
    record = await request(bot)
    assert record.state is State.TRAINING and record.replica_id == "r0001"
    assert len(bot.tavus.creates) == 1  # exactly one replica exists: never re-sent
    adopted = next(m for m in bot.slack.messages if "Tavus did create" in m.text)
    assert "r0001" in adopted.text and adopted.text.startswith("<@U1>")
    # And it is then followed like any other: its result arrives by polling.
    bot.tavus.set_status("r0001", "completed")
    await eventually(lambda: any("is ready" in m.text for m in bot.slack.messages))


async def test_an_ambiguous_create_looks_up_only_the_listed_replicas_of_its_name(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot(tavus_timeout_seconds=0.3, **FAST_POLL)
    for number in range(3):
        bot.tavus.add_replica(f"rother{number}", f"Someone else {number}", datetime.now(UTC))
    statements: list[str] = []
    await bot.services.storage.run(lambda db: db.conn.set_trace_callback(statements.append))
    bot.tavus.answer_next_create(200, {"replica_id": "r0001"}, delay=1.0, creates=True)
    await submit_video(bot)
    await eventually(lambda: any("Tavus did create" in m.text for m in bot.slack.messages))

    lookups = [sql for sql in statements if "WHERE replica_id IN" in sql]
    assert lookups and all("'r0001'" in sql for sql in lookups)
    assert not any("rother" in sql for sql in lookups)  # other names are never looked up


async def given_up(make_bot: BotFactory, monkeypatch: pytest.MonkeyPatch) -> Bot:
    """A bot whose create got a 502 and which found no replica for it in Tavus's list."""
    monkeypatch.setattr(ambiguous_module, "UNCERTAIN_GIVE_UP", timedelta(0))
    bot = await make_bot(**FAST_POLL)
    bot.tavus.answer_next_create(502, {"error": "bad gateway"})
    await submit_video(bot)
    await eventually(lambda: any("nothing was created" in m.text for m in bot.slack.messages))
    return bot


async def test_an_ambiguous_create_that_made_nothing_is_reported_not_created(
    make_bot: BotFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot = await given_up(make_bot, monkeypatch)
    record = await request(bot)
    assert record.state is State.NOT_CREATED and len(bot.tavus.creates) == 1


async def test_a_callback_for_an_ambiguous_create_names_its_replica(bot: Bot) -> None:
    bot.tavus.answer_next_create(500, "oops", creates=True)
    await submit_video(bot)
    assert (await request(bot)).state is State.UNCERTAIN
    response = await bot.tavus_callback(
        bot.callback_token(), {"replica_id": "r0001", "status": "started"}
    )
    assert response.status_code == 202
    await bot.settle()
    record = await request(bot)
    assert record.state is State.TRAINING and record.replica_id == "r0001"


async def test_two_ambiguous_creates_of_the_same_name_each_get_their_own(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot(tavus_timeout_seconds=0.3)
    for _ in range(2):
        bot.tavus.answer_next_create(200, {}, delay=1.0, creates=True)
        await submit_video(bot)
    await bot.services.reconciler.round()
    await bot.settle()
    first, second = await request(bot, 1), await request(bot, 2)
    assert {first.replica_id, second.replica_id} == {"r0001", "r0002"}
    assert first.replica_id == "r0001"  # the earlier request claims the earlier replica


async def test_a_request_saved_but_never_sent_is_sent_after_a_restart(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot(**FAST_POLL)
    request_video = ReplicaRequest(
        replica_name="Jane", mode=Mode.VIDEO, train_video_url="https://cdn.example.com/j.mp4"
    )
    # The process stops right after the form closed: recorded, never sent.
    await bot.services.workflow.accept("V1", request_video, SlackOrigin("U1", "C1"))
    await bot.restart()
    await eventually(lambda: bot.tavus.creates)
    await bot.settle()
    assert len(bot.tavus.creates) == 1
    assert (await request(bot)).state is State.TRAINING
    # The resumed request got a fresh callback token, which works.
    bot.tavus.set_status("r0001", "completed")
    response = await bot.tavus_callback(
        bot.callback_token(), {"replica_id": "r0001", "status": "ready"}
    )
    assert response.status_code == 202


async def test_a_create_cut_off_by_a_restart_is_reconciled_not_resent(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot(**FAST_POLL)
    bot.tavus.answer_next_create(200, {"replica_id": "r0001"}, delay=5, creates=True)
    view_id, view = await bot.open_form()
    await bot.submit(view_id, view, VIDEO)
    await eventually(lambda: bot.tavus.creates)
    await bot.restart()  # the create is cut off in flight
    await eventually(lambda: any("Tavus did create" in m.text for m in bot.slack.messages))
    assert len(bot.tavus.creates) == 1
    assert (await request(bot)).replica_id == "r0001"


async def test_a_replica_found_after_giving_up_is_adopted_by_its_callback(
    make_bot: BotFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot = await given_up(make_bot, monkeypatch)
    # Tavus had created it after all, and lists it late; its callback still finds the request.
    bot.tavus.replicas["rlate"] = {"replica_id": "rlate", "replica_name": "Jane – sales"}
    bot.tavus.set_status("rlate", "started")
    response = await bot.tavus_callback(
        bot.callback_token(), {"replica_id": "rlate", "status": "started"}
    )
    assert response.status_code == 202
    await eventually(lambda: any("Tavus did create" in m.text for m in bot.slack.messages))
    record = await request(bot)
    assert record.state is State.TRAINING and record.replica_id == "rlate"
    assert len(bot.tavus.creates) == 1
