"""Start-up: the operator learns at once when Slack or Tavus refuses the credentials; and
every door in handlers/ is wired."""

from __future__ import annotations

import importlib
import logging
import pkgutil
from pathlib import Path

import httpx
import pytest

import handlers
from server.app import DOORS
from tests.conftest import Bot, eventually, make_settings
from tests.fakes.fake_slack import FakeSlack
from tests.fakes.fake_tavus import FakeTavus
from tests.test_bot import run_up_to_serving


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


# Modules `python bot.py` must not import to serve: each costs start-up time for something
# this bot does not run.
LEFT_OUT_OF_START_UP = (
    # httpx's command-line client (server/__init__.py refuses it)
    "httpx._main",
    "rich",
    "pygments",
    # Socket Mode's client: only with SLACK_APP_TOKEN
    "slack_bolt.adapter.socket_mode.async_handler",
    # The operator's commands (`python bot.py export-audit | backup | check`): ~2 ms
    "server.export",
    "server.backup",
    "server.check",
    # python-dotenv: only when there is a .env (~2 ms)
    "dotenv",
    # The simulated Tavus: only with TAVUS_DRY_RUN (~1 ms)
    "tavus.simulated",
    # The S3 media store and boto3: only with MEDIA_STORE=s3 (~0.1 s)
    "media_relay.s3_store",
    "boto3",
)

# `python bot.py` up to serving, in a new interpreter: web.run_app returns at once.
START_UP = """
import json, runpy, sys
from aiohttp import web

web.run_app = lambda app, **options: None
try:
    runpy.run_path(sys.argv[1], run_name="__main__")
except SystemExit as stop:
    code = stop.code
import httpx
import sqlite_utils.db

print(json.dumps({
    "exit": code,
    "imported": [name for name in sys.argv[2:] if sys.modules.get(name) is not None],
    "httpx": httpx.Client().__class__.__name__,
    # server/library_import.py: never compiled, not even by a new database's schema
    "virtual_table_pattern_compiled": sqlite_utils.db._virtual_table_using_re.is_compiled,
}))
"""


def test_start_up_leaves_out_what_the_bot_does_not_run(tmp_path: Path) -> None:
    # All of start-up but serving (settings, a new database made, the app built), with no
    # .env around (the working directory is tmp_path): none of LEFT_OUT_OF_START_UP is
    # imported, httpx works without its CLI, and sqlite-utils' slow pattern waits for a use.
    assert run_up_to_serving(tmp_path, START_UP, *LEFT_OUT_OF_START_UP) == {
        "exit": 0,
        "imported": [],
        "httpx": "Client",
        "virtual_table_pattern_compiled": False,
    }
