"""slack_access.errors: Slack's failures and refusal codes."""

from __future__ import annotations

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError, SlackRequestError

from slack_access.errors import (
    CANNOT_POST_HERE,
    CREDENTIAL_ERRORS,
    NOT_A_MEMBER,
    SLACK_ERRORS,
    SLACK_TROUBLE,
)


@pytest.mark.parametrize(
    "error_type",
    [SlackApiError, SlackRequestError, aiohttp.ClientConnectionError, TimeoutError],
)
def test_slack_errors_cover_an_error_answer_and_no_answer(error_type: type) -> None:
    assert issubclass(error_type, SLACK_ERRORS)


def test_slack_errors_leave_the_bot_s_own_bugs_alone() -> None:
    assert not issubclass(KeyError, SLACK_ERRORS)
    assert not issubclass(ValueError, SLACK_ERRORS)


def test_the_credential_refusals_are_the_ones_only_an_operator_can_fix() -> None:
    # A revoked or wrong token and a missing scope need a new token or a reinstall.
    assert {"invalid_auth", "token_revoked", "missing_scope"} <= CREDENTIAL_ERRORS
    # Slack's own trouble and a channel the bot is not in are not credential problems.
    assert not {"internal_error", "ratelimited", "not_in_channel"} & CREDENTIAL_ERRORS


def test_the_code_lists_do_not_overlap() -> None:
    # Each code means one thing wherever it is met: a refused credential, Slack in trouble,
    # or a conversation the bot cannot post in.
    assert set(NOT_A_MEMBER) < set(CANNOT_POST_HERE)
    assert not CREDENTIAL_ERRORS & SLACK_TROUBLE
    assert not CREDENTIAL_ERRORS & set(CANNOT_POST_HERE)
    assert not SLACK_TROUBLE & set(CANNOT_POST_HERE)
