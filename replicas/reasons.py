"""What the requester is told when a create fails, for sure or maybe. Stored as the request's
`error_message` and shown in its thread; the operator's details go to the log instead."""

from __future__ import annotations

from media_relay.relay import RelayError
from tavus.errors import (
    TavusAuthError,
    TavusError,
    TavusProtocolError,
    TavusRejectedError,
    error_text,
)

API_KEY_REJECTED = (
    "Tavus rejected this bot's API key. Ask whoever runs the bot to check its Tavus key. "
    "Nothing was created."
)
TAVUS_UNREACHABLE = (
    "I could not reach Tavus, so nothing was created and nothing was charged. Try again in a "
    "few minutes."
)
NO_REPLICA_LISTED = (
    "Tavus has no replica from this request, so nothing was created and nothing was charged. "
    "You can submit it again."
)
RESTARTED = "the bot restarted before Tavus answered"
# A refusal without Tavus's words: an error page from a proxy or firewall, or an empty body.
REFUSED_WITHOUT_WORDS = (
    "Tavus, or something in front of it such as a proxy or firewall, refused the request, so "
    "nothing was created. Ask whoever runs the bot to check that it can reach Tavus; its log "
    "has the details."
)


def relay_failed(error: RelayError) -> str:
    return f"{error.user_message} Nothing was sent to Tavus."


def refused(error: TavusRejectedError) -> str:
    """Tavus (or something in front of it) refused the create: certainly nothing was made.
    Tavus's own words are shown; the status code and the body's start are in the log."""
    if isinstance(error, TavusAuthError):
        return API_KEY_REJECTED
    words = error_text(error.body)
    if words is not None:
        return f"Tavus said: {words}"
    return REFUSED_WITHOUT_WORDS


def ambiguous(error: TavusError) -> str:
    """Tavus may have acted on the create: why the bot cannot tell."""
    if isinstance(error, TavusProtocolError):
        what = "its answer could not be read"
    elif error.status_code:
        what = "it failed while handling it"
    else:
        what = "no answer came back"
    return f"Tavus got the request but {what}"


# -- consent: why a request that waited for approval created nothing -------------------------
# Plain words, no mentions: a reason is shown escaped (it may also come from Tavus), and the
# root message already names who is on camera.


def declined(approver_role: str) -> str:
    who = "The person on camera" if approver_role == "subject" else "Whoever shared the footage"
    return f"{who} declined, so nothing was sent to Tavus and nothing was charged."


def expired(waiting: list[str], days: int) -> str:
    who = "The person asked" if len(waiting) <= 1 else "Not everyone asked"
    verb = "did not answer" if len(waiting) <= 1 else "answered"
    return (
        f"{who} {verb} within {days} days, so the request lapsed: nothing was sent to Tavus. "
        "Ask them first, then submit it again."
    )


WITHDRAWN = (
    "Consent was withdrawn before it was sent to Tavus, so nothing was created and nothing "
    "was charged."
)
