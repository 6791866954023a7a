"""The ephemeral prompt offered to someone who shared a video or photo."""

from __future__ import annotations

from collections.abc import Sequence

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

from blocks import Message, escape_within, plain_within
from domain.slack_files import SlackFile

CREATE_FROM_UPLOAD = "create_replica_from_upload"
DISMISS_PROMPT = "dismiss_upload_prompt"
# "Don't ask me again": no more prompts for this user's uploads (`/replica prompts on` undoes it).
PROMPTS_OFF = "upload_prompts_off"
PROMPTS_OFF_TEXT = "Don't ask me again"
PROMPTS_OFF_DONE = (
    "OK, I won't offer to make a replica when you share a video or photo. To undo this, type "
    "`/replica prompts on`. The “Create replica” shortcut (in the ⋯ menu of any message with "
    "a video or photo) still works, and so does `/replica`."
)
PROMPTS_OFF_FAILED = "I couldn't save that just now, so nothing changed. Try again in a moment."
BUTTON_TEXT_LIMIT = 75
# Each refusal names a file, whose name Slack does not bound.
PROBLEM_LIMIT = 300
NO_PUBLIC_URL = (
    "To train from files shared in Slack, I need a public URL that Tavus can download them "
    "from, and I don't have one yet: ask whoever runs the bot to set one up. Meanwhile you "
    "can paste a link to the file."
)


def _button_text(usable: Sequence[SlackFile]) -> str:
    if len(usable) > 1:
        return f"Create a replica from one of these {len(usable)} files"
    text = f"Create a replica from {usable[0].name or 'this file'}"
    return plain_within(text, BUTTON_TEXT_LIMIT)


def upload_prompt(files: Sequence[SlackFile], upload_key: str, *, can_relay: bool) -> Message:
    """Offer a replica from the shared files; say why any of them cannot be used.

    `upload_key` rides in the button's value: clicks on ephemeral messages carry no message.
    """
    usable = [f for f in files if f.problem() is None]
    refused = [problem for f in files if (problem := f.problem())]
    blocks: list[Block] = []
    buttons: list[ButtonElement] = []
    if usable and can_relay:
        text = "Want to train a Tavus replica from what you shared?"
        buttons.append(
            ButtonElement(
                text=_button_text(usable),
                action_id=CREATE_FROM_UPLOAD,
                value=upload_key,
                style="primary",
            )
        )
    elif usable:
        text = f"Want to train a Tavus replica? {NO_PUBLIC_URL}"
        buttons.append(
            ButtonElement(
                text="Create a replica from a link", action_id=CREATE_FROM_UPLOAD, value=upload_key
            )
        )
    else:
        text = "This can't train a Tavus replica."
    blocks.append(SectionBlock(text=MarkdownTextObject(text=text)))
    if refused:
        blocks.append(
            ContextBlock(
                elements=[
                    MarkdownTextObject(text=escape_within(p, PROBLEM_LIMIT)) for p in refused[:10]
                ]
            )
        )
    buttons.append(ButtonElement(text="Not now" if usable else "OK", action_id=DISMISS_PROMPT))
    buttons.append(ButtonElement(text=PROMPTS_OFF_TEXT, action_id=PROMPTS_OFF))
    blocks.append(ActionsBlock(elements=buttons))
    fallback = " ".join([text, *refused])
    return Message(text=fallback, blocks=blocks)


def prompts_off_done() -> Message:
    """What the prompt becomes once its user chose "Don't ask me again"."""
    return Message(
        text=PROMPTS_OFF_DONE, blocks=[SectionBlock(text=MarkdownTextObject(text=PROMPTS_OFF_DONE))]
    )
