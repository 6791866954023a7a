"""Slow clients against the running bot: a request must arrive within REQUEST_SECONDS, and the
connections of those that dawdle are closed while everyone else is served."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from aiohttp import web

from handlers import bodies
from server import http as http_server
from tests.conftest import BotFactory
from tests.raw_http import port_of, request_head, send_in_parts, status_of, trickle

DEADLINE = 1.0
SLOW_HEAD = request_head("GET", "/healthz", {"x-padding": "p" * 200})


@pytest.fixture(autouse=True)
def short_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bodies, "REQUEST_SECONDS", DEADLINE)


async def test_slow_heads_are_closed_after_the_deadline_while_health_answers(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot()
    port = port_of(bot.url)
    slow = [
        asyncio.create_task(trickle(port, SLOW_HEAD, interval=0.2, limit=10 * DEADLINE))
        for _ in range(50)
    ]
    latencies = []
    async with httpx.AsyncClient(timeout=5) as http:
        while not all(task.done() for task in slow):
            started = time.monotonic()
            response = await http.get(f"{bot.url}/healthz")
            latencies.append(time.monotonic() - started)
            assert response.status_code in (200, 503)  # answered, whatever the verdict
            await asyncio.sleep(0.1)
    results = await asyncio.gather(*slow)
    held = [seconds for seconds, _ in results]
    assert [answer for _, answer in results] == [b""] * len(results)  # closed, not answered

    # Closed by the server at the deadline (the head would take 50 s at this pace)...
    assert min(held) >= DEADLINE * 0.9, held
    assert max(held) < DEADLINE + 1.5, held
    # ...and meanwhile /healthz kept answering at once.
    assert len(latencies) >= 5
    assert max(latencies) < 0.5, latencies


async def test_a_slow_head_after_a_response_on_a_kept_alive_connection_is_closed(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot()
    reader, writer = await asyncio.open_connection("127.0.0.1", port_of(bot.url))
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        await reader.readexactly(length)  # the first request is answered, the connection kept
        started = time.monotonic()
        closed = asyncio.create_task(reader.read())
        for byte in b"GET /healthz HTTP/1.1\r\nX-Slow: " + b"s" * 100:
            if closed.done():
                break
            writer.write(bytes([byte]))
            await asyncio.wait([closed], timeout=0.1)
        answer = await asyncio.wait_for(closed, 1)
    finally:
        writer.close()

    assert status_of(head) in (200, 503)
    assert answer == b""  # closed without answering the second request
    assert DEADLINE * 0.9 < time.monotonic() - started < DEADLINE + 1.5


async def test_a_slow_body_is_refused_after_the_deadline(make_bot: BotFactory) -> None:
    bot = await make_bot()
    head = request_head(
        "POST",
        "/tavus/callback/some-token",
        {"content-type": "application/json", "content-length": "1000"},
    )
    # About 0.3 s for the head, then the body would take 2 s more.
    held, response = await trickle(
        port_of(bot.url), head + b"{" * 1000, interval=0.002, limit=10 * DEADLINE
    )

    assert status_of(response) == 408, response
    assert b"request body too slow" in response
    assert DEADLINE < held < DEADLINE + 1.5, held


async def test_a_request_that_arrives_within_the_deadline_is_served(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot()
    head = request_head("GET", "/healthz", {})
    # Slow, but complete in about half the deadline.
    parts = [head[i : i + 8] for i in range(0, len(head), 8)]
    response = await send_in_parts(port_of(bot.url), parts, pause=DEADLINE / 2 / len(parts))

    assert status_of(response) in (200, 503)


async def test_a_slow_handler_is_not_cut_off() -> None:
    """The deadline is for receiving a request; answering may take as long as it takes."""

    async def slow(_: web.Request) -> web.Response:
        await asyncio.sleep(DEADLINE * 1.5)
        return web.Response(text="done")

    app = web.Application()
    app.router.add_get("/slow", slow)
    runner = web.AppRunner(app, **http_server.server_options())
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/slow"
        async with httpx.AsyncClient(timeout=5) as http:
            response = await http.get(url)
    finally:
        await runner.cleanup()

    assert response.text == "done"
