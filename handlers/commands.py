"""`/replica`: open the request form at once, prefilled from the command text."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from blocks.help import help_message
from blocks.replica_modal import ModalContext, build_replica_modal
from replicas.form import draft_from_command_text
from replicas.notifier import SLACK_ERRORS

logger = logging.getLogger(__name__)

COMMAND = "/replica"
HELP_WORDS = ("help", "-h", "--help", "?")


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


async def open_replica_form(
    ack: AsyncAck,
    command: dict[str, Any],
    client: AsyncWebClient,
    respond: AsyncRespond,
) -> None:
    text = (command.get("text") or "").strip()
    if text.lower() in HELP_WORDS:
        await ack(response_type="ephemeral", **help_message().as_kwargs())
        return
    await ack()
    # The trigger_id dies ~3 s after the command: open the form before any other I/O.
    draft = draft_from_command_text(text)
    context = ModalContext(channel_id=command["channel_id"], requester_id=command["user_id"])
    try:
        opened = await client.views_open(
            trigger_id=command["trigger_id"], view=build_replica_modal(draft, context)
        )
    except SLACK_ERRORS:
        logger.exception("Could not open the replica form for %s", command["user_id"])
        await respond(
            response_type="ephemeral",
            text="Sorry, Slack would not let me open the replica form. Please run /replica again.",
        )
        return
    # Now that the form is up, fill the requester's name into the consent sentence.
    name = await full_name(client, command["user_id"])
    if name is None:
        return
    view = opened["view"]
    try:
        await client.views_update(
            view_id=view["id"],
            hash=view["hash"],
            view=build_replica_modal(draft, replace(context, requester_name=name)),
        )
    except SLACK_ERRORS:
        # Usually hash_conflict: the user already switched mode, which re-rendered the form.
        logger.info("Did not add the name to form %s", view["id"], exc_info=True)


def register(app: AsyncApp) -> None:
    app.command(COMMAND)(open_replica_form)
