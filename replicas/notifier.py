"""Posting to Slack for the workflow, with the fallback when the bot may not post somewhere."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from blocks import Message
from blocks.messages import moved_to_dm_notice

logger = logging.getLogger(__name__)

# What a Slack Web API call can raise: an error answer, or no answer at all.
SLACK_ERRORS = (SlackClientError, aiohttp.ClientError, TimeoutError)
NOT_A_MEMBER = ("not_in_channel", "channel_not_found")
# Where the bot can never post; the requester hears it by DM instead.
CANNOT_POST_HERE = (*NOT_A_MEMBER, "is_archived")
METADATA_EVENT = "replica_bot_message"


@dataclass(frozen=True)
class Posted:
    channel_id: str
    ts: str


class SlackNotifier:
    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client

    async def post(
        self,
        channel_id: str,
        requester_id: str,
        message: Message,
        *,
        thread_ts: str | None = None,
        key: str | None = None,
    ) -> Posted:
        """Post in the channel; if the bot is not a member, join it (public channels) or else
        move to the requester's DM, telling them why. `key` is stored in the message's
        metadata, so `find` can tell later whether it was posted."""
        try:
            return await self._post(channel_id, message, thread_ts, key)
        except SlackApiError as error:
            reason = error.response.get("error")
            if reason not in CANNOT_POST_HERE:
                raise
        if reason in NOT_A_MEMBER and await self._join(channel_id):
            return await self._post(channel_id, message, thread_ts, key)
        logger.warning(
            "Cannot post in %s (%s); moving to a DM with %s", channel_id, reason, requester_id
        )
        await self._post(requester_id, moved_to_dm_notice(channel_id), None, None)
        return await self._post(requester_id, message, None, key)

    async def update(self, channel_id: str, ts: str, message: Message) -> None:
        await self._client.chat_update(channel=channel_id, ts=ts, **message.as_kwargs())

    async def find(
        self, channel_id: str, thread_ts: str | None, key: str, since: float
    ) -> Posted | None:
        """The bot's message with this key posted in the channel (or thread) since `since`."""
        oldest = f"{since:.6f}"
        if thread_ts:
            response = await self._client.conversations_replies(
                channel=channel_id,
                ts=thread_ts,
                oldest=oldest,
                limit=200,
                include_all_metadata=True,
            )
        else:
            response = await self._client.conversations_history(
                channel=channel_id, oldest=oldest, limit=200, include_all_metadata=True
            )
        for item in response.get("messages") or []:
            metadata = item.get("metadata") or {}
            if (metadata.get("event_payload") or {}).get("key") == key:
                return Posted(channel_id=channel_id, ts=str(item["ts"]))
        return None

    async def _post(
        self, channel_id: str, message: Message, thread_ts: str | None, key: str | None
    ) -> Posted:
        metadata = {"event_type": METADATA_EVENT, "event_payload": {"key": key}} if key else None
        response = await self._client.chat_postMessage(
            channel=channel_id, thread_ts=thread_ts, metadata=metadata, **message.as_kwargs()
        )
        return Posted(channel_id=str(response["channel"]), ts=str(response["ts"]))

    async def _join(self, channel_id: str) -> bool:
        """Join a public channel; False where joining is impossible (private channel, DM)."""
        try:
            await self._client.conversations_join(channel=channel_id)
        except SlackApiError as error:
            logger.info("Cannot join %s: %s", channel_id, error.response.get("error"))
            return False
        return True
