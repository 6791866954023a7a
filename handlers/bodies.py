"""Reading a request body within bounds: how large it may be, and how long it may take.

aiohttp has no timeout for bodies, and reads only what has arrived unless asked for all of it;
every route that reads a body goes through read_body.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

# Slack, Tavus and a reverse proxy send a request as soon as they connect, well within this.
# The server gives a request head this long too (server/http.py), and it is how long an idle
# keep-alive connection stays open: a proxy that keeps idle connections to the bot must drop
# them sooner (README, "In production").
REQUEST_SECONDS = 10.0


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
