"""The HTTP access log, with the secret part of Tavus callback URLs left out."""

from __future__ import annotations

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse

CALLBACK_PREFIX = "/tavus/callback/"


def loggable_path(path: str) -> str:
    """The request path as it may appear in logs: callback tokens are secrets."""
    if path.startswith(CALLBACK_PREFIX):
        return CALLBACK_PREFIX + "<token>"
    return path


class AccessLogger(AbstractAccessLogger):
    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        self.logger.info(
            '%s "%s %s" %s %.3fs',
            request.remote,
            request.method,
            loggable_path(request.path),
            response.status,
            time,
        )
