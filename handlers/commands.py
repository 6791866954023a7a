"""`/replica`: open the request form at once, prefilled from the command text."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from blocks.help import help_message
from blocks.replica_modal import ModalContext
from domain.form import draft_from_command_text
from handlers.replica_modal import open_replica_form
from handlers.surface import Surface

logger = logging.getLogger(__name__)

COMMAND = "/replica"
HELP_WORDS = ("help", "-h", "--help", "?")
FORM_NOT_OPENED = "Sorry, Slack would not let me open the replica form. Please {what} again."


def register(surface: Surface) -> None:
    sessions = surface.sessions

    @surface.bolt.command(COMMAND)
    async def on_command(
        ack: AsyncAck, command: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond
    ) -> None:
        text = (command.get("text") or "").strip()
        if text.lower() in HELP_WORDS:
            await ack(response_type="ephemeral", **help_message().as_kwargs())
            return
        await ack()
        draft = draft_from_command_text(text)
        form = ModalContext(channel_id=command["channel_id"], requester_id=command["user_id"])
        if not await open_replica_form(sessions, client, command["trigger_id"], draft, form):
            await respond(
                response_type="ephemeral", text=FORM_NOT_OPENED.format(what="run /replica")
            )
