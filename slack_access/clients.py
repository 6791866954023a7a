"""The one place that hands out a Slack Web API client for a workspace.

Bolt's listeners get their client from Bolt; everything else that calls Slack (the outbox,
the media relay, the readiness and start-up checks) asks `SlackClients`, with the workspace
the work belongs to (a request's stored team_id and enterprise_id). Today the bot has one
installation, so every workspace gets the configured client: Bolt's, with SLACK_API_URL and
the retry handlers. Serving several installations changes this class, not its callers.
"""

from __future__ import annotations

from collections.abc import Sequence

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient

# Idle connections to Slack are closed after this long (see `open_session`).
KEEPALIVE_SECONDS = 10.0


class SlackClients:
    def __init__(self, client: AsyncWebClient) -> None:
        """`client`: the configured client, which carries the bot token."""
        if not client.token:
            raise ValueError("the Slack client has no bot token")
        self._client = client
        self._token: str = client.token

    @property
    def api_url(self) -> str:
        """The Web API base every client uses (SLACK_API_URL)."""
        return self._client.base_url

    def for_workspace(self, team_id: str | None, enterprise_id: str | None) -> AsyncWebClient:
        """The client for the workspace `team_id` (of Enterprise Grid org `enterprise_id`);
        None for either: the bot's own installation. Callers share it: never modify it."""
        return self._client

    def open_session(self, trace_configs: Sequence[aiohttp.TraceConfig] = ()) -> None:
        """Give the client an aiohttp session of the bot's own, traced with `trace_configs`
        (metrics): Bolt's per-request clients and copies of the client share it. Without one,
        slack_sdk opens a session, and a connection, per call (in production a TLS handshake
        per call: most of a status edit's cost, bench/README.md). This one keeps connections
        alive, but closes them after `KEEPALIVE_SECONDS` idle, well before a server or load
        balancer drops them (60 s is the usual), so a post is rarely sent on a connection the
        other end has closed; when it is, the outbox settles the doubt as for any lost answer.
        Needs a running event loop; `aclose` closes it."""
        if self._client.session is not None:
            return
        self._client.session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self._client.timeout),
            connector=aiohttp.TCPConnector(keepalive_timeout=KEEPALIVE_SECONDS),
            trace_configs=list(trace_configs),
        )

    async def aclose(self) -> None:
        """Close the session `open_session` opened; calls after it open their own again."""
        session, self._client.session = self._client.session, None
        if session is not None:
            await session.close()

    def token_for(self, team_id: str | None, enterprise_id: str | None) -> str:
        """The bot token of that workspace, for requests the Web API client does not make
        (file downloads): the one its client sends."""
        return self._token
