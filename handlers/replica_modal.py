"""The request form's listeners: mode switch, voice search, and submission."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable
from typing import Any, TypeVar

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from blocks.replica_modal import (
    CALLBACK_ID,
    ModalContext,
    build_replica_modal,
    read_form,
    switch_mode,
    voice_option,
)
from replicas.form import Field, validate
from replicas.notifier import SLACK_ERRORS
from replicas.request import Mode, SlackOrigin
from replicas.voices import VoiceCatalog
from replicas.workflow import ReplicaWorkflow
from tavus.errors import TavusError

logger = logging.getLogger(__name__)

MAX_OPTIONS = 100  # Slack's limit per options response
T = TypeVar("T")
VOICE_CHECK_SECONDS = 2.0  # leaves room inside Slack's 3 s to answer the submission
NOT_SAVED = "I couldn't save this request, so nothing was sent to Tavus. Please try again."
VOICES_UNAVAILABLE = "I couldn't check voices with Tavus just now. Try again in a moment."


async def _within_slack_deadline(work: Awaitable[T]) -> T:
    """Wait for voice work no longer than Slack waits for us (TimeoutError after that).

    Shielded: a slow first fetch from Tavus keeps filling the cache after we give up on it.
    """
    return await asyncio.wait_for(asyncio.shield(work), VOICE_CHECK_SECONDS)


def register(app: AsyncApp, workflow: ReplicaWorkflow, voices: VoiceCatalog) -> None:
    @app.action(Field.MODE.value)
    async def on_mode_switch(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        view = body["view"]
        mode = Mode(body["actions"][0]["selected_option"]["value"])
        draft, context = switch_mode(
            view["state"]["values"], ModalContext.from_metadata(view["private_metadata"]), mode
        )
        try:
            await client.views_update(
                view_id=view["id"], hash=view["hash"], view=build_replica_modal(draft, context)
            )
        except SLACK_ERRORS:
            logger.warning("Could not switch form %s to %s", view["id"], mode, exc_info=True)

    @app.options(Field.VOICE_NAME.value)
    async def on_voice_search(ack: AsyncAck, body: dict[str, Any]) -> None:
        try:
            matches = await _within_slack_deadline(voices.search(str(body.get("value") or "")))
        except (TavusError, TimeoutError):
            logger.warning("Could not load Tavus voices for the voice picker", exc_info=True)
            matches = []
        await ack(options=[voice_option(v.name).to_dict() for v in matches[:MAX_OPTIONS]])

    @app.view(CALLBACK_ID)
    async def on_submit(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        draft = read_form(view["state"]["values"])
        try:
            context = ModalContext.from_metadata(view["private_metadata"])
        except (ValueError, TypeError):
            logger.exception("Form %s has unreadable private_metadata", view.get("id"))
            await ack(
                response_action="errors",
                errors={Field.REPLICA_NAME: "This form is out of date. Run /replica again."},
            )
            return
        known_voices: frozenset[str] = frozenset()
        if draft.voice_name:
            try:
                known_voices = await _within_slack_deadline(voices.names())
            except (TavusError, TimeoutError):
                logger.warning("Could not check voice %r", draft.voice_name, exc_info=True)
                await ack(
                    response_action="errors",
                    errors={Field.VOICE_NAME: VOICES_UNAVAILABLE},
                )
                return
        checked = validate(draft, known_voices)
        if isinstance(checked, dict):
            await ack(response_action="errors", errors=checked)
            return
        user = body["user"]
        origin = SlackOrigin(
            requester_id=user["id"],
            channel_id=context.channel_id,
            team_id=user.get("team_id") or (body.get("team") or {}).get("id"),
            thread_ts=context.thread_ts,
        )
        try:
            # Durable before acknowledged: once the form closes, the request is on disk.
            accepted = await workflow.accept(view["id"], checked, origin)
        except sqlite3.Error:
            logger.exception("Could not record the request from form %s", view["id"])
            await ack(response_action="errors", errors={Field.REPLICA_NAME: NOT_SAVED})
            return
        await ack()
        if accepted is not None:
            workflow.start_submission(accepted)
