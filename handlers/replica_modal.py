"""The request form: opening it for any door, and its listeners (mode switch, file or link,
voice search, submission)."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from blocks.replica_modal import (
    CALLBACK_ID,
    USE_LINK,
    USE_SLACK_FILE,
    ModalContext,
    build_replica_modal,
    read_form,
    switch_mode,
    voice_option,
)
from replicas.form import Field, FormDraft, draft_from_files, validate
from replicas.notifier import SLACK_ERRORS
from replicas.request import Mode, SlackOrigin
from replicas.slack_files import SlackFile
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


async def full_name(client: AsyncWebClient, user_id: str) -> str | None:
    """The user's real name, for the consent sentence; None if Slack will not say."""
    try:
        response = await client.users_info(user=user_id)
    except SLACK_ERRORS:
        logger.warning("Could not look up the name of %s", user_id, exc_info=True)
        return None
    user: dict[str, Any] = response.get("user") or {}
    profile: dict[str, Any] = user.get("profile") or {}
    name = profile.get("real_name") or user.get("real_name")
    return str(name) if name else None


async def fill_in_stubs(client: AsyncWebClient, files: Sequence[SlackFile]) -> list[SlackFile]:
    """The files with Slack Connect stubs replaced by what `files.info` says; files Slack
    will not describe, and files that are no video or photo, are left out."""
    filled: list[SlackFile] = []
    for slack_file in files:
        if slack_file.is_stub:
            try:
                response = await client.files_info(file=slack_file.id)
            except SLACK_ERRORS:
                logger.warning("Could not look up shared file %s", slack_file.id, exc_info=True)
                continue
            found = SlackFile.from_slack(response.get("file"))
            if found is None:
                continue
            slack_file = found
        if slack_file.mode is not None:
            filled.append(slack_file)
    return filled


async def open_replica_form(
    client: AsyncWebClient, trigger_id: str, draft: FormDraft, context: ModalContext
) -> bool:
    """Open the request form; False (logged) if Slack refused, so the door can tell the user.

    The trigger_id dies ~3 s after the click, so the form opens before any other I/O; then the
    requester's name (for the consent sentence) and Slack Connect files are filled in.
    """
    files = [f for f in context.slack_files if not f.is_stub]
    stubs = [f for f in context.slack_files if f.is_stub]
    context = replace(context, files=[f.to_metadata() for f in files])
    try:
        opened = await client.views_open(
            trigger_id=trigger_id, view=build_replica_modal(draft, context)
        )
    except SLACK_ERRORS:
        logger.exception("Could not open the replica form for %s", context.requester_id)
        return False
    name = await full_name(client, context.requester_id)
    filled = await fill_in_stubs(client, stubs)
    if name is None and not filled:
        return True
    files += filled
    if filled and not draft.slack_file_id:
        prefilled = draft_from_files(files)
        draft = replace(prefilled, replica_name=draft.replica_name or prefilled.replica_name)
    context = replace(context, requester_name=name, files=[f.to_metadata() for f in files])
    await _rerender(client, opened["view"], draft, context)
    return True


async def _rerender(
    client: AsyncWebClient, view: dict[str, Any], draft: FormDraft, context: ModalContext
) -> None:
    try:
        await client.views_update(
            view_id=view["id"], hash=view["hash"], view=build_replica_modal(draft, context)
        )
    except SLACK_ERRORS:
        # Usually hash_conflict: the user changed the form meanwhile, which re-rendered it.
        logger.info("Did not re-render form %s", view["id"], exc_info=True)


def register(app: AsyncApp, workflow: ReplicaWorkflow, voices: VoiceCatalog) -> None:
    @app.action(Field.MODE.value)
    async def on_mode_switch(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        view = body["view"]
        mode = Mode(body["actions"][0]["selected_option"]["value"])
        draft, context = switch_mode(
            view["state"]["values"], ModalContext.from_metadata(view["private_metadata"]), mode
        )
        await _rerender(client, view, draft, context)

    @app.action(USE_LINK)
    @app.action(USE_SLACK_FILE)
    async def on_file_or_link(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        view = body["view"]
        context = ModalContext.from_metadata(view["private_metadata"])
        use_link = body["actions"][0]["action_id"] == USE_LINK
        await _rerender(
            client, view, read_form(view["state"]["values"]), replace(context, use_link=use_link)
        )

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
        checked = validate(draft, known_voices, context.slack_files)
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
