"""Slack calls for the outbox: one post, one edit, joining a channel, finding a posted message,
a message's permalink, and Slack's own clock. Which of them to make, and in what order, is the
outbox's business (replicas/outbox.py), because it records each step before taking it."""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncConnectionErrorRetryHandler
from slack_sdk.models.views import View
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from blocks import Message
from slack_access.clients import SlackClients

logger = logging.getLogger(__name__)

METADATA_EVENT = "replica_bot_message"
# Asked of Slack per page; apps under the 2025 limits get at most 15 whatever they ask.
PAGE_LIMIT = 200
# A clock reading older than this is refreshed (auth.test) before it is relied on.
CLOCK_MAX_AGE_SECONDS = 3600.0
# Without any Date header from Slack (never seen from Slack itself), the bot's own clock is
# used this far back: a wider search window, still correct unless the clocks differ more.
NO_SLACK_CLOCK_MARGIN_SECONDS = 86400.0


@dataclass(frozen=True)
class Posted:
    channel_id: str
    ts: str


class SlackNotifier:
    def __init__(self, clients: SlackClients) -> None:
        # The one call site that picks the workspace: the bot's own installation for every
        # row. Serving several, it becomes the client for the row's request's origin
        # (record.origin.team_id, enterprise_id), asked of `clients` per delivery.
        self._client = clients.for_workspace(None, None)
        # Slack's time per the Date header of its latest answer, and time.monotonic() when
        # that answer arrived: Slack's clock now is their sum plus the monotonic time since,
        # whatever the bot's wall clock says or does (NTP steps included).
        self._clock: tuple[float, float] | None = None

    async def post(
        self,
        channel_id: str,
        message: Message,
        *,
        thread_ts: str | None = None,
        key: str | None = None,
    ) -> Posted:
        """One chat.postMessage, never repeated here. `key` goes in the message's metadata,
        so `find` can tell later whether it was posted."""
        metadata = {"event_type": METADATA_EVENT, "event_payload": {"key": key}} if key else None
        response = await self._observe(
            self._posting_client().chat_postMessage(
                channel=channel_id, thread_ts=thread_ts, metadata=metadata, **message.as_kwargs()
            )
        )
        return Posted(channel_id=str(response["channel"]), ts=str(response["ts"]))

    async def update(self, channel_id: str, ts: str, message: Message) -> None:
        await self._observe(
            self._client.chat_update(channel=channel_id, ts=ts, **message.as_kwargs())
        )

    async def publish_home(self, user_id: str, view: View) -> None:
        """views.publish: `user_id`'s App Home becomes `view`."""
        await self._observe(self._client.views_publish(user_id=user_id, view=view))

    async def permalink(self, channel_id: str, ts: str) -> str:
        """The message's permalink (chat.getPermalink: no scope needed). Failures raise."""
        response = await self._observe(
            self._client.chat_getPermalink(channel=channel_id, message_ts=ts)
        )
        return str(response["permalink"])

    async def join(self, channel_id: str) -> bool:
        """Join a public channel; False where Slack says joining is impossible (a private
        channel, a DM, an archived channel). Failures to answer raise."""
        try:
            await self._observe(self._client.conversations_join(channel=channel_id))
        except SlackApiError as error:
            if error.response.status_code == 429 or error.response.status_code >= 500:
                raise
            logger.info("Cannot join %s: %s", channel_id, error.response.get("error"))
            return False
        return True

    async def find(
        self, channel_id: str, thread_ts: str | None, key: str, oldest: str
    ) -> Posted | None:
        """The bot's message carrying `key`: in the thread `thread_ts` (all of it), or else
        among the channel's messages newer than `oldest`. Reads page after page until it is
        found or the pages run out, so None is a complete answer; any failure raises."""
        cursor: str | None = None
        while True:
            if thread_ts:
                # A reply can only be in its thread: read all of it, trusting no clock.
                call = self._client.conversations_replies(
                    channel=channel_id,
                    ts=thread_ts,
                    limit=PAGE_LIMIT,
                    cursor=cursor,
                    include_all_metadata=True,
                )
            else:
                call = self._client.conversations_history(
                    channel=channel_id,
                    oldest=oldest,
                    limit=PAGE_LIMIT,
                    cursor=cursor,
                    include_all_metadata=True,
                )
            response = await self._observe(call)
            for item in response.get("messages") or []:
                metadata = item.get("metadata") or {}
                if (metadata.get("event_payload") or {}).get("key") == key:
                    return Posted(channel_id=channel_id, ts=str(item["ts"]))
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
            if cursor is None:
                return None

    async def slack_now(self) -> float:
        """Slack's clock now (Unix seconds), never ahead of it by more than Slack's own
        rounding: Date headers are whole seconds, truncated, and read after they were sent."""
        if self._clock is None or time.monotonic() - self._clock[1] > CLOCK_MAX_AGE_SECONDS:
            await self._observe(self._client.auth_test())
        if self._clock is None:
            logger.warning("Slack's answers carry no Date header; using this host's clock")
            return time.time() - NO_SLACK_CLOCK_MARGIN_SECONDS
        slack_time, at = self._clock
        return slack_time + (time.monotonic() - at)

    def _posting_client(self) -> AsyncWebClient:
        """The client without slack_sdk's connection-error retry: a connection reset after
        Slack took the request would make it post again, unseen by the outbox. The outbox
        retries posts itself, after checking whether the first one landed."""
        client = copy.copy(self._client)
        client.retry_handlers = [
            handler
            for handler in self._client.retry_handlers
            if not isinstance(handler, AsyncConnectionErrorRetryHandler)
        ]
        return client

    async def _observe(self, call: Awaitable[AsyncSlackResponse]) -> AsyncSlackResponse:
        """Await a Slack call, reading Slack's clock off its answer (error answers too)."""
        try:
            response = await call
        except SlackApiError as error:
            self._read_clock(error.response.headers)
            raise
        self._read_clock(response.headers)
        return response

    def _read_clock(self, headers: Mapping[str, Any] | None) -> None:
        # Header names are case-insensitive; do not count on the mapping knowing that.
        date = next((v for k, v in (headers or {}).items() if k.lower() == "date"), None)
        if not isinstance(date, str):
            return
        try:
            slack_time = parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError):
            return
        self._clock = (slack_time, time.monotonic())
