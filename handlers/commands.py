"""`/replica`: open the request form at once, prefilled from the command text; or answer
`help`, or (admins) `audit`."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncBoltContext, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from blocks.help import help_message
from blocks.replica_modal import ModalContext
from domain.form import draft_from_command_text
from handlers.audit import answer_audit, is_audit
from handlers.replica_modal import open_replica_form
from handlers.surface import Surface

logger = logging.getLogger(__name__)

COMMAND = "/replica"
HELP_WORDS = ("help", "-h", "--help", "?")
FORM_NOT_OPENED = "Sorry, Slack would not let me open the replica form. Please {what} again."


def register(surface: Surface) -> None:
    sessions, access, storage = surface.sessions, surface.access, surface.storage

    @surface.bolt.command(COMMAND)
    async def on_command(
        ack: AsyncAck,
        command: dict[str, Any],
        client: AsyncWebClient,
        respond: AsyncRespond,
        context: AsyncBoltContext,
    ) -> None:
        text = (command.get("text") or "").strip()
        if text.lower() in HELP_WORDS:
            admin = access.is_admin(command["user_id"])
            await ack(response_type="ephemeral", **help_message(admin=admin).as_kwargs())
            return
        if is_audit(text):
            await answer_audit(access, storage, client, ack, respond, command)
            return
        await ack()
        draft = draft_from_command_text(text)
        form = ModalContext(channel_id=command["channel_id"], requester_id=command["user_id"])
        problem = await open_replica_form(
            sessions,
            access,
            client,
            command["trigger_id"],
            draft,
            form,
            team_id=context.team_id,
            enterprise_id=context.enterprise_id,
            not_opened=FORM_NOT_OPENED.format(what="run /replica"),
        )
        if problem is not None:  # no form: a refusal, or Slack would not open it
            await respond(response_type="ephemeral", text=problem)
