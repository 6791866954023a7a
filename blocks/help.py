"""The `/replica help` answer: every subcommand (admins also see theirs)."""

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
    "• `/replica list` lists your replicas (those you asked for, those of you, and those made "
    "from footage you shared), with their status and buttons to rename, delete or try again.\n"
    "• `/replica status Jane` shows the replicas named “Jane”, in any case (or the one whose "
    "replica id is given).\n"
    "• `/replica prompts on` has me offer a replica again when you share a video or photo, "
    "after you clicked *Don't ask me again*.\n"
    "• `/replica help` shows this message. My *Home* tab lists your replicas too, with a "
    "*New replica* button.\n"
    "The form asks who is on camera and what the replica is for. *You*: tick your consent. "
    "*Someone in this workspace*: they get a direct message to approve, and nothing goes to "
    "Tavus until they do. *Someone outside Slack*: confirm you hold their written consent "
    "(a link to the signed release helps). A file someone else shared is also theirs to "
    "approve.\n"
    "Training takes a few hours. I post the request in this channel (in our direct messages "
    "when you start from my Home tab) and answer in its thread, mentioning you, when Tavus "
    "finishes or fails."
)
# Only admins are told: the command refuses everyone else.
ADMIN_HELP_TEXT = (
    "*For the bot's admins*\n"
    "• `/replica list all` lists everyone's replicas (your *Home* tab shows them all, a page "
    "at a time); `/replica status` searches everyone's.\n"
    "• `/replica audit` sends you the consent record of every request as a CSV file, in our "
    "direct messages; `/replica audit 2026-03-01` only the requests made since that day (UTC)."
)


def help_message(*, admin: bool = False) -> Message:
    """The help; with what only admins may do when `admin`."""
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=HELP_TEXT))]
    if admin:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=ADMIN_HELP_TEXT)))
    return Message(text="How to use /replica", blocks=blocks)
