"""The `/replica help` answer."""

from __future__ import annotations

from slack_sdk.models.blocks import MarkdownTextObject, SectionBlock

from blocks import Message
from domain.media import Mode, listing, types_of

HELP_TEXT = (
    "*Create a Tavus AI replica from Slack*\n"
    "• `/replica` opens the request form.\n"
    "• `/replica Jane Doe` opens it with the name filled in.\n"
    "• `/replica https://example.com/jane.mp4` opens it in video mode with that link; "
    f"a {listing(f'`.{media.extension}`' for media in types_of(Mode.IMAGE))} link opens it in "
    "photo mode.\n"
    "• `/replica help` shows this message.\n"
    "Training takes a few hours. I post the request in this channel and answer in its thread, "
    "mentioning you, when Tavus finishes or fails."
)


def help_message() -> Message:
    return Message(
        text="How to use /replica",
        blocks=[SectionBlock(text=MarkdownTextObject(text=HELP_TEXT))],
    )
