"""The consent statement Tavus requires at the start of a training video."""

from __future__ import annotations

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
