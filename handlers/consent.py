"""Consent's doors: the DM's Approve, Decline and "Revoke consent and delete" buttons, and
`user_change` (a deactivated account; the Delete buttons of the admins' notice are
handlers/manage.py's). Thin: each asks the workflow's consent flow (replicas/consent.py) and
shows the clicker what became of it."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncRespond

from blocks import Message, escape_within, with_dry_run_note
from blocks.consent import (
    APPROVE,
    DECLINE,
    REVOKE,
    consent_declined,
    consent_given,
    deletion_underway,
    nothing_to_answer,
)
from blocks.manage import NOT_ALLOWED_TO_DELETE
from blocks.messages import REASON_LIMIT, was_revoked
from domain.consent import ConsentEventKind
from domain.record import ReplicaRecord
from domain.states import State
from handlers.numbers import clicked_number
from handlers.surface import Surface
from replicas.consent import Answer, Outcome

logger = logging.getLogger(__name__)

NOT_FOUND = "I can't find that replica request any more. Ask the person who made it."
NOT_YOURS_TO_ANSWER = "Only the people asked can answer this: {people}. Nothing was changed."


def _ended(record: ReplicaRecord) -> str:
    """Why a request can no longer be answered, in words for the clicker."""
    if record.state is State.DELETED:
        return "this replica has been deleted."
    if record.delete_requested_at is not None:
        return "this replica is being deleted."
    if record.state is State.NOT_CREATED:
        # The reason may be Tavus's own words: outside text, escaped and bounded.
        reason = escape_within(record.error_message or "nothing was created.", REASON_LIMIT)
        return f"this request has ended: {reason}"
    return "this request has already been answered."


def _answer_view(outcome: Outcome, user_id: str) -> Message:
    """What the DM shows after an approver's click."""
    record = outcome.record
    answer = outcome.answer
    approved = answer in (Answer.APPROVED, Answer.CONSENTED) or (
        outcome.earlier is ConsentEventKind.APPROVED
    )
    live = record.state not in (State.NOT_CREATED, State.DELETED)
    if approved and live and record.delete_requested_at is None:
        message = consent_given(record, user_id, waiting=outcome.waiting)
    elif answer is Answer.DECLINED or outcome.earlier is ConsentEventKind.DECLINED:
        message = consent_declined(record)
    else:
        message = nothing_to_answer(record, _ended(record))
    return message


def register(surface: Surface) -> None:
    app, consent = surface.bolt, surface.workflow.consent
    dry_run = surface.settings.tavus_dry_run

    def shown(message: Message) -> dict[str, Any]:
        """A DM's new content: marked in a dry run, as the outbox marks what it posts."""
        return with_dry_run_note(message, dry_run).as_kwargs()

    async def answer(body: dict[str, Any], respond: AsyncRespond, *, approve: bool) -> None:
        user_id = str(body["user"]["id"])
        request_id = clicked_number(body)
        try:
            outcome = (
                None
                if request_id is None
                else await consent.answer(request_id, user_id, approve=approve)
            )
        except LookupError:
            outcome = None
        if outcome is None:
            logger.warning("A consent answer from %s names no request: %r", user_id, body)
            await respond(response_type="ephemeral", replace_original=False, text=NOT_FOUND)
            return
        if outcome.answer is Answer.NOT_YOURS:
            logger.warning("%s tried to answer request %s for someone else", user_id, request_id)
            people = ", ".join(f"<@{u}>" for u in outcome.record.approvers)
            text = NOT_YOURS_TO_ANSWER.format(people=people)
            await respond(response_type="ephemeral", replace_original=False, text=text)
            return
        await respond(replace_original=True, **shown(_answer_view(outcome, user_id)))

    @app.action(APPROVE)
    async def on_approve(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        await answer(body, respond, approve=True)

    @app.action(DECLINE)
    async def on_decline(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        await answer(body, respond, approve=False)

    async def withdraw(body: dict[str, Any], respond: AsyncRespond) -> None:
        user_id = str(body["user"]["id"])
        request_id = clicked_number(body)
        try:
            outcome = None if request_id is None else await consent.withdraw(request_id, user_id)
        except LookupError:
            outcome = None
        if outcome is None:
            await respond(response_type="ephemeral", replace_original=False, text=NOT_FOUND)
            return
        record = outcome.record
        if outcome.answer is Answer.NOT_YOURS:
            logger.warning("%s may not delete request %s", user_id, request_id)
            text = NOT_ALLOWED_TO_DELETE
            await respond(response_type="ephemeral", replace_original=False, text=text)
            return
        if outcome.answer is Answer.ENDED:
            message = nothing_to_answer(record, _ended(record))
        else:
            revoked = outcome.answer is Answer.WITHDRAWN or was_revoked(record)
            message = deletion_underway(record, revoked=revoked)
        await respond(replace_original=True, **shown(message))

    @app.action(REVOKE)
    async def on_revoke(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        await withdraw(body, respond)

    @app.event("user_change")
    async def on_user_change(event: dict[str, Any]) -> None:
        user = event.get("user")
        if not isinstance(user, dict) or user.get("deleted") is not True or not user.get("id"):
            return
        # `updated` changes with every profile change: a later deactivation is told again,
        # a retried delivery of this one is not.
        occasion = str(user.get("updated") or event.get("event_ts") or "")
        count = await consent.person_left(str(user["id"]), occasion)
        if count:
            logger.info("%s was deactivated: admins told of %d replica(s)", user["id"], count)
