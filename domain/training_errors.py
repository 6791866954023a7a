"""One-line fixes for the training failures Tavus reports.

Tavus's callback and GET expose only `error_message` (a sentence), not the documented
`error_type`, so hints are chosen by matching phrases of the known sentences.
"""

from __future__ import annotations

from domain.media import MAX_VIDEO_SIZE

# (phrases any of which identify the failure, the hint). Order matters: first match wins.
_HINTS: tuple[tuple[tuple[str, ...], str], ...] = (
    (
        ("consent phrase", "consent statement", "consent_phrase"),
        "Start the training video with the exact consent sentence shown in the request form, "
        "spoken clearly, or send a separate consent video.",
    ),
    (
        ("minimum duration", "duration requirement", "too short"),
        "Record at least 1 minute in one continuous shot: about 30 s speaking, then 30 s still.",
    ),
    (
        ("downloading", "download link", "download_link"),
        "Tavus could not download the file: use a direct, public link (e.g. a presigned URL) "
        "that stays valid for at least 24 hours.",
    ),
    (
        ("codec", "format", ".mp4", "h.264", "h264"),
        "Export the video as .mp4 with H.264 video and AAC audio.",
    ),
    (
        ("frame rate", "fps", "frames per second"),
        "Record at 25 frames per second or more.",
    ),
    (
        ("file size", "too large", "750"),
        f"Keep the training video under {MAX_VIDEO_SIZE}.",
    ),
    (
        ("resolution", "quality", "720p", "1080p"),
        "Record in 1080p or better, in good, even light.",
    ),
    (
        ("second person", "multiple people", "multipleforegroundpeople"),
        "Only one person may appear in the video or photo.",
    ),
    (
        ("lighting",),
        "Record in steady, even lighting without changes during the take.",
    ),
    (
        ("background noise",),
        "Record in a quiet room.",
    ),
    (
        ("obstruct", "obscured", "hands", "face turned", "looking straight"),
        "Keep the face fully visible and turned to the camera; no hands, hair or objects over it.",
    ),
    (
        ("movement", "distance", "camera angle"),
        "Keep the camera at eye level and still, about 3 ft away, with minimal movement.",
    ),
    (
        ("audio",),
        "Check the recording's audio track; a very long or unusual replica name can also cause "
        "this, so try a shorter plain name.",
    ),
    (
        ("processing your image", "image"),
        "Use a sharp JPG or PNG of at least 512x512 with one person, head and shoulders visible, "
        "facing the camera.",
    ),
)


def hint_for(error_message: str | None) -> str | None:
    """A one-line fix for a Tavus training error sentence, or None when it is not recognised."""
    if not error_message:
        return None
    text = error_message.lower()
    for phrases, hint in _HINTS:
        if any(phrase in text for phrase in phrases):
            return hint
    return None
