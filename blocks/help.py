"""The `/replica help` answer."""

from __future__ import annotations

from slack_sdk.models.blocks import Block, MarkdownTextObject, SectionBlock

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
    "The form asks who is on camera and what the replica is for. *You*: tick your consent. "
    "*Someone in this workspace*: they get a direct message to approve, and nothing goes to "
    "Tavus until they do. *Someone outside Slack*: confirm you hold their written consent "
    "(a link to the signed release helps). A file someone else shared is also theirs to "
    "approve.\n"
    "Training takes a few hours. I post the request in this channel and answer in its thread, "
    "mentioning you, when Tavus finishes or fails."
)
# Only admins are told: the command refuses everyone else.
ADMIN_HELP_TEXT = (
    "*For the bot's admins*\n"
    "• `/replica audit` sends you the consent record of every request as a CSV file, in our "
    "direct messages; `/replica audit 2026-03-01` only the requests made since that day (UTC)."
)


def help_message(*, admin: bool = False) -> Message:
    """The help; with what only admins may do when `admin`."""
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=HELP_TEXT))]
    if admin:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=ADMIN_HELP_TEXT)))
    return Message(text="How to use /replica", blocks=blocks)
