"""One record, one line: nothing a request carries can start a log line of its own."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.http_exceptions import BadHttpMessage

from server.log_format import (
    FORMAT,
    JsonFormatter,
    OneLineFormatter,
    OutOfFilesLimiter,
    escape_controls,
    shorten_malformed_http,
)

FORGED = "\n2026-01-01 00:00:00,000 ERROR replica-bot: forged"


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("a\nb", "a\\nb"),
        ("a\r\nb", "a\\r\\nb"),
        ("tab\there", "tab\\there"),
        ("\x1b[31mred", "\\x1b[31mred"),
        ("nul\x00", "nul\\x00"),
        ("del\x7f and next-line\x85", "del\\x7f and next-line\\x85"),
        ("ascii del\x7f", "ascii del\\x7f"),  # ASCII, yet not printable
        ("line\u2028separator\u2029", "line\\u2028separator\\u2029"),
    ],
)
def test_control_characters_are_escaped(text: str, escaped: str) -> None:
    assert escape_controls(text) == escaped
    assert len(escape_controls(text).splitlines()) == 1


@pytest.mark.parametrize("text", ["plain", "é ü 日本 🎬", "back\\slash \\n", ""])
def test_printable_text_is_unchanged(text: str) -> None:
    assert escape_controls(text) == text


def test_escaping_twice_changes_nothing() -> None:
    once = escape_controls("a\nb\\n")
    assert escape_controls(once) == once


def record(message: str, *args: object, exc_info: object = None) -> logging.LogRecord:
    return logging.LogRecord("replica-bot", logging.INFO, __file__, 1, message, args, exc_info)  # type: ignore[arg-type]


def test_formatter_keeps_a_message_on_one_line() -> None:
    formatted = OneLineFormatter(FORMAT).format(record("path %s", "/x" + FORGED))

    assert formatted.splitlines() == [formatted]
    assert formatted.endswith("replica-bot: path /x" + FORGED.replace("\n", "\\n"))


def test_formatter_keeps_tracebacks_on_their_lines() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        exc_info = sys.exc_info()
    formatted = OneLineFormatter(FORMAT).format(record("failed\nhere", exc_info=exc_info))

    first, *traceback = formatted.splitlines()
    assert first.endswith("replica-bot: failed\\nhere")
    assert traceback[0] == "Traceback (most recent call last):"
    assert traceback[-1] == "ValueError: boom"


def test_malformed_http_becomes_one_warning_line() -> None:
    error = BadHttpMessage("Invalid header token:\n\n    b'Bad Header: y'\n         ^")
    entry = logging.LogRecord(
        "aiohttp.server",
        logging.ERROR,
        __file__,
        1,
        "Error handling request from %s",
        ("203.0.113.9",),
        (BadHttpMessage, error, None),
    )

    assert shorten_malformed_http(entry)
    formatted = OneLineFormatter(FORMAT).format(entry)

    assert formatted.splitlines() == [formatted]
    assert formatted.endswith(
        "WARNING aiohttp.server: Malformed HTTP request from 203.0.113.9: Invalid header token"
    )


def test_other_server_errors_keep_their_traceback() -> None:
    try:
        raise RuntimeError("a bug of ours")
    except RuntimeError:
        exc_info = sys.exc_info()
    entry = logging.LogRecord(
        "aiohttp.server", logging.ERROR, __file__, 1, "Error handling request", (), exc_info
    )

    assert shorten_malformed_http(entry)
    assert entry.levelname == "ERROR" and entry.exc_info == exc_info


def accept_failed() -> logging.LogRecord:
    """What asyncio logs for each connection it cannot accept."""
    error = OSError(24, "Too many open files")
    message = "socket.accept() out of system resource\nsocket: <asyncio.TransportSocket fd=7>"
    return logging.LogRecord(
        "asyncio", logging.ERROR, __file__, 1, message, None, (OSError, error, None)
    )


def test_running_out_of_files_is_one_line_a_minute() -> None:
    now = [1000.0]
    limiter = OutOfFilesLimiter(every=60.0, clock=lambda: now[0])
    first = accept_failed()

    assert limiter(first)
    assert [limiter(accept_failed()) for _ in range(5000)] == [False] * 5000
    now[0] += 61
    later = accept_failed()
    assert limiter(later)

    formatter = OneLineFormatter(FORMAT)
    assert formatter.format(first).endswith(
        "ERROR asyncio: Cannot accept connections ([Errno 24] Too many open files);"
        " logged once in 60 s, 0 not logged before"
    )
    assert formatter.format(later).endswith("logged once in 60 s, 5000 not logged before")
    assert "Traceback" not in formatter.format(later)


def test_other_asyncio_records_pass_the_limiter() -> None:
    limiter = OutOfFilesLimiter()
    assert limiter(accept_failed())
    other = logging.LogRecord("asyncio", logging.ERROR, __file__, 1, "Task was destroyed", (), None)

    assert limiter(other) and limiter(other)
    assert other.getMessage() == "Task was destroyed"


def test_failed_accept_retries_count_as_the_same_trouble() -> None:
    limiter = OutOfFilesLimiter()
    assert limiter(accept_failed())
    error = ValueError("Invalid file descriptor: -1")
    retry = logging.LogRecord(
        "asyncio",
        logging.ERROR,
        __file__,
        1,
        "Exception in callback BaseSelectorEventLoop._start_serving(...)\nhandle: <TimerHandle>",
        None,
        (ValueError, error, None),
    )

    assert not limiter(retry)


def test_httpx_request_urls_stay_out_of_the_log() -> None:
    # A relayed file's redirect URLs carry presigned secrets; httpx logs each URL at INFO.
    # Run in a child: configure() changes the process's logging for good.
    import subprocess

    check = (
        "import logging; from server import log_format; log_format.configure(logging.DEBUG);"
        "assert not logging.getLogger('httpx').isEnabledFor(logging.INFO)"
    )
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# -- LOG_FORMAT=json ----------------------------------------------------------------------------


def json_line(entry: logging.LogRecord) -> dict[str, Any]:
    line = JsonFormatter().format(entry)
    assert line.splitlines() == [line]  # one record, one line, whatever it carries
    assert line.isprintable()  # no control character or line separator, not even escaped ones
    parsed: dict[str, Any] = json.loads(line)
    return parsed


def test_json_line_has_time_level_logger_and_message() -> None:
    entry = record("created %s for %s", "r1", "Jane")

    parsed = json_line(entry)

    assert parsed == {
        "time": parsed["time"],
        "level": "INFO",
        "logger": "replica-bot",
        "message": "created r1 for Jane",
    }
    assert parsed["time"].endswith("Z")
    when = datetime.fromisoformat(parsed["time"].replace("Z", "+00:00"))
    assert when.utcoffset() == datetime.now(UTC).utcoffset()
    assert abs(when.timestamp() - entry.created) < 0.001


@pytest.mark.parametrize(
    "text",
    [
        FORGED,
        "a\r\nb",
        "\x1b[31mred\x00",
        "del\x7f and next-line\x85",
        "line\u2028separator\u2029",
        "lone surrogate \udc80",  # a path aiohttp could not decode
        'quotes " and back\\slash',
    ],
)
def test_json_line_escapes_what_could_break_the_line_and_keeps_the_text(text: str) -> None:
    parsed = json_line(record("path %s", "/x" + text))
    assert parsed["message"] == "path /x" + text


def test_json_line_keeps_other_text_readable() -> None:
    line = JsonFormatter().format(record("é ü 日本 🎬"))
    assert "é ü 日本 🎬" in line
    assert line.encode("utf-8")  # always encodable, surrogates included


def test_json_line_includes_the_traceback_on_the_same_line() -> None:
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        exc_info = sys.exc_info()

    parsed = json_line(record("failed\nhere", exc_info=exc_info))

    assert parsed["message"] == "failed\nhere"
    lines = parsed["exception"].splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert lines[-2:] == ["ValueError: boom", "second line"]


def test_json_line_without_an_exception_has_no_exception_field() -> None:
    assert "exception" not in json_line(record("fine"))


def test_configure_json_writes_one_json_object_per_line_to_stderr() -> None:
    # In a child: configure() changes the process's logging for good.
    import subprocess

    script = (
        "import logging\n"
        "from server import log_format\n"
        "from settings import LogFormat\n"
        "log_format.configure(logging.INFO, LogFormat.JSON)\n"
        "logging.getLogger('replica-bot').info('one\\ntwo')\n"
        "logging.getLogger('replica-bot').debug('not at INFO')\n"
        "try:\n"
        "    1 / 0\n"
        "except ZeroDivisionError:\n"
        "    logging.getLogger('replica-bot').exception('broke')\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    first, second = (json.loads(line) for line in result.stderr.splitlines())
    assert (first["level"], first["logger"], first["message"]) == (
        "INFO",
        "replica-bot",
        "one\ntwo",
    )
    assert (second["level"], second["message"]) == ("ERROR", "broke")
    assert second["exception"].endswith("ZeroDivisionError: division by zero")


def test_configure_text_is_the_default() -> None:
    import subprocess

    script = (
        "import logging\n"
        "from server import log_format\n"
        "log_format.configure(logging.INFO)\n"
        "logging.getLogger('replica-bot').info('plain')\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stderr.endswith(" INFO replica-bot: plain\n")
