"""What the bot's HTTP server allows a client: how long it may take to send a request, and how
large a body may be.

A client that sends its request a byte at a time would otherwise hold its connection (and a
file descriptor) for as long as it likes; enough of them and /healthz and /slack/events stop
answering. aiohttp has no timeout for the request head, but its keep-alive timer is one: it
starts when a connection opens and again after each response, and when it fires it closes the
connection unless a request is being handled, i.e. unless a complete head has arrived. So
`keepalive_timeout=REQUEST_SECONDS` (handlers/bodies.py) closes, REQUEST_SECONDS after the
connection opened or the previous response went out, a connection that has not delivered a
request head, trickling or idle. aiohttp has no timeout for bodies either, so the routes that
read one use handlers.bodies.read_body.
"""

from __future__ import annotations

import contextlib
import resource
from typing import TypedDict

from aiohttp.abc import AbstractAccessLogger

from handlers import bodies
from server.access_log import AccessLogger

# Open connections (and files) the bot may hold. A soft limit of 1024, a common default, is
# used up by a hundred new slow connections a second; this is not.
OPEN_FILES = 65536


class ServerOptions(TypedDict):
    keepalive_timeout: float
    access_log_class: type[AbstractAccessLogger]


def server_options() -> ServerOptions:
    """Keyword arguments for web.run_app and web.AppRunner. Read when called, so a test can
    shorten REQUEST_SECONDS before it starts a bot."""
    return {"keepalive_timeout": bodies.REQUEST_SECONDS, "access_log_class": AccessLogger}


def raise_open_file_limit() -> None:
    """Raise the soft limit on open files towards OPEN_FILES, as far as the hard limit allows
    (systemd, for one, sets soft 1024 and a far higher hard limit, and asks services that need
    more to raise the soft one themselves)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = OPEN_FILES if hard == resource.RLIM_INFINITY else min(OPEN_FILES, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        with contextlib.suppress(ValueError, OSError):  # e.g. macOS caps below the hard limit
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
