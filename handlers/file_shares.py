"""Files shared in Slack: the upload prompt, its buttons, and the "Create replica" shortcut.

Both doors open the same request form as /replica, prefilled from the shared files; the form's
submission then goes through the one workflow.

The prompt is offered sparingly: where UPLOAD_PROMPTS allows (everywhere, DMs with the bot, or
nowhere), never to someone who chose "Don't ask me again", and in a channel only for an upload
with a file Tavus would take (in a DM with the bot the sharer is asking, so a refusal is
explained). All of this is decided before anything is recorded or posted.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncBoltContext, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from blocks.replica_modal import ModalContext
from blocks.upload_prompt import (
    CREATE_FROM_UPLOAD,
    DISMISS_PROMPT,
    PROMPTS_OFF,
    PROMPTS_OFF_FAILED,
    prompts_off_done,
    upload_prompt,
)
from domain.form import draft_from_files
from domain.slack_files import SlackFile, media_files
from handlers.commands import FORM_NOT_OPENED
from handlers.replica_modal import fill_in_stubs, open_replica_form
from handlers.surface import Surface
from settings import UploadPrompts
from slack_access.errors import SLACK_ERRORS
from storage import uploads

logger = logging.getLogger(__name__)

SHORTCUT = "create_replica"
NO_MEDIA = (
    "That message has no video or photo to train from. Share a training video or a photo in "
    "Slack and use this shortcut on it, or run /replica to paste a link."
)
PROMPT_EXPIRED = (
    "I can't find that upload any more. Use the “Create replica” shortcut on its message, "
    "or run /replica."
)


def _thread_of(message: dict[str, Any]) -> str:
    """The thread a message's replica talks in: its own, or the one it was posted in."""
    return str(message.get("thread_ts") or message["ts"])


def _in_dm_with_the_bot(event: dict[str, Any]) -> bool:
    """Whether a message event happened in a DM with the bot (DM channel ids start with D)."""
    return event.get("channel_type") == "im" or str(event.get("channel") or "").startswith("D")


def _prompts_allowed(setting: UploadPrompts, *, in_dm: bool) -> bool:
    """Whether UPLOAD_PROMPTS lets an upload here be prompted at all."""
    if setting == UploadPrompts.OFF:
        return False
    return in_dm or setting == UploadPrompts.ALL


def register(surface: Surface) -> None:
    app, storage, sessions, access = (
        surface.bolt,
        surface.storage,
        surface.sessions,
        surface.access,
    )
    can_relay = surface.settings.can_relay_files
    prompts_setting = surface.settings.upload_prompts

    async def open_form_for(
        client: AsyncWebClient,
        bolt_context: AsyncBoltContext,
        trigger_id: str,
        *,
        channel_id: str,
        requester_id: str,
        thread_ts: str,
        files: list[SlackFile],
        again: str,
    ) -> str | None:
        """The request form, prefilled from shared files. None if it opened; otherwise what
        to tell the requester (a refusal, or that Slack would not open it: try `again`)."""
        context = ModalContext(
            channel_id=channel_id,
            requester_id=requester_id,
            thread_ts=thread_ts,
            files=[f.to_metadata() for f in files],
            can_relay=can_relay,
        )
        return await open_replica_form(
            sessions,
            access,
            client,
            trigger_id,
            draft_from_files(files),
            context,
            team_id=bolt_context.team_id,
            enterprise_id=bolt_context.enterprise_id,
            not_opened=FORM_NOT_OPENED.format(what=again),
        )

    @app.event({"type": "message", "subtype": "file_share"})
    async def on_file_share(event: dict[str, Any], client: AsyncWebClient) -> None:
        files = media_files(event.get("files"))
        user_id = event.get("user")
        if not files or not user_id:
            return  # not a video or photo: no prompt
        in_dm = _in_dm_with_the_bot(event)
        where = f"{event.get('channel')}:{event.get('ts')}"
        if not _prompts_allowed(prompts_setting, in_dm=in_dm):
            logger.debug("Upload %s: UPLOAD_PROMPTS=%s, not prompting", where, prompts_setting)
            return
        if not await storage.run(uploads.prompts_wanted, str(user_id)):
            logger.debug("Upload %s: %s asked for no prompts, not prompting", where, user_id)
            return
        files = await fill_in_stubs(client, files)
        if not files:
            return
        if not in_dm and all(f.problem() is not None for f in files):
            # Not asked for: nobody in a channel wants a note on every clip Tavus can't use.
            # The shortcut (or a DM with the bot) still explains the refusal.
            logger.info(
                "Upload %s has no file Tavus would take (%s); not prompting",
                where,
                "; ".join(str(f.problem()) for f in files),
            )
            return
        upload = uploads.Upload(
            channel_id=event["channel"],
            message_ts=event["ts"],
            thread_ts=_thread_of(event),
            user_id=event["user"],
            files=files,
        )
        # Recorded first: a retried event (or a restart mid-way) never prompts twice.
        if not await storage.run(uploads.record_upload, upload):
            logger.info("Upload %s was already offered; not prompting again", upload.key)
            return
        try:
            await client.chat_postEphemeral(
                channel=upload.channel_id,
                user=upload.user_id,
                thread_ts=event.get("thread_ts"),
                **upload_prompt(files, upload.key, can_relay=can_relay).as_kwargs(),
            )
        except SLACK_ERRORS:
            logger.exception("Could not offer a replica for upload %s", upload.key)

    # Every message event the manifest subscribes to must be acknowledged, or Slack retries it.
    @app.event("message")
    async def on_other_message() -> None:
        pass

    @app.event("file_shared")
    async def on_file_shared() -> None:
        # The matching `message` event (which has the ts to thread under) does the prompting.
        pass

    @app.action(CREATE_FROM_UPLOAD)
    async def on_create_from_upload(
        ack: AsyncAck,
        body: dict[str, Any],
        client: AsyncWebClient,
        respond: AsyncRespond,
        context: AsyncBoltContext,
    ) -> None:
        await ack()
        key = str(body["actions"][0].get("value") or "")
        upload = await storage.run(uploads.find_upload, key)
        if upload is None:
            await respond(response_type="ephemeral", replace_original=False, text=PROMPT_EXPIRED)
            return
        problem = await open_form_for(
            client,
            context,
            body["trigger_id"],
            channel_id=upload.channel_id,
            requester_id=body["user"]["id"],
            thread_ts=upload.thread_ts,
            files=upload.files,
            again="click the button",
        )
        if problem is not None:  # the prompt stays, so the button can be tried again
            await respond(response_type="ephemeral", replace_original=False, text=problem)

    @app.action(DISMISS_PROMPT)
    async def on_dismiss(ack: AsyncAck, respond: AsyncRespond) -> None:
        await ack()
        await respond(delete_original=True)

    @app.action(PROMPTS_OFF)
    async def on_prompts_off(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        user_id = str(body["user"]["id"])
        try:
            await storage.run(uploads.set_prompts, user_id, wanted=False)
        except sqlite3.Error:
            logger.exception("Could not record that %s wants no upload prompts", user_id)
            await respond(
                response_type="ephemeral", replace_original=False, text=PROMPTS_OFF_FAILED
            )
            return
        logger.info("%s chose no upload prompts (/replica prompts on undoes it)", user_id)
        await respond(replace_original=True, **prompts_off_done().as_kwargs())

    @app.shortcut(SHORTCUT)
    async def on_shortcut(
        ack: AsyncAck,
        shortcut: dict[str, Any],
        client: AsyncWebClient,
        respond: AsyncRespond,
        context: AsyncBoltContext,
    ) -> None:
        await ack()
        message = shortcut.get("message") or {}
        files = media_files(message.get("files"))
        if not files:
            await respond(response_type="ephemeral", text=NO_MEDIA)
            return
        problem = await open_form_for(
            client,
            context,
            shortcut["trigger_id"],
            channel_id=shortcut["channel"]["id"],
            requester_id=shortcut["user"]["id"],
            thread_ts=_thread_of(message),
            files=files,
            again="use the shortcut",
        )
        if problem is not None:
            await respond(response_type="ephemeral", text=problem)
