"""The HTTP access log, with the secret part of Tavus callback and media URLs left out.

Every field is a request's own text (aiohttp decodes `%0A` in the path to a newline), so each
is escaped: one request, one line.
"""

from __future__ import annotations

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse

from media_relay import MEDIA_PATH
from server.log_format import escape_controls
from settings import TAVUS_CALLBACK_PATH


def loggable_path(path: str) -> str:
    """The request path as it may appear in logs: callback and media tokens are secrets."""
    if path.startswith(TAVUS_CALLBACK_PATH):
        return TAVUS_CALLBACK_PATH + "<token>"
    if path.startswith(MEDIA_PATH):
        # /media/{token}/{name}: the file name stays, it helps and grants nothing.
        _, slash, name = path[len(MEDIA_PATH) :].partition("/")
        return f"{MEDIA_PATH}<token>{slash}{name}"
    return path


class AccessLogger(AbstractAccessLogger):
    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        self.logger.info(
            '%s "%s %s" %s %.3fs',
            escape_controls(str(request.remote)),
            escape_controls(request.method),
            escape_controls(loggable_path(request.path)),
            response.status,
            time,
        )
