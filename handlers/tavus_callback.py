"""`POST /tavus/callback/{token}`: Tavus reports a training result.

Tavus does not sign callbacks, so the unguessable token in the URL is the only proof of
origin, and the body's replica_id must match the one stored for that token.
"""

from __future__ import annotations

import logging

from aiohttp import web

from handlers.bodies import BodyRefused, read_body
from handlers.surface import Surface
from replicas.callbacks import CallbackVerdict
from settings import TAVUS_CALLBACK_PATH

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
HTTP_STATUS = {
    CallbackVerdict.APPLIED: 200,
    CallbackVerdict.DUPLICATE: 200,
    CallbackVerdict.IN_PROGRESS: 200,
    CallbackVerdict.CONFIRMING: 202,
    CallbackVerdict.DEFERRED: 202,
    CallbackVerdict.UNKNOWN_TOKEN: 404,
    CallbackVerdict.MALFORMED: 400,
    CallbackVerdict.REPLICA_MISMATCH: 409,
}


def register(surface: Surface) -> None:
    workflow = surface.workflow

    async def on_tavus_callback(request: web.Request) -> web.Response:
        # The whole body, not what has arrived so far: a body sent in pieces is still one body.
        try:
            _, body = await read_body(request, MAX_BODY_BYTES)
        except BodyRefused as refused:
            return refused.response()
        verdict = await workflow.handle_callback(request.match_info["token"], body)
        if verdict is CallbackVerdict.UNKNOWN_TOKEN:
            logger.warning("Tavus callback with an unknown token from %s", request.remote)
        return web.json_response({"result": verdict.value}, status=HTTP_STATUS[verdict])

    # Mounted in both modes, with or without PUBLIC_URL: a request sent while PUBLIC_URL was
    # set can still be reported here, and without a stored token the route only answers 404.
    surface.web_app.router.add_post(TAVUS_CALLBACK_PATH + "{token}", on_tavus_callback)
