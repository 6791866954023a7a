"""Channel messages about a replica request: the root status message and the thread replies."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum

from slack_sdk.models.blocks import ContextBlock, MarkdownTextObject, SectionBlock

from blocks import TEXT_LIMIT, Message, escape_within, fit
from blocks.replica_actions import action_buttons, preview_link, training_line
from domain.record import ReplicaRecord
from domain.request import Mode
from domain.states import State
from domain.subject import SubjectKind
from domain.training import FINETUNE_FAILED, PREVIEW_MODELS
from domain.training_errors import hint_for

STATUS = {
    State.AWAITING_CONSENT: (":raised_hand:", "Waiting for consent"),
    State.SUBMITTING: (":hourglass_flowing_sand:", "Sending to Tavus…"),
    State.TRAINING: (":gear:", "Training – usually 3–4 hours"),
    State.PREVIEW_READY: (":eyes:", "Preview ready – tuning goes on, usually a few hours"),
    State.SUCCEEDED: (":white_check_mark:", "Ready"),
    State.FAILED: (":x:", "Training failed"),
    State.NOT_CREATED: (":x:", "Not created"),
    State.UNCERTAIN: (":mag:", "Checking with Tavus whether training started"),
    State.DELETED: (":wastebasket:", "Deleted"),
}
MODE_NAMES = {Mode.VIDEO: "From a video", Mode.IMAGE: "From a photo"}
# Bounds for outside text, after escaping (Slack refuses a text over TEXT_LIMIT characters).
NAME_LIMIT = 200
DETAIL_LIMIT = 150
REASON_LIMIT = 1500
REASON_REST = " (shortened: the bot's admin can read the whole message in its log)"


def _subject(record: ReplicaRecord) -> str:
    """Who is on camera: a mention, or the name given for someone outside Slack (bounded)."""
    subject = record.request.subject
    if subject.user_id:
        return f"<@{subject.user_id}>"
    return _detail(subject.name or "someone outside Slack")


def _name(record: ReplicaRecord) -> str:
    return escape_within(record.request.replica_name, NAME_LIMIT)


def _detail(text: str) -> str:
    """A file, voice or replica id from outside, as one short detail."""
    return escape_within(text, DETAIL_LIMIT)


def _reason(text: str) -> str:
    """Tavus's (or a relay's) explanation: its start, and where the rest is."""
    return escape_within(text, REASON_LIMIT, rest=REASON_REST)


def _section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=fit(text, TEXT_LIMIT)))


def _reply(text: str) -> Message:
    return Message(text=text, blocks=[_section(text)])


def _people(user_ids: Sequence[str]) -> str:
    """Slack users as mentions: "<@A>", "<@A> and <@B>", "<@A>, <@B> and <@C>"."""
    mentions = [f"<@{user_id}>" for user_id in user_ids]
    if len(mentions) < 2:
        return "".join(mentions)
    return ", ".join(mentions[:-1]) + " and " + mentions[-1]


def status_label(record: ReplicaRecord) -> str:
    """The state as the root message names it."""
    waiting = record.awaiting
    if record.state is State.AWAITING_CONSENT and len(waiting) == 1:
        return f"Waiting for {_people(waiting)}'s consent"
    if record.state is State.AWAITING_CONSENT and waiting:
        return f"Waiting for consent from {_people(waiting)}"
    return STATUS[record.state][1]


def was_revoked(record: ReplicaRecord) -> bool:
    """Whether the deletion was asked by someone on camera or owning the footage (consent
    withdrawn), rather than an admin or the requester."""
    by = record.delete_requested_by
    return by is not None and by in (
        record.request.subject.user_id,
        record.request.slack_file_owner,
    )


def _slack_date(stamp: str | None) -> str:
    """An ISO time as Slack shows dates, in each reader's own time zone."""
    try:
        moment = datetime.fromisoformat(stamp or "")
    except ValueError:
        return "recently"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    fallback = moment.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} at {{time}}|{fallback}>"


def _deletion(record: ReplicaRecord) -> str | None:
    """Who deleted it and when, for a deleted replica's message."""
    if record.state is not State.DELETED:
        return None
    by = record.delete_requested_by
    who = f" by <@{by}>" if by else ""
    footage = " with its training footage" if record.delete_hard else ""
    return f"Deleted{who}{footage} {_slack_date(record.deleted_at)}."


def status_message(record: ReplicaRecord, now: datetime | None = None) -> Message:
    """The root message: one per request, edited in place as its state changes. `now`: when
    it is rendered (the elapsed time while training); the current time by default."""
    emoji = STATUS[record.state][0]
    label = status_label(record)
    request = record.request
    name = _name(record)
    details = [
        f"Requested by <@{record.origin.requester_id}>",
        MODE_NAMES[request.mode],
        request.model_name,
    ]
    if request.slack_file_name:
        details.append(f"File: {_detail(request.slack_file_name)}")
    if request.voice_name:
        details.append(f"Voice: {_detail(request.voice_name)}")
    if record.request.subject.kind is not SubjectKind.ME:
        details.append(f"On camera: {_subject(record)}")
    if record.replica_id:
        details.append(f"Replica id: `{_detail(record.replica_id)}`")
    blocks = [
        _section(f"{emoji} *{name}* – {label}"),
        ContextBlock(elements=[MarkdownTextObject(text=fit(" · ".join(details), TEXT_LIMIT))]),
    ]
    if record.state in (State.FAILED, State.NOT_CREATED, State.UNCERTAIN) and record.error_message:
        blocks.append(
            ContextBlock(elements=[MarkdownTextObject(text=_reason(record.error_message))])
        )
    if record.state is State.SUCCEEDED and record.request.model_name in PREVIEW_MODELS:
        note = TUNING_FAILED if _tuning_failed(record) else "Tuned, without watermark."
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=note)]))
    extra = [
        line
        for line in (
            training_line(record, now or datetime.now(UTC)),
            preview_link(record),
            _deletion(record),
        )
        if line
    ]
    if extra:
        blocks.append(_section("\n".join(extra)))
    buttons = action_buttons(record)
    if buttons is not None:
        blocks.append(buttons)
    return Message(text=f"Replica {name}: {label}", blocks=blocks)


TUNING_FAILED = "Tuning failed, so the watermarked preview is what there is: it stays usable."


def _tuning_failed(record: ReplicaRecord) -> bool:
    return (record.finetune_status or "").strip().lower() in FINETUNE_FAILED


def outcome_reply(record: ReplicaRecord) -> Message:
    """The thread reply that tells the requester how their request ended."""
    mention = f"<@{record.origin.requester_id}>"
    name = _name(record)
    error = _reason(record.error_message or "Tavus gave no reason.")
    if record.state is State.SUCCEEDED and _tuning_failed(record):
        text = (
            f"{mention} :warning: Tuning *{name}* failed: {error} The watermarked preview "
            f"stays usable. Replica id: `{_detail(record.replica_id or '')}`"
        )
    elif record.state is State.SUCCEEDED:
        tuned = "tuned and " if record.request.model_name in PREVIEW_MODELS else ""
        text = (
            f"{mention} :white_check_mark: Your replica *{name}* is {tuned}ready. "
            f"Replica id: `{_detail(record.replica_id or '')}`"
        )
    elif record.state is State.FAILED:
        text = f"{mention} :x: Training *{name}* failed: {error}"
        hint = hint_for(record.error_message)
        if hint:
            text += f"\n*How to fix it:* {hint}"
    elif record.state is State.NOT_CREATED:
        text = f"{mention} :x: *{name}* was not created: {error}"
    elif record.state is State.DELETED:
        by = record.delete_requested_by
        why = (
            f"because <@{by}> withdrew their consent"
            if was_revoked(record)
            else f"as <@{by}> asked"
            if by
            else "as asked"
        )
        footage = ", with its training footage," if record.delete_hard else ""
        text = f"{mention} :wastebasket: *{name}* was deleted at Tavus{footage} {why}."
    elif record.state is State.UNCERTAIN:
        text = (
            f"{mention} :warning: I sent *{name}* to Tavus but got no clear answer ({error}). "
            "I will not send it again, because each request can start a paid training. "
            "I'm asking Tavus whether it created the replica and will tell you here."
        )
    else:
        raise ValueError(f"request {record.id} has no outcome yet (state {record.state})")
    return _reply(text)


def adopted_reply(record: ReplicaRecord) -> Message:
    """Said when an ambiguous create turns out to have started a training."""
    text = (
        f"<@{record.origin.requester_id}> :gear: Tavus did create *{_name(record)}*: "
        f"replica id `{_detail(record.replica_id or '')}`. It is training now; I'll post here "
        "when it is done."
    )
    return _reply(text)


def preview_reply(record: ReplicaRecord) -> Message:
    """Said when a two-stage model's watermarked preview is usable."""
    link = preview_link(record)
    watch = f" {link}." if link else ""
    text = (
        f"<@{record.origin.requester_id}> :eyes: A watermarked preview of *{_name(record)}* "
        f"is ready to try.{watch} Tuning goes on (usually a few hours); I'll post here when "
        "the final replica is ready."
    )
    return _reply(text)


class ReplyKind(StrEnum):
    """The thread replies the workflow owes a request. The outbox stores the kind, not the
    message, and renders it when it delivers it (`reply_message`)."""

    OUTCOME = "outcome"  # how the request ended: succeeded, failed, not created
    UNCERTAIN = "uncertain"  # the create may have started a training: asking Tavus
    ADOPTED = "adopted"  # it had: the replica it made
    PREVIEW = "preview"  # a two-stage model's watermarked preview is usable; tuning goes on
    DELETED = "deleted"  # the replica was deleted at Tavus (after its outcome was told)


# Each kind's renderer. A kind once written to the outbox must keep one: rows of it may be
# waiting (through a Slack outage) across an upgrade.
REPLIES: Mapping[str, Callable[[ReplicaRecord], Message]] = {
    ReplyKind.OUTCOME: outcome_reply,
    ReplyKind.UNCERTAIN: outcome_reply,  # outcome_reply tells an UNCERTAIN state as such
    ReplyKind.ADOPTED: adopted_reply,
    ReplyKind.PREVIEW: preview_reply,
    ReplyKind.DELETED: outcome_reply,  # outcome_reply tells a DELETED state as such
}


def reply_message(kind: str, record: ReplicaRecord) -> Message:
    """The reply of `kind` about `record`. KeyError for a kind with no renderer."""
    return REPLIES[kind](record)


def moved_to_dm_notice(channel_id: str) -> Message:
    """Said in the requester's DM when the bot cannot post where the request was made."""
    # The same words for every reason Slack gave (not a member, a private channel the bot
    # cannot join, an archived channel): the notice may be posted after a restart, when the
    # reason is no longer known, and each case has the same fix.
    text = (
        f"I can't post in <#{channel_id}> (I'm not a member there, or it was archived), so "
        "I'll keep you posted here. If that channel is still in use, invite me to it to see "
        "replica updates there next time."
    )
    return _reply(text)
