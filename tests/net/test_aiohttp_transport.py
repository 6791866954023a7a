"""net.aiohttp_transport: httpx requests carried by aiohttp, through the proxy the environment
names (read once, not per request)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from aiohttp import web

from net.aiohttp_transport import AiohttpTransport, proxy_for

PROXIES = {"http": "http://proxy.test:3128", "https": "http://proxy.test:3129"}


@pytest.mark.parametrize(
    ("url", "proxies", "expected"),
    [
        ("https://tavusapi.com/v2/replicas", PROXIES, "http://proxy.test:3129"),
        ("http://tavus.test/v2/replicas", PROXIES, "http://proxy.test:3128"),
        ("https://tavusapi.com/", {"all": "http://all.test:1"}, "http://all.test:1"),
        ("https://tavusapi.com/", {}, None),
        ("https://tavusapi.com/", {**PROXIES, "no": "tavusapi.com"}, None),
        ("https://api.tavusapi.com/", {**PROXIES, "no": ".tavusapi.com"}, None),
        ("https://other.com/", {**PROXIES, "no": "tavusapi.com"}, "http://proxy.test:3129"),
        ("https://tavusapi.com/", {**PROXIES, "no": "*"}, None),
    ],
)
def test_the_proxy_is_chosen_as_httpx_would(
    url: str, proxies: dict[str, str], expected: str | None
) -> None:
    assert proxy_for(httpx.URL(url), proxies) == expected


@pytest.fixture
async def proxy() -> AsyncIterator[tuple[str, list[str]]]:
    """An HTTP proxy that answers every request itself: the absolute URLs it was asked for."""
    asked: list[str] = []

    async def answer(request: web.Request) -> web.Response:
        asked.append(str(request.url))
        return web.json_response({"via": "proxy"})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}", asked
    await runner.cleanup()


async def test_requests_go_through_the_proxy_the_environment_names(
    proxy: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, asked = proxy
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", url)
    transport = AiohttpTransport()
    monkeypatch.delenv("HTTP_PROXY")  # read once, when the transport was made
    try:
        async with httpx.AsyncClient(transport=transport) as client:
            response = await client.get("http://tavus.test/v2/replicas/r1")
    finally:
        await transport.aclose()
    assert response.json() == {"via": "proxy"}
    assert asked == ["http://tavus.test/v2/replicas/r1"]


async def test_no_proxy_in_the_environment_connects_directly(
    proxy: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, asked = proxy
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    transport = AiohttpTransport()
    try:
        async with httpx.AsyncClient(transport=transport) as client:
            response = await client.get(f"{url}/direct")
    finally:
        await transport.aclose()
    assert response.json() == {"via": "proxy"}  # the test server answered, directly
    assert asked == [f"{url}/direct"]
