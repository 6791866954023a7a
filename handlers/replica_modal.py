"""The request form: opening it for any door, and its listeners (mode switch, file or link,
voice search, submission)."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from slack_bolt.async_app import AsyncAck, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from blocks.replica_modal import (
    CALLBACK_ID,
    USE_LINK,
    USE_SLACK_FILE,
    ModalContext,
    read_form,
    switch_mode,
    voice_option,
)
from domain.form import Field, FormDraft, validate
from domain.request import Mode, SlackOrigin
from domain.slack_files import SlackFile
from handlers.form_sessions import FormSessions
from handlers.surface import Surface
from replicas.access import AccessPolicy, MonthlyLimitReached
from replicas.voices import VoiceCatalog
from slack_access.errors import SLACK_ERRORS
from tavus.errors import TavusError

logger = logging.getLogger(__name__)

MAX_OPTIONS = 100  # Slack's limit per options response
T = TypeVar("T")
VOICE_CHECK_SECONDS = 2.0  # leaves room inside Slack's 3 s to answer the submission
NOT_SAVED = "I couldn't save this request, so nothing was sent to Tavus. Please try again."
VOICES_UNAVAILABLE = "I couldn't check voices with Tavus just now. Try again in a moment."
OUT_OF_DATE = "This form is out of date. Run /replica again."


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
    sessions: FormSessions,
    access: AccessPolicy,
    client: AsyncWebClient,
    trigger_id: str,
    draft: FormDraft,
    context: ModalContext,
    *,
    team_id: str | None,
    enterprise_id: str | None,
    not_opened: str,
) -> str | None:
    """Open the request form for a requester who may create replicas. None if it opened;
    otherwise what the door tells the requester: why they may not, or `not_opened` if Slack
    refused (logged). `team_id`, `enterprise_id`: the workspace the door was used in.

    The trigger_id dies ~3 s after the click, so nothing slow comes first: the access check is
    settings, user-group members kept in memory (a bounded Slack call when they are not) and
    one indexed SQLite count (replicas/access.py); then the form opens before any other I/O.
    After that the requester's name (for the consent sentence) and Slack Connect files are
    filled in, through the form's session, so that a click in the meantime is never undone.
    """
    refusal = await access.may_create(context.requester_id, team_id, enterprise_id)
    if refusal is not None:
        return refusal.message
    session = await sessions.open(client, trigger_id, draft, context)
    if session is None:
        return not_opened
    name = await full_name(client, context.requester_id)
    filled = await fill_in_stubs(client, [f for f in context.slack_files if f.is_stub])
    await sessions.fill_in(client, session, name, filled)
    return None


async def _known_voices(voices: VoiceCatalog, voice_name: str | None) -> frozenset[str] | None:
    """The voices Tavus lists when the form names one (none needed otherwise); None if Tavus
    could not say within Slack's deadline."""
    if not voice_name:
        return frozenset()
    try:
        return await _within_slack_deadline(voices.names())
    except (TavusError, TimeoutError):
        logger.warning("Could not check voice %r", voice_name, exc_info=True)
        return None


def register(surface: Surface) -> None:
    app, workflow, voices, sessions, access = (
        surface.bolt,
        surface.workflow,
        surface.voices,
        surface.sessions,
        surface.access,
    )

    @app.action(Field.MODE.value)
    async def on_mode_switch(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        values = body["view"]["state"]["values"]
        mode = Mode(body["actions"][0]["selected_option"]["value"])
        await sessions.click(client, body, lambda form: switch_mode(values, form, mode))

    @app.action(USE_LINK)
    @app.action(USE_SLACK_FILE)
    async def on_file_or_link(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        draft = read_form(body["view"]["state"]["values"])
        use_link = body["actions"][0]["action_id"] == USE_LINK
        await sessions.click(client, body, lambda form: (draft, replace(form, use_link=use_link)))

    unlisted: set[str] = set()  # voices too long for the picker, logged once each

    @app.options(Field.VOICE_NAME.value)
    async def on_voice_search(ack: AsyncAck, body: dict[str, Any]) -> None:
        try:
            matches = await _within_slack_deadline(voices.search(str(body.get("value") or "")))
        except (TavusError, TimeoutError):
            logger.warning("Could not load Tavus voices for the voice picker", exc_info=True)
            matches = []
        options: list[dict[str, Any]] = []
        for voice in matches:
            option = voice_option(voice.name)
            if option is None:
                if voice.name not in unlisted:
                    unlisted.add(voice.name)
                    logger.info(
                        "Tavus voice %.40r… (%d characters) is too long for Slack's picker; "
                        "it is not offered",
                        voice.name,
                        len(voice.name),
                    )
                continue
            options.append(option.to_dict())
            if len(options) == MAX_OPTIONS:
                break
        await ack(options=options)

    @app.view(CALLBACK_ID)
    async def on_submit(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        draft = read_form(view["state"]["values"])
        try:
            session = await sessions.find(view)
        except sqlite3.Error:
            logger.exception("Could not read the session of form %s", view["id"])
            await ack(response_action="errors", errors={Field.REPLICA_NAME: NOT_SAVED})
            return
        if session is None:
            await ack(response_action="errors", errors={Field.REPLICA_NAME: OUT_OF_DATE})
            return
        form = session.context
        # Asked again: the month's limit may have been reached since the form opened, or the
        # configuration changed. Alongside the voice check, not after it: each is bounded,
        # and together they must fit in the 3 s Slack waits for this answer.
        refusal, known_voices = await asyncio.gather(
            access.may_create(
                body["user"]["id"], context.team_id, context.enterprise_id, view_id=view["id"]
            ),
            _known_voices(voices, draft.voice_name),
        )
        if refusal is not None:
            # Nothing is recorded, so nothing reaches Tavus.
            await ack(response_action="errors", errors={Field.REPLICA_NAME: refusal.field_error})
            return
        if known_voices is None:
            await ack(response_action="errors", errors={Field.VOICE_NAME: VOICES_UNAVAILABLE})
            return
        checked = validate(draft, known_voices, form.slack_files)
        if isinstance(checked, dict):
            await ack(response_action="errors", errors=checked)
            return
        origin = SlackOrigin(
            requester_id=body["user"]["id"],
            channel_id=form.channel_id,
            # Bolt reads the workspace that installed the app (`view.app_installed_team_id`
            # first), not the submitter's own team, which differs for a Slack Connect guest.
            team_id=context.team_id,
            enterprise_id=context.enterprise_id,
            thread_ts=form.thread_ts,
        )
        try:
            # Durable before acknowledged: once the form closes, the request is on disk.
            accepted = await workflow.accept(
                view["id"], checked, origin, cap=access.monthly_cap(origin.requester_id)
            )
        except MonthlyLimitReached:
            # Another form of theirs was recorded meanwhile (the check above came first).
            refused = access.limit_reached()
            await ack(response_action="errors", errors={Field.REPLICA_NAME: refused.field_error})
            return
        except sqlite3.Error:
            logger.exception("Could not record the request from form %s", view["id"])
            await ack(response_action="errors", errors={Field.REPLICA_NAME: NOT_SAVED})
            return
        await ack()
        if accepted is not None:
            workflow.start_submission(accepted)
