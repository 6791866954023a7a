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


@dataclass(frozen=True)
class Posted:
    channel_id: str
    ts: str


class SlackNotifier:
    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client

    async def post(
        self, channel_id: str, requester_id: str, message: Message, *, thread_ts: str | None = None
    ) -> Posted:
        """Post in the channel; if the bot is not a member, join it (public channels) or else
        move to the requester's DM, telling them why."""
        try:
            return await self._post(channel_id, message, thread_ts)
        except SlackApiError as error:
            if error.response.get("error") not in NOT_A_MEMBER:
                raise
        if await self._join(channel_id):
            return await self._post(channel_id, message, thread_ts)
        logger.info("Cannot post in %s; moving to a DM with %s", channel_id, requester_id)
        await self._post(requester_id, moved_to_dm_notice(channel_id), None)
        return await self._post(requester_id, message, None)

    async def update(self, channel_id: str, ts: str, message: Message) -> None:
        await self._client.chat_update(channel=channel_id, ts=ts, **message.as_kwargs())

    async def _post(self, channel_id: str, message: Message, thread_ts: str | None) -> Posted:
        response = await self._client.chat_postMessage(
            channel=channel_id, thread_ts=thread_ts, **message.as_kwargs()
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
