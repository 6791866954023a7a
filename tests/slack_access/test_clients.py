"""slack_access.clients.SlackClients: the one place that hands out Slack clients."""

from __future__ import annotations

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from slack_access.clients import SlackClients

API_URL = "https://slack.example.test/api/"


def test_every_workspace_gets_the_configured_client_and_its_token() -> None:
    client = AsyncWebClient(token="xoxb-configured", base_url=API_URL)
    clients = SlackClients(client)

    for team_id, enterprise_id in [(None, None), ("T1", None), ("T2", "E1"), (None, "E1")]:
        assert clients.for_workspace(team_id, enterprise_id) is client
        assert clients.token_for(team_id, enterprise_id) == "xoxb-configured"
    assert clients.api_url == API_URL


def test_a_client_without_a_token_is_refused() -> None:
    with pytest.raises(ValueError, match="no bot token"):
        SlackClients(AsyncWebClient(base_url=API_URL))
