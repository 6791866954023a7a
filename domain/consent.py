"""The consent statement Tavus requires at the start of a training video."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

# The canonical wording from Tavus's API spec (train_video_url) and consent troubleshooting page.
CONSENT_TEMPLATE = (
    "I, {full_name}, am currently speaking and consent Tavus to create an AI clone of me by "
    "using the audio and video samples I provide. I understand that this AI clone can be used "
    "to create videos that look and sound like me."
)
NAME_PLACEHOLDER = "[your full name]"


def consent_sentence(full_name: str | None) -> str:
    """The sentence the person on camera must say first, with their name filled in."""
    return CONSENT_TEMPLATE.format(full_name=(full_name or "").strip() or NAME_PLACEHOLDER)


# -- the consent record ------------------------------------------------------------------------
# An append-only log per request (storage/consent.py): nothing in it is updated in place. The
# audit export (CSV) folds each request's events into one row.

# Bump whenever CONSENT_TEMPLATE or an attestation below changes wording: the record keeps the
# exact text shown and this version, so an old record still says what was agreed to.
STATEMENT_VERSION = "1"


class ConsentEventKind(StrEnum):
    SUBMITTED = "submitted"  # the form: statement shown, attestation ticked, media, requester
    MEDIA_RELAYED = "media_relayed"  # a Slack file copied for Tavus: its sha256
    POSTED = "posted"  # the status message: its permalink
    STATE_CHANGED = "state_changed"  # every state change: from, to, replica id, reason
    DELETED = "deleted"  # when, by whom, hard or soft


@dataclass(frozen=True)
class ConsentEvent:
    """One entry of a request's consent record. `details` depends on `kind` (plain JSON
    values); `actor_id` is the Slack user who caused it, None when the bot or Tavus did."""

    request_id: int
    kind: ConsentEventKind
    at: str  # UTC ISO timestamp
    details: dict[str, Any] = field(default_factory=dict)
    actor_id: str | None = None
