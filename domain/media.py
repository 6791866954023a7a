"""The media Tavus trains replicas from: one table of types, and everything said about them.

Every list of types, extensions and limits in the bot (the file checks, the relay's file names,
the link guess, the requirement sentences, the form's hints) is derived from `MEDIA_TYPES` and
`MAX_VIDEO_BYTES`, so adding a type or changing the limit is one edit here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Mode(StrEnum):
    """What a replica trains from. (It lives here, below domain.request, because the table of
    media types needs it and the request derives its link guess from the table.)"""

    VIDEO = "video"
    IMAGE = "image"


@dataclass(frozen=True)
class MediaType:
    mime: str
    # Without the dot, lower case; the first is the one the bot names files with and tells
    # people about.
    extensions: tuple[str, ...]
    mode: Mode

    @property
    def extension(self) -> str:
        return self.extensions[0]


MEDIA_TYPES = (
    MediaType("video/mp4", ("mp4", "m4v"), Mode.VIDEO),
    MediaType("video/webm", ("webm",), Mode.VIDEO),
    MediaType("video/quicktime", ("mov",), Mode.VIDEO),
    MediaType("image/jpeg", ("jpg", "jpeg"), Mode.IMAGE),
    MediaType("image/png", ("png",), Mode.IMAGE),
)
MAX_VIDEO_BYTES = 750 * 1000 * 1000  # Tavus: "≤ 750 MB"

_BY_MIME = {media.mime: media for media in MEDIA_TYPES}


def media_type(mime: str) -> MediaType | None:
    """The type Tavus takes with this MIME type (lower case, as SlackFile keeps it), or None."""
    return _BY_MIME.get(mime)


def types_of(mode: Mode) -> tuple[MediaType, ...]:
    return tuple(media for media in MEDIA_TYPES if media.mode is mode)


def extensions_of(mode: Mode) -> tuple[str, ...]:
    """Every extension of the mode's types, with its dot (for `str.endswith`)."""
    return tuple(f".{extension}" for media in types_of(mode) for extension in media.extensions)


def listing(words: Iterable[str]) -> str:
    """ "a", "a or b", "a, b or c": how the bot names alternatives in a sentence."""
    items = list(words)
    if len(items) < 2:
        return "".join(items)
    return f"{', '.join(items[:-1])} or {items[-1]}"


MAX_VIDEO_SIZE = f"{MAX_VIDEO_BYTES // (1000 * 1000)} MB"  # "750 MB"
VIDEO_FORMATS = listing(f".{media.extension}" for media in types_of(Mode.VIDEO))
IMAGE_FORMATS = listing(media.extension.upper() for media in types_of(Mode.IMAGE))
# What the requester is told when a file is refused; callers add the full stop.
VIDEO_REQUIREMENT = f"Tavus trains from {VIDEO_FORMATS} videos up to {MAX_VIDEO_SIZE}"
IMAGE_REQUIREMENT = f"Tavus trains from {IMAGE_FORMATS} photos"
