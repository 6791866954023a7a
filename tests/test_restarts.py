"""The bot as a process that is stopped or killed mid-work: nothing is lost or doubled."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import PUBLIC_URL, SIGNING_SECRET, Bot, eventually, make_settings
from tests.fakes.fake_slack import BOT_TOKEN, FakeSlack
from tests.fakes.fake_tavus import API_KEY, FakeTavus
from tests.handlers.test_replica_form import VIDEO
from tests.test_bot import bot_environment, free_port, run_bot


class Process:
    """`python bot.py` on a fixed port and database, which tests stop, kill and restart."""

    def __init__(self, tmp_path: Path, slack: FakeSlack, tavus: FakeTavus) -> None:
        self.port = free_port()
        self.tmp_path = tmp_path
        self.env = bot_environment(
            tmp_path,
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            TAVUS_API_KEY=API_KEY,
            PUBLIC_URL=PUBLIC_URL,
            HOST="127.0.0.1",
            PORT=str(self.port),
            DATABASE_PATH=str(tmp_path / "bot.db"),
            SLACK_API_URL=f"{slack.url}/api/",
            TAVUS_API_URL=tavus.url,
            POLL_INTERVAL_SECONDS="3600",  # only the outbox and start-up work here
        )
        self.process: asyncio.subprocess.Process | None = None
        self.logs: list[str] = []

    async def start(self) -> None:
        self.process = await run_bot(self.tmp_path, self.env)
        async with httpx.AsyncClient() as http:
            for _ in range(200):
                try:
                    await http.get(f"http://127.0.0.1:{self.port}/healthz")
                    return
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
        raise AssertionError("bot did not start")

    async def stop(self, sig: signal.Signals) -> int:
        assert self.process is not None
        self.process.send_signal(sig)
        _, stderr = await asyncio.wait_for(self.process.communicate(), 15)
        self.logs.append(stderr.decode())
        assert self.process.returncode is not None
        return self.process.returncode


@pytest.fixture
async def process(
    tmp_path: Path, fake_slack: FakeSlack, fake_tavus: FakeTavus
) -> AsyncIterator[Process]:
    running = Process(tmp_path, fake_slack, fake_tavus)
    yield running
    if running.process is not None and running.process.returncode is None:
        running.process.kill()
        await running.process.wait()


async def driver(
    process: Process, slack: FakeSlack, tavus: FakeTavus, http: httpx.AsyncClient
) -> Bot:
    """The test harness's Slack and Tavus helpers, aimed at the bot process."""
    settings = make_settings(process.tmp_path, f"{slack.url}/api/", tavus.url)
    return Bot(
        settings=settings,
        slack=slack,
        tavus=tavus,
        http=http,
        url=f"http://127.0.0.1:{process.port}",
    )


async def test_sigterm_while_a_tavus_create_hangs_exits_0_within_10_s(
    process: Process, fake_slack: FakeSlack, fake_tavus: FakeTavus
) -> None:
    fake_tavus.answer_next_create(200, {"replica_id": "r0001"}, delay=12, creates=True)
    await process.start()
    async with httpx.AsyncClient(timeout=10) as http:
        bot = await driver(process, fake_slack, fake_tavus, http)
        view_id, view = await bot.open_form()
        await bot.submit(view_id, view, VIDEO)
        await eventually(lambda: fake_tavus.creates)
    started = time.monotonic()
    assert await process.stop(signal.SIGTERM) == 0, process.logs[-1]
    assert time.monotonic() - started < 10
    # Next start: the cut-off create is reconciled (found by listing), never sent again.
    await process.start()
    await eventually(lambda: any("Tavus did create" in m.text for m in fake_slack.messages), 10)
    assert len(fake_tavus.creates) == 1
    assert await process.stop(signal.SIGTERM) == 0


@pytest.mark.parametrize("posted_before_the_kill", [False, True])
async def test_killed_between_the_result_and_its_post_delivers_once_after_restart(
    process: Process, fake_slack: FakeSlack, fake_tavus: FakeTavus, posted_before_the_kill: bool
) -> None:
    await process.start()
    async with httpx.AsyncClient(timeout=10) as http:
        bot = await driver(process, fake_slack, fake_tavus, http)
        view_id, view = await bot.open_form()
        await bot.submit(view_id, view, VIDEO)
        await eventually(lambda: fake_slack.calls_to("chat.update"))  # root shows "training"
        # Slack stops answering: the result is committed, its post never acknowledged.
        held = fake_slack.hold("chat.postMessage", record_first=posted_before_the_kill)
        fake_tavus.set_status("r0001", "completed")
        response = await bot.tavus_callback(
            bot.callback_token(), {"replica_id": "r0001", "status": "ready"}
        )
        assert response.status_code == 202
        await eventually(lambda: held.waiting)
    assert await process.stop(signal.SIGKILL) == -signal.SIGKILL
    held.release()
    await process.start()
    await eventually(lambda: any("is ready" in m.text for m in fake_slack.messages), 10)
    await asyncio.sleep(0.5)  # time for a duplicate, were there going to be one
    assert sum("is ready" in m.text for m in fake_slack.messages) == 1
    if posted_before_the_kill:
        assert fake_slack.calls_to("conversations.replies")  # it checked before re-posting
    assert await process.stop(signal.SIGTERM) == 0
