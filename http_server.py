"""What the bot's HTTP server allows a client: how long it may take to send a request, and how
large a body may be.

A client that sends its request a byte at a time would otherwise hold its connection (and a
file descriptor) for as long as it likes; enough of them and /healthz and /slack/events stop
answering. aiohttp has no timeout for the request head, but its keep-alive timer is one: it
starts when a connection opens and again after each response, and when it fires it closes the
connection unless a request is being handled, i.e. unless a complete head has arrived. So
`keepalive_timeout=REQUEST_SECONDS` closes, REQUEST_SECONDS after the connection opened or the
previous response went out, a connection that has not delivered a request head, trickling or
idle. aiohttp has no timeout for bodies either, so the routes that read one use read_body.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
from typing import TypedDict

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from access_log import AccessLogger

# Slack, Tavus and a reverse proxy send a request as soon as they connect, well within this.
# It is also how long an idle keep-alive connection stays open: a proxy that keeps idle
# connections to the bot must drop them sooner (README, "Production").
REQUEST_SECONDS = 10.0
# Open connections (and files) the bot may hold. A soft limit of 1024, a common default, is
# used up by a hundred new slow connections a second; this is not.
OPEN_FILES = 65536


class ServerOptions(TypedDict):
    keepalive_timeout: float
    access_log_class: type[AbstractAccessLogger]


def server_options() -> ServerOptions:
    """Keyword arguments for web.run_app and web.AppRunner. Read when called, so a test can
    shorten REQUEST_SECONDS before it starts a bot."""
    return {"keepalive_timeout": REQUEST_SECONDS, "access_log_class": AccessLogger}


def raise_open_file_limit() -> None:
    """Raise the soft limit on open files towards OPEN_FILES, as far as the hard limit allows
    (systemd, for one, sets soft 1024 and a far higher hard limit, and asks services that need
    more to raise the soft one themselves)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = OPEN_FILES if hard == resource.RLIM_INFINITY else min(OPEN_FILES, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        with contextlib.suppress(ValueError, OSError):  # e.g. macOS caps below the hard limit
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


class BodyRefused(Exception):
    """The body was too large or too slow to arrive; `response()` is the answer to give."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason

    def response(self) -> web.Response:
        answer = web.json_response({"error": self.reason}, status=self.status)
        # The client may still be sending; do not wait for another request from it.
        answer.force_close()
        return answer


async def read_body(request: web.Request, limit: int) -> tuple[web.Request, bytes]:
    """The whole body, however it is sent (at once, in pieces, chunked without a length), if it
    is at most `limit` bytes and arrives within REQUEST_SECONDS; else BodyRefused (413, 408).

    Returns a copy of `request` along with the body: the copy's read() and text() give the body
    again, so a handler further down (Bolt's) reads what was checked here.
    """
    too_large = BodyRefused(413, f"body over {limit // 1024} KiB")
    if request.content_length is not None and request.content_length > limit:
        raise too_large  # said up front: nothing to read
    copy = request.clone(client_max_size=limit)
    try:
        async with asyncio.timeout(REQUEST_SECONDS):
            body = await copy.read()
    except web.HTTPRequestEntityTooLarge:
        raise too_large from None
    except TimeoutError:
        raise BodyRefused(408, "request body too slow") from None
    return copy, body
