"""httpx over aiohttp: the relay's large downloads, and every Tavus call."""

from __future__ import annotations

import urllib.request
from collections.abc import AsyncIterator, Callable

import aiohttp
import httpx

# NO_PROXY as urllib (and so aiohttp's trust_env) reads it; in CPython, not in typeshed.
_bypassed: Callable[[str, dict[str, str]], bool] = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]


def proxy_for(url: httpx.URL, proxies: dict[str, str]) -> str | None:
    """The proxy for `url` among `proxies` (urllib's reading of HTTP_PROXY, HTTPS_PROXY,
    ALL_PROXY and NO_PROXY, as httpx reads them), or None to connect directly."""
    proxy = proxies.get(url.scheme) or proxies.get("all")
    if proxy is None or _bypassed(url.host, proxies):
        return None
    return proxy


class AiohttpTransport(httpx.AsyncBaseTransport):
    """httpx over aiohttp's HTTP/1.1 client, for large downloads.

    httpx's own transport (httpcore on anyio) reads 64 KiB at a time at a high cost per read:
    about 200 MB/s where curl does 500 (bench/README.md). aiohttp, which the bot runs on anyway,
    keeps up with curl. httpx still builds the requests (the relay follows redirects itself)
    and raises its usual errors; this only moves the bytes.
    """

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None
        # Proxies from the environment, read once. aiohttp's trust_env would look them up, and
        # read ~/.netrc, in a thread for every request: two thread hops per Tavus call.
        self._proxies = urllib.request.getproxies_environment()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._session is None:  # created lazily: aiohttp wants a running loop
            self._session = aiohttp.ClientSession(
                auto_decompress=False,  # httpx decodes Content-Encoding itself
                skip_auto_headers=("User-Agent", "Accept-Encoding"),  # httpx set its own
            )
        timeouts = request.extensions.get("timeout", {})
        try:
            response = await self._session.request(
                request.method,
                str(request.url),
                headers=[(k, v) for k, v in request.headers.multi_items() if k != "host"],
                data=await request.aread() or None,
                allow_redirects=False,
                proxy=proxy_for(request.url, self._proxies),
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    sock_connect=timeouts.get("connect"),
                    sock_read=timeouts.get("read"),
                ),
            )
        except aiohttp.ConnectionTimeoutError as error:
            raise httpx.ConnectTimeout(repr(error), request=request) from error
        except TimeoutError as error:
            raise httpx.ReadTimeout(repr(error), request=request) from error
        except aiohttp.ClientConnectorError as error:
            raise httpx.ConnectError(repr(error), request=request) from error
        except aiohttp.ClientError as error:
            raise httpx.ReadError(repr(error), request=request) from error
        return httpx.Response(
            response.status,
            headers=list(response.raw_headers),
            stream=_AiohttpBody(response, request),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": b""},
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


class _AiohttpBody(httpx.AsyncByteStream):
    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except TimeoutError as error:
            raise httpx.ReadTimeout(repr(error), request=self._request) from error
        except aiohttp.ClientPayloadError as error:  # e.g. the body ended early
            raise httpx.RemoteProtocolError(repr(error), request=self._request) from error
        except aiohttp.ClientError as error:
            raise httpx.ReadError(repr(error), request=self._request) from error

    async def aclose(self) -> None:
        # Closes the connection unless the body was read to the end.
        self._response.release()
