"""Consent messages: the DM asking someone on camera (or who shared the footage) to approve a
replica, what it becomes once they answer, and the admins' notice when such a person leaves."""

from __future__ import annotations

from collections.abc import Sequence

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

from blocks import TEXT_LIMIT, Message, escape_within, fit
from blocks.replica_actions import DELETE
from domain.record import ReplicaRecord
from domain.request import Mode

APPROVE = "consent_approve"
DECLINE = "consent_decline"
REVOKE = "consent_revoke"  # the subject withdraws consent: the replica is deleted at Tavus

NAME_LIMIT = 200
USE_LIMIT = 600
LINK_LIMIT = 500
STATEMENT_LIMIT = 1500
# A Slack message holds at most 50 blocks: the notice lists this many replicas, then says so.
NOTICE_LIMIT = 20

SUBJECT = "subject"  # asked because they are on camera
FILE_OWNER = "file_owner"  # asked because they shared the footage


def role_of(record: ReplicaRecord, user_id: str) -> str:
    """Why `user_id` is asked: they are on camera, or (only) they shared the footage."""
    return SUBJECT if record.request.subject.user_id == user_id else FILE_OWNER


def _section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=fit(text, TEXT_LIMIT)))


def _note(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=fit(text, TEXT_LIMIT))])


def _name(record: ReplicaRecord) -> str:
    return escape_within(record.request.replica_name, NAME_LIMIT)


def _media(record: ReplicaRecord) -> str:
    request = record.request
    if request.slack_file_id:
        what = escape_within(request.slack_file_name or "a file", NAME_LIMIT)
        link = request.slack_file_permalink
        return f"<{link}|{what}> (shared in Slack)" if link else f"{what} (shared in Slack)"
    return escape_within(request.media_url, LINK_LIMIT)


def _what_is_asked(record: ReplicaRecord, role: str) -> str:
    requester = f"<@{record.origin.requester_id}>"
    kind = "video" if record.request.mode is Mode.VIDEO else "photo"
    if role == SUBJECT:
        return f"{requester} asks to make an AI replica of *you* from a {kind}: a clone of your "
    subject = record.request.subject
    on_camera = (
        f"<@{subject.user_id}>" if subject.user_id else escape_within(subject.name or "", 100)
    )
    return (
        f"{requester} asks to make an AI replica of {on_camera} from a {kind} *you shared*: a "
        "clone of that person's "
    )


def _summary(record: ReplicaRecord, role: str) -> list[Block]:
    request = record.request
    likeness = "face and voice" if request.mode is Mode.VIDEO else "face"
    lines = [
        f"{_what_is_asked(record, role)}{likeness} that can be made to say anything.",
        f"*Replica:* {_name(record)}",
        f"*What it is for:* {escape_within(request.intended_use or 'not given', USE_LIMIT)}",
        f"*Made from:* {_media(record)}",
    ]
    blocks: list[Block] = [_section("\n".join(lines))]
    if request.statement:
        quoted = escape_within(request.statement, STATEMENT_LIMIT)
        blocks.append(_section(f"*What you agree to:*\n>{quoted}"))
    return blocks


def consent_request(record: ReplicaRecord, user_id: str, *, expires_in_days: int) -> Message:
    """The DM asking `user_id` to approve the request; only they can answer it."""
    role = role_of(record, user_id)
    value = str(record.id)
    blocks = _summary(record, role)
    blocks.append(
        ActionsBlock(
            block_id=f"consent_{record.id}",
            elements=[
                ButtonElement(text="Approve", action_id=APPROVE, value=value, style="primary"),
                ButtonElement(text="Decline", action_id=DECLINE, value=value, style="danger"),
            ],
        )
    )
    blocks.append(
        _note(
            "Nothing goes to Tavus unless you approve. If you don't answer within "
            f"{expires_in_days} days, the request lapses. After approving you can still "
            "withdraw consent here, which deletes the replica."
        )
    )
    fallback = (
        f"<@{record.origin.requester_id}> asks for your consent to an AI replica: {_name(record)}"
    )
    return Message(text=fallback, blocks=blocks)


def _revoke_button(record: ReplicaRecord) -> ButtonElement:
    return ButtonElement(
        text="Revoke consent and delete",
        action_id=REVOKE,
        value=str(record.id),
        style="danger",
        confirm=ConfirmObject(
            title="Delete this replica?",
            text=(
                "Tavus deletes the replica and its training footage for good, and the requester "
                "is told you withdrew consent."
            ),
            confirm="Revoke and delete",
            deny="Keep it",
            style="danger",
        ),
    )


def consent_given(record: ReplicaRecord, user_id: str, *, waiting: Sequence[str]) -> Message:
    """The DM once `user_id` approved: what they approved, and how to take it back."""
    blocks = _summary(record, role_of(record, user_id))
    after = (
        "Training starts now; it usually takes a few hours."
        if not waiting
        else f"Training starts once {', '.join(f'<@{u}>' for u in waiting)} approves too."
    )
    blocks.append(_section(f":white_check_mark: You approved. {after}"))
    blocks.append(ActionsBlock(block_id=f"revoke_{record.id}", elements=[_revoke_button(record)]))
    return Message(text=f"You approved the replica {_name(record)}.", blocks=blocks)


def consent_declined(record: ReplicaRecord) -> Message:
    text = (
        f":no_entry_sign: You declined *{_name(record)}*. Nothing was sent to Tavus, and "
        f"<@{record.origin.requester_id}> has been told."
    )
    return Message(text=text, blocks=[_section(text)])


def deletion_underway(record: ReplicaRecord, *, revoked: bool) -> Message:
    """Said to whoever asked for a deletion: it is recorded, and Tavus is being asked."""
    what = "You withdrew your consent to" if revoked else "You asked to delete"
    text = (
        f":wastebasket: {what} *{_name(record)}*. I'm deleting it at Tavus, with its "
        f"training footage, and will tell <@{record.origin.requester_id}> in its thread."
    )
    return Message(text=text, blocks=[_section(text)])


def nothing_to_answer(record: ReplicaRecord, why: str) -> Message:
    """A click on a request that has moved on (expired, declined, withdrawn, deleted)."""
    text = f"*{_name(record)}*: {why}"
    return Message(text=text, blocks=[_section(text)])


def person_left_notice(user_id: str, records: Sequence[ReplicaRecord]) -> Message:
    """To admins: a deactivated Slack account is on camera in (or shared the footage of)
    these replicas, each with a Delete button."""
    intro = (
        f"<@{user_id}>'s Slack account was deactivated. These replicas show them, or were "
        "made from footage they shared. If their consent ends with their account, delete them:"
    )
    blocks: list[Block] = [_section(intro)]
    for record in records[:NOTICE_LIMIT]:
        detail = f"*{_name(record)}* · requested by <@{record.origin.requester_id}>"
        if record.replica_id:
            detail += f" · `{escape_within(record.replica_id, 100)}`"
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(text=fit(detail, TEXT_LIMIT)),
                # Opens the delete dialog, as the status message's Delete does.
                accessory=ButtonElement(
                    text="Delete", action_id=DELETE, value=str(record.id), style="danger"
                ),
            )
        )
    if len(records) > NOTICE_LIMIT:
        more = len(records) - NOTICE_LIMIT
        blocks.append(_note(f"…and {more} more: export them with `/replica audit`."))
    return Message(text=f"<@{user_id}> left: {len(records)} replica(s) show them.", blocks=blocks)
