"""The access log never shows the secrets carried in URL paths."""

from __future__ import annotations

import secrets

from access_log import loggable_path


def test_callback_tokens_are_redacted() -> None:
    token = secrets.token_urlsafe(32)

    assert loggable_path(f"/tavus/callback/{token}") == "/tavus/callback/<token>"


def test_media_tokens_are_redacted_and_the_name_kept() -> None:
    token = secrets.token_urlsafe(32)

    assert loggable_path(f"/media/{token}/jane.mp4") == "/media/<token>/jane.mp4"
    assert loggable_path(f"/media/{token}") == "/media/<token>"
    assert loggable_path(f"/media/{token}/a/b") == "/media/<token>/a/b"


def test_other_paths_are_logged_as_they_are() -> None:
    assert loggable_path("/slack/events") == "/slack/events"
    assert loggable_path("/healthz") == "/healthz"
    assert loggable_path("/mediafile") == "/mediafile"
