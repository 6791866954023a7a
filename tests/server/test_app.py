"""Start-up: the operator learns at once when Slack or Tavus refuses the credentials; and
every door in handlers/ is wired."""

from __future__ import annotations

import importlib
import logging
import pkgutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

import handlers
from server.app import DOORS
from tests.conftest import Bot, eventually, make_settings
from tests.fakes.fake_slack import FakeSlack
from tests.fakes.fake_tavus import FakeTavus


async def test_rejected_credentials_are_logged_for_the_operator(
    tmp_path: Path,
    fake_slack: FakeSlack,
    fake_tavus: FakeTavus,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = make_settings(
        tmp_path,
        f"{fake_slack.url}/api/",
        fake_tavus.url,
        slack_bot_token="xoxb-revoked",
        tavus_api_key="wrong-key",
    )
    caplog.set_level(logging.INFO)
    async with httpx.AsyncClient() as http:
        bot = Bot(settings=settings, slack=fake_slack, tavus=fake_tavus, http=http)
        await bot.start()
        try:
            await bot.settle()
            errors = await eventually(
                lambda: [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
            )
        finally:
            await bot.stop()
    assert "Slack rejected SLACK_BOT_TOKEN: invalid_auth" in errors
    assert "Tavus rejected TAVUS_API_KEY (HTTP 401): Invalid access token" in errors
    assert not any("wrong-key" in m or "xoxb-revoked" in m for m in caplog.messages)


async def test_good_credentials_log_the_workspace(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    await bot.restart()
    await bot.settle()
    assert any(m.startswith("Slack: connected as bot") for m in caplog.messages)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_every_module_with_register_is_wired() -> None:
    # A module in handlers/ with register() serves a surface; one left out of DOORS would
    # import and type-check fine and simply never answer.
    with_register = {
        info.name
        for info in pkgutil.iter_modules(handlers.__path__, "handlers.")
        if callable(getattr(importlib.import_module(info.name), "register", None))
    }
    wired = [door.register.__module__ for door in DOORS]
    assert len(wired) == len(set(wired)), "a door is wired twice"
    assert set(wired) == with_register
    assert {"handlers.commands", "handlers.media", "handlers.bad_requests"} <= with_register


def test_start_up_leaves_out_what_the_bot_does_not_run() -> None:
    # In a new interpreter, as `python bot.py` starts: httpx's command-line client (rich,
    # pygments) and the Socket Mode client (only with SLACK_APP_TOKEN) are not imported, and
    # httpx works without its CLI.
    unwanted = ("httpx._main", "rich", "pygments", "slack_bolt.adapter.socket_mode.async_handler")
    code = (
        "import sys, bot, httpx; "
        f"print([m for m in {unwanted!r} if sys.modules.get(m) is not None]); "
        "print(httpx.Client().__class__.__name__)"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["[]", "Client"]
