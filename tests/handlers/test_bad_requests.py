"""Bad requests to `POST /slack/events`: refused before Bolt, with one short log line at most.

Refusals are 401 (not signed by Slack), 400 (signed but unparseable) or 413 (too large); none
is a 500, and no log line carries the body.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy
from slack_bolt.request.async_request import AsyncBoltRequest

from handlers import bad_requests
from handlers.bad_requests import signature_problem
from tests.conftest import SIGNING_SECRET, Bot, signed_headers
from tests.raw_http import port_of, request_head, send_in_parts, status_of

MARKER = "BODY-MARKER"
DEEPLY_NESTED = "[" * 100_000 + "]" * 100_000
NOT_A_NUMBER = "timestamp is not a number"
STALE = "timestamp more than 5 minutes from now"


# Where a request to the Slack route can log from: our handlers, Bolt, aiohttp's server (not
# its access log, one line per request whatever the request).
REQUEST_LOGGERS = ("handlers.", "slack_bolt", "aiohttp.server", "aiohttp.web")


def bot_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """What the bot logged about the request, but for the access log line."""
    return [record for record in caplog.records if record.name.startswith(REQUEST_LOGGERS)]


def signed_bytes_headers(body: bytes, content_type: str) -> dict[str, str]:
    """Slack's signature over raw bytes (conftest's helper takes text)."""
    timestamp = str(int(time.time()))
    base = b"v0:" + timestamp.encode() + b":" + body
    signature = "v0=" + hmac.new(SIGNING_SECRET.encode(), base, hashlib.sha256).hexdigest()
    return {
        "content-type": content_type,
        "x-slack-request-timestamp": timestamp,
        "x-slack-signature": signature,
    }


async def post(bot: Bot, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    response = await bot.http.post(f"{bot.url}/slack/events", content=body, headers=headers)
    return response.status_code, response.text


# -- not signed by Slack: 401, one short line, no body in the log ---------------------------


async def test_unsigned_request_adds_one_short_line_without_the_body(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    body = f"payload={MARKER}" + "x" * 512 * 1024
    response = await bot.slack_request(body, "application/x-www-form-urlencoded", signed=False)

    assert response.status_code == 401
    assert response.json() == {"error": "invalid request"}
    lines = bot_lines(caplog)
    assert [record.levelname for record in lines] == ["WARNING"], [r.getMessage() for r in lines]
    assert lines[0].getMessage() == (
        "Refused a Slack request from 127.0.0.1: signature does not match"
    )
    assert MARKER not in caplog.text and "v0=0000" not in caplog.text


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "not signed"),
        ({"x-slack-signature": "v0=ab"}, "not signed"),
        ({"x-slack-request-timestamp": "1", "x-slack-signature": "v0=ab"}, STALE),
        # int() would raise on these (or take them): Bolt's own check answered 500.
        ({"x-slack-request-timestamp": "abc", "x-slack-signature": "v0=ab"}, NOT_A_NUMBER),
        ({"x-slack-request-timestamp": "9" * 5000, "x-slack-signature": "v0=ab"}, NOT_A_NUMBER),
        ({"x-slack-request-timestamp": "+1", "x-slack-signature": "v0=ab"}, NOT_A_NUMBER),
    ],
)
async def test_missing_or_odd_signature_headers_are_401(
    bot: Bot, caplog: pytest.LogCaptureFixture, headers: dict[str, str], reason: str
) -> None:
    caplog.set_level(logging.DEBUG)
    status, text = await post(bot, b"command=%2Freplica", headers)

    assert status == 401, text
    assert [record.getMessage() for record in bot_lines(caplog)] == [
        f"Refused a Slack request from 127.0.0.1: {reason}"
    ]


async def test_a_signature_that_is_not_ascii_is_401(bot: Bot) -> None:
    body = b"command=%2Freplica"
    headers = signed_bytes_headers(body, "application/x-www-form-urlencoded")
    headers["x-slack-signature"] = "v0=\u00e9"  # compare_digest raises on non-ASCII text
    head = request_head("POST", "/slack/events", {**headers, "content-length": str(len(body))})
    response = await send_in_parts(port_of(bot.url), [head + body])

    assert status_of(response) == 401


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"[]", "application/json"),
        (DEEPLY_NESTED.encode(), "application/json"),
        (b"payload=" + b"%5B" * 50_000, "application/x-www-form-urlencoded"),
        (b"\xff\xfe{}", "application/json"),
    ],
    ids=["json-array", "deeply-nested", "nested-payload", "not-utf-8"],
)
async def test_unsigned_unparseable_bodies_are_401_not_500(
    bot: Bot, caplog: pytest.LogCaptureFixture, body: bytes, content_type: str
) -> None:
    caplog.set_level(logging.DEBUG)
    headers = {
        "content-type": content_type,
        "x-slack-request-timestamp": str(int(time.time())),
        "x-slack-signature": "v0=" + "0" * 64,
    }
    status, _ = await post(bot, body, headers)

    assert status == 401
    assert len(bot_lines(caplog)) == 1
    assert not [record for record in caplog.records if record.exc_info]


# -- signed but unparseable: 400, one line, no traceback ------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        (b"[]", "application/json", "AttributeError"),
        (b'"text"', "application/json", "AttributeError"),
        (b'{"authorizations": 5}', "application/json", "TypeError"),
        (DEEPLY_NESTED.encode(), "application/json", "RecursionError"),
        (b"payload=%5B1%5D", "application/x-www-form-urlencoded", "AttributeError"),
        (b"payload=not-json", "application/x-www-form-urlencoded", "JSONDecodeError"),
        (b'{"type": "\xff"}', "application/json", "UnicodeDecodeError"),
        (b"{}", "application/json; charset=no-such-charset", "LookupError"),
    ],
    ids=[
        "json-array",
        "json-string",
        "wrong-shape",
        "deeply-nested",
        "payload-array",
        "payload-not-json",
        "not-utf-8",
        "unknown-charset",
    ],
)
async def test_signed_unparseable_bodies_are_400_with_one_line(
    bot: Bot, caplog: pytest.LogCaptureFixture, body: bytes, content_type: str, reason: str
) -> None:
    caplog.set_level(logging.DEBUG)
    status, text = await post(bot, body, signed_bytes_headers(body, content_type))

    assert status == 400, text
    assert json.loads(text) == {"error": "malformed payload"}
    lines = bot_lines(caplog)
    assert len(lines) == 1, [record.getMessage() for record in lines]
    message = lines[0].getMessage()
    assert message.startswith(f"Malformed Slack payload from 127.0.0.1: {reason}")
    assert len(message) < 200
    assert not [record for record in caplog.records if record.exc_info]


# -- too large: 413, nothing logged but the access line -------------------------------------


async def test_oversized_body_is_413_and_not_logged(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    body = MARKER + "x" * (1024 * 1024)
    response = await bot.slack_request(body, "application/x-www-form-urlencoded")

    assert response.status_code == 413
    assert bot_lines(caplog) == []
    assert MARKER not in caplog.text


async def test_oversized_chunked_body_without_a_length_is_413(bot: Bot) -> None:
    async def pieces() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"x" * 64 * 1024  # 1.25 MiB in all

    response = await bot.http.post(
        f"{bot.url}/slack/events",
        content=pieces(),
        headers=signed_headers("", "application/x-www-form-urlencoded"),
    )

    assert response.status_code == 413


# -- what Slack sends still reaches Bolt ----------------------------------------------------


async def test_signed_body_sent_chunked_in_pieces_reaches_bolt(bot: Bot) -> None:
    body = json.dumps({"token": "t", "challenge": "c-123", "type": "url_verification"})
    half = len(body) // 2

    async def pieces() -> AsyncIterator[bytes]:
        yield body[:half].encode()
        yield body[half:].encode()

    response = await bot.http.post(
        f"{bot.url}/slack/events",
        content=pieces(),
        headers=signed_headers(body, "application/json"),
    )

    assert response.status_code == 200, response.text
    assert response.json() == {"challenge": "c-123"}


async def test_bolt_gets_the_request_the_guard_parsed_not_a_second_parse(
    bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    parses = 0
    parse = bad_requests.to_bolt_request  # type: ignore[attr-defined]

    async def counted(request: web.Request) -> AsyncBoltRequest:
        nonlocal parses
        parses += 1
        return await parse(request)

    monkeypatch.setattr(bad_requests, "to_bolt_request", counted)
    body = json.dumps({"token": "t", "challenge": "c-9", "type": "url_verification"})

    response = await bot.http.post(
        f"{bot.url}/slack/events", content=body, headers=signed_headers(body, "application/json")
    )

    assert response.json() == {"challenge": "c-9"}
    assert parses == 1


async def test_other_methods_on_the_slack_path_are_left_to_the_router(bot: Bot) -> None:
    response = await bot.http.get(f"{bot.url}/slack/events")

    assert response.status_code == 405


# -- the signature check itself -------------------------------------------------------------


def test_signature_check_agrees_with_slack_sdk() -> None:
    body = "payload=" + "é" * 10
    headers = signed_headers(body, "application/x-www-form-urlencoded")
    now = float(headers["x-slack-request-timestamp"])
    proxy = CIMultiDictProxy(CIMultiDict(headers))

    assert signature_problem(SIGNING_SECRET.encode(), body.encode(), proxy, now) is None
    assert signature_problem(b"other", body.encode(), proxy, now) == "signature does not match"
    assert signature_problem(SIGNING_SECRET.encode(), body.encode(), proxy, now + 301) == STALE
    assert signature_problem(SIGNING_SECRET.encode(), body.encode(), proxy, now - 301) == STALE
    assert signature_problem(SIGNING_SECRET.encode(), body.encode(), proxy, now + 300) is None
