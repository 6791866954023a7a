"""media_relay.download: what the requester is told when files.info refuses."""

from __future__ import annotations

import pytest

from media_relay.download import TOKEN_REFUSED, files_info_message
from slack_access.errors import CREDENTIAL_ERRORS


@pytest.mark.parametrize("code", sorted(CREDENTIAL_ERRORS - {"missing_scope", "token_revoked"}))
def test_every_refused_token_is_explained_as_one(code: str) -> None:
    assert files_info_message(code) == TOKEN_REFUSED


@pytest.mark.parametrize(
    ("code", "says"),
    [
        ("missing_scope", "files:read scope"),
        ("token_revoked", "check its Slack token"),
        ("file_not_found", "no longer in Slack"),
        ("file_deleted", "was deleted from Slack"),
        ("ratelimited", "slow down"),
        ("invalid_auth", "check its Slack token"),
        ("something_new", "would not hand the file to the bot: try again, or share the file"),
        ("", "would not hand the file to the bot: try again, or share the file"),
    ],
)
def test_files_info_messages(code: str, says: str) -> None:
    assert says in files_info_message(code)


def test_an_unknown_slack_error_code_is_for_the_log_not_the_requester() -> None:
    assert "something_new" not in files_info_message("something_new")
    assert "whoever runs the bot" in files_info_message("something_new")
