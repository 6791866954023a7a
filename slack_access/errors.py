"""Slack's failures and refusal codes, written once: every module that tells them apart
imports them from here, so a code added for one place holds everywhere."""

from __future__ import annotations

import aiohttp
from slack_sdk.errors import SlackClientError

# What a Slack Web API call can raise: an error answer (SlackApiError, a SlackClientError),
# or no answer at all.
SLACK_ERRORS = (SlackClientError, aiohttp.ClientError, TimeoutError)

# Slack refused the credentials themselves, or what they may do: the token is unknown, of
# the wrong kind, expired or revoked, its workspace is gone, or the app lacks a scope. Only an
# operator can fix these (a new token, a reinstall); retrying the same call cannot.
CREDENTIAL_ERRORS = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "not_allowed_token_type",
        "missing_scope",
    }
)

# Slack failing: the call's outcome is unknown.
SLACK_TROUBLE = frozenset(
    {"internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)

# The bot is not in the conversation (or cannot see it).
NOT_A_MEMBER = ("not_in_channel", "channel_not_found")
# Where the bot can never post; the requester hears it by DM instead.
CANNOT_POST_HERE = (*NOT_A_MEMBER, "is_archived")
