"""How log lines are written: one line per record, whatever a request put into it.

Request paths, headers and bodies reach log messages; a newline in one of them would let a
stranger write a line of their own that looks like the bot's. Control characters are written
as escapes (`\\n`, `\\x1b`), so every record starts on a line of its own; tracebacks appended
after it keep their lines.

LOG_FORMAT=json writes each record as one JSON object on one line instead (`JsonFormatter`):
time, level, logger, message, and the traceback when there is one, every control character
and line separator escaped inside its string.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp.http_exceptions import HttpProcessingError

from settings import LogFormat

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# The C0 and C1 control characters, and the two Unicode characters that also end a line
# (str.splitlines splits on all of them).
_CONTROL_CODES = [*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029]
_ESCAPES = {code: chr(code).encode("unicode_escape").decode("ascii") for code in _CONTROL_CODES}
# json.dumps escapes C0 controls itself; these it leaves as they are (ensure_ascii=False keeps
# other text readable), though a line reader may split on them, and lone surrogates (bytes a
# request's text could not decode) would not be UTF-8. Escaped the JSON way, they read back
# as the same characters.
_JSON_ESCAPES = {
    code: f"\\u{code:04x}" for code in [*_CONTROL_CODES, *range(0xD800, 0xE000)] if code >= 0x7F
}
_REASON_CHARS = 100


def escape_controls(text: str) -> str:
    """`text` on one line: control characters as escapes. Backslashes stay as they are, so
    escaping twice changes nothing."""
    if text.isascii() and text.isprintable():
        return text  # most lines: no lookup per character (every access-log field comes here)
    return text.translate(_ESCAPES)


class OneLineFormatter(logging.Formatter):
    """Escapes control characters in the record's own line (asctime to message). Exception
    and stack text, which Formatter.format appends after it, keep their line breaks."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return escape_controls(super().formatMessage(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line: `time` (UTC, ISO 8601, milliseconds), `level`,
    `logger`, `message`; `exception` (the traceback) and `stack` when the record has them."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False).translate(_JSON_ESCAPES)


def shorten_malformed_http(record: logging.LogRecord) -> bool:
    """Filter for aiohttp's server logger: a request aiohttp cannot parse is a stranger's
    mistake, not the bot's, so it becomes one WARNING line with aiohttp's reason instead of
    an ERROR with a traceback that quotes up to 8 KiB of the offending bytes."""
    error = record.exc_info[1] if record.exc_info else None
    if isinstance(error, HttpProcessingError):
        # aiohttp's first line names the problem; the lines after it quote the request.
        reason = error.message.splitlines()[0].rstrip(":") if error.message else ""
        record.msg = "Malformed HTTP request from %s: %s"
        record.args = (_remote(record), reason[:_REASON_CHARS])
        record.exc_info = None
        record.exc_text = None
        if record.levelno > logging.WARNING:
            record.levelno, record.levelname = logging.WARNING, "WARNING"
    return True


class OutOfFilesLimiter:
    """Filter for asyncio's logger: its "socket.accept() out of system resource" ERROR, with a
    traceback, comes for every connection it cannot accept while the process is out of file
    descriptors (thousands a second: Python 3.11 keeps trying the whole backlog, and schedules
    a retry for each, which fail with more tracebacks if the server closes meanwhile). One line
    per `every` seconds, counting the rest, says the same."""

    MESSAGES = (
        "socket.accept() out of system resource",
        "Exception in callback BaseSelectorEventLoop._start_serving",  # only those retries
    )

    def __init__(self, every: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._every = every
        self._clock = clock
        self._quiet_until: float | None = None
        self._dropped = 0

    def __call__(self, record: logging.LogRecord) -> bool:
        if not record.getMessage().startswith(self.MESSAGES):
            return True
        now = self._clock()
        if self._quiet_until is not None and now < self._quiet_until:
            self._dropped += 1
            return False
        error = record.exc_info[1] if record.exc_info else None
        record.msg = "Cannot accept connections (%s); logged once in %.0f s, %d not logged before"
        record.args = (error or "out of system resources", self._every, self._dropped)
        record.exc_info = None
        record.exc_text = None
        self._quiet_until = now + self._every
        self._dropped = 0
        return True


def _remote(record: logging.LogRecord) -> object:
    """The peer address aiohttp passed as the message's only argument."""
    args = record.args
    return args[0] if isinstance(args, tuple) and args else "?"


def configure(level: int, fmt: LogFormat = LogFormat.TEXT) -> None:
    """Log to stderr at `level`, one line per record (text, or a JSON object with `fmt` json);
    malformed HTTP in one line, running out of file descriptors in one line a minute."""
    handler = logging.StreamHandler()
    formatter = JsonFormatter() if fmt is LogFormat.JSON else OneLineFormatter(FORMAT)
    handler.setFormatter(formatter)
    logging.basicConfig(level=level, handlers=[handler])
    logging.getLogger("aiohttp.server").addFilter(shorten_malformed_http)
    # httpx logs every request's full URL at INFO; a relayed file's redirect URLs carry
    # presigned secrets in their query, so only its warnings reach the log.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("asyncio").addFilter(OutOfFilesLimiter())
