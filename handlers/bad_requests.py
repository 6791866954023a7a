"""Answer 400, not 500, to a Slack request whose payload is not JSON.

Bolt parses the body before it checks anything else and lets the JSON error escape, which
aiohttp turns into a 500 and a traceback in the log.
"""

from __future__ import annotations

import json
import logging

from aiohttp import web
from aiohttp.typedefs import Handler

logger = logging.getLogger(__name__)


def register(web_app: web.Application, slack_path: str) -> None:
    @web.middleware
    async def malformed_slack_payload(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except json.JSONDecodeError as error:
            if request.path != slack_path:
                raise
            logger.warning("Unreadable Slack payload from %s: %s", request.remote, error)
            return web.json_response({"error": "malformed payload"}, status=400)

    web_app.middlewares.append(malformed_slack_payload)
