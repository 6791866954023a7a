"""Typed Tavus API errors. Each carries the HTTP status code and the raw response body."""

from __future__ import annotations

import json


def error_text(body: str) -> str:
    """The human sentence in a Tavus error body: `error` (400) or `message` (401), else the body."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return body.strip()
    if isinstance(parsed, dict):
        for key in ("error", "message", "detail"):
            if isinstance(parsed.get(key), str) and parsed[key].strip():
                return str(parsed[key]).strip()
    return body.strip()


class TavusError(Exception):
    """Any failed Tavus call. `status_code` is None when no HTTP answer was received."""

    def __init__(self, message: str, *, status_code: int | None = None, body: str = "") -> None:
        super().__init__(message)
        self.status_code = status_code
        self.body = body

    @property
    def may_have_taken_effect(self) -> bool:
        """True when Tavus may have acted on the request despite the error (never resend a POST)."""
        return False


class TavusRejectedError(TavusError):
    """A 4xx answer (other than 401): Tavus refused the request; nothing was created."""

    @property
    def reason(self) -> str:
        return error_text(self.body) or f"HTTP {self.status_code}"


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
