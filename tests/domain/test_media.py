"""domain/media.py: the one table of media types, and what the rest of the bot reads off it."""

from __future__ import annotations

import pytest

from domain.media import (
    IMAGE_REQUIREMENT,
    MAX_VIDEO_BYTES,
    MEDIA_TYPES,
    VIDEO_REQUIREMENT,
    Mode,
    extensions_of,
    listing,
    media_type,
    types_of,
)
from domain.request import Mode as RequestMode
from domain.request import mode_for_url


def test_the_table_holds_what_tavus_takes() -> None:
    assert {media.mime: media.extensions for media in MEDIA_TYPES} == {
        "video/mp4": ("mp4", "m4v"),
        "video/webm": ("webm",),
        "video/quicktime": ("mov",),
        "image/jpeg": ("jpg", "jpeg"),
        "image/png": ("png",),
    }
    assert all(media.mode is Mode(media.mime.partition("/")[0]) for media in MEDIA_TYPES)
    assert MAX_VIDEO_BYTES == 750_000_000


def test_the_requirements_are_read_off_the_table() -> None:
    assert VIDEO_REQUIREMENT == "Tavus trains from .mp4, .webm or .mov videos up to 750 MB"
    assert IMAGE_REQUIREMENT == "Tavus trains from JPG or PNG photos"


def test_lookups() -> None:
    assert media_type("video/quicktime") == MEDIA_TYPES[2]
    assert media_type("image/gif") is None
    assert media_type("VIDEO/MP4") is None  # Slack's MIME types are lower-cased on reading
    assert [media.extension for media in types_of(Mode.IMAGE)] == ["jpg", "png"]
    assert set(extensions_of(Mode.VIDEO)) == {".mp4", ".m4v", ".webm", ".mov"}
    assert set(extensions_of(Mode.IMAGE)) == {".jpg", ".jpeg", ".png"}


@pytest.mark.parametrize(
    ("words", "text"),
    [([], ""), (["a"], "a"), (["a", "b"], "a or b"), (["a", "b", "c"], "a, b or c")],
)
def test_listing(words: list[str], text: str) -> None:
    assert listing(words) == text


@pytest.mark.parametrize(
    ("url", "mode"),
    [
        ("https://x.example/a.JPEG", Mode.IMAGE),
        ("https://x.example/a.png?sig=1", Mode.IMAGE),
        ("https://x.example/a.m4v", Mode.VIDEO),
        ("https://x.example/a.gif", Mode.VIDEO),  # unknown: video, as before
    ],
)
def test_the_link_guess_uses_the_table(url: str, mode: Mode) -> None:
    assert mode_for_url(url) is mode


def test_mode_is_the_same_from_either_module() -> None:
    assert RequestMode is Mode
