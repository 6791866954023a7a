"""Typed Tavus API errors. Each carries the HTTP status code and the raw response body."""

from __future__ import annotations

import json
import re
from http import HTTPStatus

# Logs get this much of a response body: enough to recognise a proxy's error page.
BODY_LOG_LIMIT = 500
# A plain-text answer this short (one line, no markup) is shown as Tavus's own words.
PLAIN_TEXT_LIMIT = 200
# A plain-text body that is only a status line ("404 page not found", "HTTP/1.1 403
# Forbidden", "Bad Gateway") is some server's default page, not Tavus's words to a requester.
STATUS_LINE = re.compile(r"(?:HTTP/[\d.]+\s+)?[1-5]\d\d\b")
STATUS_PHRASES = frozenset(status.phrase.lower() for status in HTTPStatus)


def error_text(body: str) -> str | None:
    """The human sentence in a Tavus error body: `error` (400) or `message` (401) of a JSON
    object, or a short line of plain text; None for anything else (an HTML page from a proxy
    or firewall, a bare status line, a JSON list, an empty body), which would mean nothing to
    a requester. (Requesters may see what this returns: status codes stay in the log.)"""
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        text = body.strip()
        plain = text and "\n" not in text and "<" not in text and len(text) <= PLAIN_TEXT_LIMIT
        status_only = STATUS_LINE.match(text) or text.rstrip(".").lower() in STATUS_PHRASES
        return text if plain and not status_only else None
    if isinstance(parsed, dict):
        for key in ("error", "message", "detail"):
            if isinstance(parsed.get(key), str) and parsed[key].strip():
                return str(parsed[key]).strip()
    return None


def status_phrase(status_code: int | None) -> str:
    """ "403 Forbidden": the status code with its standard name, when it has one."""
    if status_code is None:
        return "no answer"
    try:
        return f"{status_code} {HTTPStatus(status_code).phrase}"
    except ValueError:
        return str(status_code)


class TavusError(Exception):
    """Any failed Tavus call. `status_code` is None when no HTTP answer was received."""

    def __init__(self, message: str, *, status_code: int | None = None, body: str = "") -> None:
        super().__init__(message)
        self.status_code = status_code
        self.body = body

    @property
    def body_start(self) -> str:
        """The start of the response body, quoted, for a log line (never a multi-line page)."""
        start = self.body[:BODY_LOG_LIMIT]
        return repr(start) + (" …" if len(self.body) > BODY_LOG_LIMIT else "")

    @property
    def may_have_taken_effect(self) -> bool:
        """True when Tavus may have acted on the request despite the error (never resend a POST)."""
        return False


class TavusRejectedError(TavusError):
    """A 4xx answer (other than 401): Tavus refused the request; nothing was created."""

    @property
    def reason(self) -> str:
        """Tavus's own words, or what happened when there are none to show, with the status:
        for the log (the requester is told replicas/reasons.py's words instead)."""
        return error_text(self.body) or (
            "Tavus, or something in front of it such as a proxy or firewall, refused the "
            f"request (it answered {status_phrase(self.status_code)})"
        )


class TavusAuthError(TavusRejectedError):
    """401: the API key is missing, wrong or revoked."""


class TavusServerError(TavusError):
    """A 5xx answer: Tavus failed while handling the request, which may have taken effect."""

    @property
    def may_have_taken_effect(self) -> bool:
        return True


class TavusUnreachableError(TavusError):
    """No HTTP answer. `request_sent` says whether the request may have reached Tavus."""

    def __init__(self, message: str, *, request_sent: bool) -> None:
        super().__init__(message)
        self.request_sent = request_sent

    @property
    def may_have_taken_effect(self) -> bool:
        return self.request_sent


class TavusProtocolError(TavusError):
    """A 2xx answer the bot cannot read (not JSON, or missing the fields it needs)."""

    @property
    def may_have_taken_effect(self) -> bool:
        return True
