"""Managing a replica from its buttons (status message, App Home, `/replica list`, the admins'
notice): Rename, Delete (with or without the training footage) and Try again. Thin: who may
and what happens are the workflow's (replicas/manage.py, replicas/consent.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncBoltContext, AsyncRespond
from slack_sdk.models.views import View
from slack_sdk.web.async_client import AsyncWebClient

from blocks.manage import (
    DELETE_MODAL,
    FOOTAGE,
    NEW_NAME,
    NOT_ALLOWED,
    NOT_ALLOWED_TO_DELETE,
    RENAME_MODAL,
    delete_modal,
    message_modal,
    rename_modal,
)
from blocks.replica_actions import DELETE, RENAME, RETRY
from blocks.replica_modal import ModalContext
from domain.record import ReplicaRecord
from domain.retry import draft_from_request
from domain.states import State
from handlers.commands import FORM_NOT_OPENED
from handlers.numbers import clicked_number, number
from handlers.replica_modal import open_replica_form
from handlers.surface import Surface
from replicas.consent import Answer
from replicas.manage import Renamed
from slack_access.errors import SLACK_ERRORS
from tavus.errors import TavusError

logger = logging.getLogger(__name__)

NOT_FOUND = "I can't find that replica any more."
GONE = "This replica was deleted, or never created, so there is nothing to {what}."
RENAME_SECONDS = 2.5  # within the 3 s Slack waits for the dialog's answer
RENAME_SLOW = "Tavus is taking a while to answer. Try again in a moment."
RENAME_FAILED = (
    "Tavus could not rename it just now, so nothing changed. Try again in a moment; if it "
    "keeps failing, ask whoever runs the bot."
)
BAD_NAME = "Give it a name of 1 to 100 characters."
ENDED = frozenset({State.DELETED, State.NOT_CREATED})  # nothing at Tavus to manage


async def _tell(
    body: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond, text: str
) -> None:
    """Answer a click only the clicker sees: beside the message clicked on, or (App Home has
    no channel) in a small dialog."""
    try:
        if body.get("response_url"):
            await respond(response_type="ephemeral", replace_original=False, text=text)
        else:
            await client.views_open(
                trigger_id=body["trigger_id"], view=message_modal("Replica", text)
            )
    except SLACK_ERRORS:
        logger.warning("Could not tell %s: %s", body.get("user", {}).get("id"), text, exc_info=True)


def register(surface: Surface) -> None:
    app, workflow, sessions, access = (
        surface.bolt,
        surface.workflow,
        surface.sessions,
        surface.access,
    )
    manager, consent = workflow.manage, workflow.consent
    can_relay = surface.settings.can_relay_files

    async def clicked_record(
        body: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond
    ) -> ReplicaRecord | None:
        request_id = clicked_number(body)
        try:
            if request_id is not None:
                return await manager.record(request_id)
        except LookupError:
            pass
        await _tell(body, client, respond, NOT_FOUND)
        return None

    async def offer_dialog(
        body: dict[str, Any],
        client: AsyncWebClient,
        respond: AsyncRespond,
        *,
        what: str,
        allowed: Callable[[ReplicaRecord, str], bool],
        refusal: str,
        gone: Callable[[ReplicaRecord], bool],
        dialog: Callable[[ReplicaRecord], View],
    ) -> None:
        """A button that opens a dialog about its replica, for those `allowed` to `what` it
        (anyone else is told `refusal`), while it is not `gone`."""
        record = await clicked_record(body, client, respond)
        if record is None:
            return
        if not allowed(record, body["user"]["id"]):
            await _tell(body, client, respond, refusal)
        elif gone(record):
            await _tell(body, client, respond, GONE.format(what=what))
        else:
            await client.views_open(trigger_id=body["trigger_id"], view=dialog(record))

    # -- rename ------------------------------------------------------------------------------

    @app.action(RENAME)
    async def on_rename(
        ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond
    ) -> None:
        await ack()
        await offer_dialog(
            body,
            client,
            respond,
            what="rename",
            allowed=manager.may_manage,
            refusal=NOT_ALLOWED.format(what="rename"),
            gone=lambda record: record.replica_id is None or record.state in ENDED,
            dialog=rename_modal,
        )

    @app.view(RENAME_MODAL)
    async def on_rename_submit(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        request_id = number(view.get("private_metadata"))
        value = view["state"]["values"].get(NEW_NAME, {}).get(NEW_NAME, {}).get("value") or ""
        if request_id is None:
            await ack(response_action="errors", errors={NEW_NAME: NOT_FOUND})
            return
        # Shielded: a slow Tavus still gets to finish the rename after Slack stops waiting.
        renaming = asyncio.ensure_future(manager.rename(request_id, body["user"]["id"], value))
        try:
            result = await asyncio.wait_for(asyncio.shield(renaming), RENAME_SECONDS)
        except TimeoutError:
            await ack(response_action="errors", errors={NEW_NAME: RENAME_SLOW})
            return
        except TavusError:
            logger.warning("Could not rename request %s at Tavus", request_id, exc_info=True)
            await ack(response_action="errors", errors={NEW_NAME: RENAME_FAILED})
            return
        except LookupError:
            await ack(response_action="errors", errors={NEW_NAME: NOT_FOUND})
            return
        errors = {
            Renamed.NOT_YOURS: NOT_ALLOWED.format(what="rename"),
            Renamed.BAD_NAME: BAD_NAME,
            Renamed.NO_REPLICA: GONE.format(what="rename"),
        }
        if result in errors:
            await ack(response_action="errors", errors={NEW_NAME: errors[result]})
        else:
            await ack()

    # -- delete ------------------------------------------------------------------------------

    @app.action(DELETE)
    async def on_delete(
        ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond
    ) -> None:
        await ack()
        await offer_dialog(
            body,
            client,
            respond,
            what="delete",
            allowed=consent.may_withdraw,
            refusal=NOT_ALLOWED_TO_DELETE,
            gone=lambda record: record.state in ENDED or record.delete_requested_at is not None,
            dialog=delete_modal,
        )

    @app.view(DELETE_MODAL)
    async def on_delete_submit(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        request_id = number(view.get("private_metadata"))
        chosen = view["state"]["values"].get(FOOTAGE, {}).get(FOOTAGE, {})
        hard = bool(chosen.get("selected_options"))
        try:
            if request_id is None:
                raise LookupError(view.get("private_metadata"))
            outcome = await consent.withdraw(request_id, body["user"]["id"], hard=hard)
        except LookupError:
            await ack(response_action="errors", errors={FOOTAGE: NOT_FOUND})
            return
        if outcome.answer is Answer.NOT_YOURS:
            await ack(response_action="errors", errors={FOOTAGE: NOT_ALLOWED_TO_DELETE})
            return
        # Deleting (or already gone, or ended before it reached Tavus): the status message and
        # its thread tell the rest.
        await ack()

    # -- try again ---------------------------------------------------------------------------

    @app.action(RETRY)
    async def on_retry(
        ack: AsyncAck,
        body: dict[str, Any],
        client: AsyncWebClient,
        respond: AsyncRespond,
        context: AsyncBoltContext,
    ) -> None:
        await ack()
        record = await clicked_record(body, client, respond)
        if record is None:
            return
        user_id = body["user"]["id"]
        if not manager.may_manage(record, user_id):
            await _tell(body, client, respond, NOT_ALLOWED.format(what="try again with"))
            return
        request = record.request
        form = ModalContext(
            # The new request talks in the old one's thread.
            channel_id=record.message_channel_id or record.origin.channel_id,
            requester_id=user_id,
            thread_ts=record.reply_thread_ts,
            # Looked up afresh after the form opens (files.info), as a Slack Connect stub is.
            files=[{"id": request.slack_file_id}] if request.slack_file_id else [],
            can_relay=can_relay,
        )
        problem = await open_replica_form(
            sessions,
            access,
            client,
            body["trigger_id"],
            draft_from_request(request),
            form,
            team_id=context.team_id,
            enterprise_id=context.enterprise_id,
            not_opened=FORM_NOT_OPENED.format(what="click Try again"),
        )
        if problem is not None:
            await _tell(body, client, respond, problem)
