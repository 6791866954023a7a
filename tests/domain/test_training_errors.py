"""domain.training_errors.hint_for: the sentences Tavus documents map to the right fix."""

from __future__ import annotations

import pytest

from domain.training_errors import hint_for

# Distinctive words of each hint, so the tests survive rewording of the rest of the sentence.
CONSENT = "consent sentence"
DURATION = "at least 1 minute"
DOWNLOAD = "could not download"
FORMAT = "H.264"
IMAGE = "512x512"


@pytest.mark.parametrize(
    ("sentence", "hint_marker"),
    [
        # tavus-api.md §9: the callback sample.
        (
            "There was an issue processing your training video. The video provided does not "
            "meet the minimum duration requirement for training",
            DURATION,
        ),
        # §10: consent_phrase_mismatch. Mentions "format", but is a consent problem.
        (
            "Your consent phrase does not match our requirements. Please follow our specified "
            "format closely",
            CONSENT,
        ),
        # §11 catalogue.
        ("There was an issue downloading your video file…", DOWNLOAD),
        ("There was an issue downloading your video file. Please check the link.", DOWNLOAD),
        ("The video does not meet the minimum duration requirement", DURATION),
        ("There was an error processing your image…", IMAGE),
    ],
    ids=["callback-duration", "consent-mismatch", "download", "download-2", "duration", "image"],
)
def test_documented_sentences(sentence: str, hint_marker: str) -> None:
    hint = hint_for(sentence)

    assert hint is not None
    assert hint_marker in hint


def test_consent_mismatch_is_not_the_format_hint() -> None:
    hint = hint_for(
        "Your consent phrase does not match our requirements. Please follow our specified "
        "format closely"
    )

    assert hint is not None
    assert FORMAT not in hint
    assert hint != hint_for("The video is not in .mp4 format")


@pytest.mark.parametrize(
    ("sentence", "hint_marker"),
    [
        ("YOUR CONSENT PHRASE DOES NOT MATCH", CONSENT),
        ("the Video Provided Does Not Meet The Minimum Duration Requirement", DURATION),
        ("The video codec is not supported", FORMAT),
        ("Video frame rate is below 25 fps", "25 frames per second"),
        ("The file size is too large", "750 MB"),
        ("A second person was detected in the video", "one person"),
        ("Excessive background noise detected", "quiet room"),
    ],
)
def test_matching_is_case_insensitive_and_covers_other_failures(
    sentence: str, hint_marker: str
) -> None:
    hint = hint_for(sentence)

    assert hint is not None
    assert hint_marker in hint


@pytest.mark.parametrize(
    "sentence",
    [
        "Something entirely unexpected happened",
        "Community guidelines violation",
        "   ",
    ],
)
def test_unknown_sentence_has_no_hint(sentence: str) -> None:
    assert hint_for(sentence) is None


@pytest.mark.parametrize("empty", [None, ""])
def test_no_message_has_no_hint(empty: str | None) -> None:
    assert hint_for(empty) is None


def test_hints_are_single_lines() -> None:
    for sentence in (
        "Your consent phrase does not match our requirements.",
        "does not meet the minimum duration requirement",
        "There was an issue downloading your video file",
    ):
        hint = hint_for(sentence)
        assert hint is not None
        assert "\n" not in hint
