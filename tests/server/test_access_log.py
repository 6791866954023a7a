"""The access log never shows the secrets carried in URL paths, and one request is one line
whatever its path holds."""

from __future__ import annotations

import logging
import secrets

import pytest

from server.access_log import loggable_path
from tests.conftest import Bot


def test_callback_tokens_are_redacted() -> None:
    token = secrets.token_urlsafe(32)

    assert loggable_path(f"/tavus/callback/{token}") == "/tavus/callback/<token>"


def test_media_tokens_are_redacted_and_the_name_kept() -> None:
    token = secrets.token_urlsafe(32)

    assert loggable_path(f"/media/{token}/jane.mp4") == "/media/<token>/jane.mp4"
    assert loggable_path(f"/media/{token}") == "/media/<token>"
    assert loggable_path(f"/media/{token}/a/b") == "/media/<token>/a/b"


def test_other_paths_are_logged_as_they_are() -> None:
    assert loggable_path("/slack/events") == "/slack/events"
    assert loggable_path("/healthz") == "/healthz"
    assert loggable_path("/mediafile") == "/mediafile"


async def test_a_newline_in_the_path_cannot_forge_a_line(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    forged = "%0D%0A2026-01-01 00:00:00,000 ERROR replica-bot: forged%E2%80%A8"
    with caplog.at_level(logging.INFO, logger="aiohttp.access"):
        response = await bot.http.get(f"{bot.url}/nothing-here{forged}")

    assert response.status_code == 404
    # The fakes log to aiohttp.access too (the bot warming its voice list meanwhile).
    access = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    [line] = [message for message in access if "/nothing-here" in message]
    assert line.splitlines() == [line]
    escaped = "/nothing-here\\r\\n2026-01-01 00:00:00,000 ERROR replica-bot: forged\\u2028"
    assert f'"GET {escaped}" 404' in line
