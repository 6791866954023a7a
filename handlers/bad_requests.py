"""Bad requests to the Slack route stop here, before Bolt, with one short log line at most.

Bolt logs the whole body of every request that fails its signature check (a stream of
unsigned 1 MiB POSTs fills the disk), and it parses the body before it checks anything, so a
JSON array, deeply nested JSON or a body that is not UTF-8 escapes as a 500 with a traceback.
So this middleware reads the whole body first (at most MAX_BODY_BYTES, within
handlers.bodies.REQUEST_SECONDS), checks Slack's signature itself, then makes sure Bolt can parse
what it will be given. Bolt still runs its own check on what passes.

It also serves the route itself, as Bolt's `web_app()` would, but hands Bolt the request it
already parsed (parsing twice was a tenth of a `/replica`'s CPU).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time

from aiohttp import web
from aiohttp.typedefs import Handler
from multidict import CIMultiDictProxy
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.request.async_request import AsyncBoltRequest

from handlers.bodies import BodyRefused, read_body
from handlers.surface import Surface

logger = logging.getLogger(__name__)

# aiohttp's default body limit, which Bolt's route had: Slack's payloads are far smaller.
MAX_BODY_BYTES = 1024 * 1024
# Slack's rule: a timestamp further than 5 minutes from now is a replay.
SIGNATURE_WINDOW_SECONDS = 5 * 60
# What Bolt's request parsing raises on a body it cannot use: UnicodeDecodeError and JSON
# errors are ValueErrors, an unknown charset a LookupError; a JSON array or string, or an
# object of the wrong shape, fails as AttributeError or TypeError when Bolt reads its fields.
UNPARSEABLE = (ValueError, LookupError, RecursionError, AttributeError, TypeError)
_REASON_CHARS = 120
# Where the guard leaves the Bolt request it parsed, for the route.
PARSED = web.RequestKey("bolt_request", AsyncBoltRequest)


def register(surface: Surface) -> None:
    slack_path = surface.slack_path
    if slack_path is None:
        return  # Socket Mode: Slack's requests come over the WebSocket, never to a route
    signing_secret = surface.settings.slack_signing_secret
    if not signing_secret:
        # An empty key would make every signature computable by anyone.
        raise ValueError("the Slack route needs a signing secret")
    secret = signing_secret.encode()

    @web.middleware
    async def slack_request_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path != slack_path or request.method != "POST":
            return await handler(request)
        try:
            request, body = await read_body(request, MAX_BODY_BYTES)
        except BodyRefused as refused:
            return refused.response()  # the access log line says enough
        problem = signature_problem(secret, body, request.headers, time.time())
        if problem is not None:
            logger.warning("Refused a Slack request from %s: %s", request.remote, problem)
            return web.json_response({"error": "invalid request"}, status=401)
        parsed = await parse_payload(request)
        if isinstance(parsed, str):
            logger.warning("Malformed Slack payload from %s: %s", request.remote, parsed)
            return web.json_response({"error": "malformed payload"}, status=400)
        request[PARSED] = parsed
        return await handler(request)

    async def on_slack_request(request: web.Request) -> web.StreamResponse:
        bolt_request = request.get(PARSED)
        if bolt_request is None:  # the guard parses first; should it not have, parse here
            bolt_request = await to_bolt_request(request)
        return await to_aiohttp_response(await surface.bolt.async_dispatch(bolt_request))

    surface.web_app.middlewares.append(slack_request_guard)
    surface.web_app.router.add_post(slack_path, on_slack_request)


def signature_problem(
    secret: bytes, body: bytes, headers: CIMultiDictProxy[str], now: float
) -> str | None:
    """Why the request is not signed by Slack, or None if it is.

    The check of slack_sdk's SignatureVerifier, on the raw bytes: that one decodes the body
    as UTF-8 first (and raises on a body that is not), and converts the timestamp with int()
    (and raises on one that is not a number).
    """
    timestamp = headers.get("X-Slack-Request-Timestamp")
    signature = headers.get("X-Slack-Signature")
    if timestamp is None or signature is None:
        return "not signed"
    # int() would also take "+1", " 1", "1_0" or 5000 digits (a ValueError past 4300).
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        return "timestamp is not a number"
    if abs(now - int(timestamp)) > SIGNATURE_WINDOW_SECONDS:
        return "timestamp more than 5 minutes from now"
    signed = b"v0:" + timestamp.encode() + b":" + body
    expected = "v0=" + hmac.new(secret, signed, hashlib.sha256).hexdigest()
    # compare_digest raises on non-ASCII str; a non-ASCII signature is simply wrong.
    if not (signature.isascii() and hmac.compare_digest(expected, signature)):
        return "signature does not match"
    return None


async def parse_payload(request: web.Request) -> AsyncBoltRequest | str:
    """The request as Bolt takes it, or why Bolt could not parse it. Runs Bolt's own
    conversion (the one its aiohttp route would run) on the body already read."""
    try:
        return await to_bolt_request(request)
    except UNPARSEABLE as error:
        return f"{type(error).__name__}: {error}"[:_REASON_CHARS]
