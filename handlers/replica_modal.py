"""The request form: opening it for any door, and its listeners (mode switch, who is on
camera, file or link, voice search, submission)."""

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
    switch_subject,
    voice_option,
)
from domain.form import Field, FormDraft, unavailable_reason, validate
from domain.request import Mode, SlackOrigin
from domain.slack_files import SlackFile
from domain.subject import SubjectKind
from handlers.form_sessions import FormSessions
from handlers.surface import Surface
from replicas.access import AccessPolicy, MonthlyLimitReached
from replicas.voices import VoiceCatalog
from slack_access.errors import SLACK_ERRORS
from slack_access.people import People, Person
from tavus.errors import TavusError

logger = logging.getLogger(__name__)

MAX_OPTIONS = 100  # Slack's limit per options response
T = TypeVar("T")
VOICE_CHECK_SECONDS = 2.0  # leaves room inside Slack's 3 s to answer the submission
NOT_SAVED = "I couldn't save this request, so nothing was sent to Tavus. Please try again."
VOICES_UNAVAILABLE = "I couldn't check voices with Tavus just now. Try again in a moment."
OUT_OF_DATE = "This form is out of date. Run /replica again."
MEMBER_UNCHECKED = "I couldn't check that person with Slack just now. Try again in a moment."


async def _within_slack_deadline(work: Awaitable[T]) -> T:
    """Wait for voice work no longer than Slack waits for us (TimeoutError after that).

    Shielded: a slow first fetch from Tavus keeps filling the cache after we give up on it.
    """
    return await asyncio.wait_for(asyncio.shield(work), VOICE_CHECK_SECONDS)


def knowing(form: ModalContext, person: Person) -> ModalContext:
    """The form's context with what Slack said of a member picked as the subject."""
    why = unavailable_reason(is_bot=person.is_bot, deleted=person.deleted)
    return form.knowing(person.user_id, person.name, why.value if why else None)


async def _with_member_checked(
    people: People, client: AsyncWebClient, draft: FormDraft, form: ModalContext
) -> ModalContext | None:
    """The form's context knowing the member the draft names as the subject, looked up now if
    the form never did (a submission that overtook the pick's lookup, or a lookup that
    failed); None if Slack could not say within Slack's deadline."""
    member = draft.subject_user_id
    if (
        draft.subject_kind is not SubjectKind.MEMBER
        or not member
        or member == form.requester_id
        or member in form.member_names
        or member in form.unavailable
    ):
        return form
    try:
        person = await asyncio.wait_for(people.look_up(client, member), VOICE_CHECK_SECONDS)
    except TimeoutError:
        logger.warning("Could not look up member %s in time", member)
        return None
    return knowing(form, person) if person is not None else None


def _under_shown_fields(errors: dict[str, str], view: dict[str, Any]) -> dict[str, str]:
    """`errors` keyed by blocks the submitted view shows: Slack refuses an answer naming any
    other block. An error for a field the view lacks (submitted before a re-render for another
    subject landed) goes under "who is on camera"; a form without that question predates it,
    and is out of date."""
    shown = {
        block.get("block_id")
        for block in view.get("blocks") or []
        if isinstance(block, dict) and block.get("type") == "input"
    }
    if any(key not in shown for key in errors) and Field.SUBJECT.value not in shown:
        return {Field.REPLICA_NAME.value: OUT_OF_DATE}
    placed: dict[str, str] = {}
    for key, message in errors.items():
        where = str(key) if key in shown else Field.SUBJECT.value
        placed[where] = f"{placed[where]} {message}" if where in placed else message
    return placed


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
    The requester's name is in the form at once when it was learnt lately (kept in memory);
    after opening it is looked up afresh, and Slack Connect files filled in, through the form's
    session, so that a click in the meantime is never undone.
    """
    refusal = await access.may_create(context.requester_id, team_id, enterprise_id)
    if refusal is not None:
        return refusal.message
    people = sessions.people
    known = people.cached_name(context.requester_id)
    if context.requester_name is None:
        context = replace(context, requester_name=known)
    session = await sessions.open(client, trigger_id, draft, context)
    if session is None:
        return not_opened
    # A name learnt within the hour is in the form already: no users.info, no re-render.
    name = None if known else await people.full_name(client, context.requester_id)
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

    @app.action(Field.SUBJECT.value)
    async def on_subject(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        values = body["view"]["state"]["values"]
        chosen = str((body["actions"][0].get("selected_option") or {}).get("value"))
        if chosen not in SubjectKind.__members__.values():
            return
        kind = SubjectKind(chosen)
        await sessions.click(client, body, lambda form: switch_subject(values, form, kind))

    @app.action(Field.SUBJECT_USER.value)
    async def on_subject_user(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        member = str(body["actions"][0].get("selected_user") or "")
        # Asked before the session's lock is taken: a slow Slack holds up no other re-render.
        person = await sessions.people.look_up(client, member) if member else None
        draft = replace(
            read_form(body["view"]["state"]["values"]),
            subject_kind=SubjectKind.MEMBER,
            subject_user_id=member,
        )
        await sessions.click(
            client,
            body,
            lambda form: (draft, form),
            # Kept even if the user did something newer while Slack was asked.
            learnt=(lambda form: knowing(form, person)) if person is not None else None,
        )

    @app.action(Field.SUBJECT_NAME.value)
    async def on_subject_name(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        # Enter pressed in the name of someone outside Slack: the sentence names them.
        await ack()
        draft = read_form(body["view"]["state"]["values"])
        await sessions.click(client, body, lambda form: (draft, form))

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
        ack: AsyncAck,
        body: dict[str, Any],
        view: dict[str, Any],
        context: AsyncBoltContext,
        client: AsyncWebClient,
    ) -> None:
        draft = read_form(view["state"]["values"])

        async def refuse(errors: dict[str, str]) -> None:
            await ack(response_action="errors", errors=_under_shown_fields(errors, view))

        try:
            session = await sessions.find(view)
        except sqlite3.Error:
            logger.exception("Could not read the session of form %s", view["id"])
            await refuse({Field.REPLICA_NAME: NOT_SAVED})
            return
        if session is None:
            await refuse({Field.REPLICA_NAME: OUT_OF_DATE})
            return
        requester = body["user"]["id"]
        # Asked again: the month's limit may have been reached since the form opened, or the
        # configuration changed. Alongside the voice and member checks, not after them: each
        # is bounded, and together they must fit in the 3 s Slack waits for this answer.
        refusal, known_voices, form = await asyncio.gather(
            access.may_create(
                requester, context.team_id, context.enterprise_id, view_id=view["id"]
            ),
            _known_voices(voices, draft.voice_name),
            _with_member_checked(sessions.people, client, draft, session.context),
        )
        if refusal is not None:
            # Nothing is recorded, so nothing reaches Tavus.
            await refuse({Field.REPLICA_NAME: refusal.field_error})
            return
        if known_voices is None:
            await refuse({Field.VOICE_NAME: VOICES_UNAVAILABLE})
            return
        if form is None:
            await refuse({Field.SUBJECT_USER: MEMBER_UNCHECKED})
            return
        checked = validate(
            draft,
            known_voices,
            form.slack_files,
            requester_id=requester,
            requester_name=form.requester_name,
            member_names=form.member_names,
            unavailable=form.unavailable,
        )
        if isinstance(checked, dict):
            await refuse(checked)
            return
        origin = SlackOrigin(
            requester_id=requester,
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
            await refuse({Field.REPLICA_NAME: refused.field_error})
            return
        except sqlite3.Error:
            logger.exception("Could not record the request from form %s", view["id"])
            await refuse({Field.REPLICA_NAME: NOT_SAVED})
            return
        await ack()
        if accepted is not None:
            workflow.start_submission(accepted)
