"""Block Kit builders: small pure functions from domain values to Slack views and messages."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from slack_sdk.models.blocks import Block, ContextBlock, MarkdownTextObject, SectionBlock

from blocks import validation

validation.install()  # before any builder runs: see blocks/validation.py

# Slack refuses a section (or context element) text over this many characters, and
# slack_sdk raises before sending one.
TEXT_LIMIT = 3000
# Slack cuts a message's fallback text past 40,000 characters; notifications need far less.
FALLBACK_LIMIT = 3000
ELLIPSIS = "…"


def escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def fit(text: str, limit: int, *, rest: str = "") -> str:
    """`text` (already mrkdwn) cut to at most `limit` characters: its start, an ellipsis, then
    `rest` (where the whole text can be read). Never cuts an escape such as `&amp;` in half."""
    if len(text) <= limit:
        return text
    tail = ELLIPSIS + rest
    cut = text[: max(0, limit - len(tail))]
    # Never leave half an escape ("&am") or half a mention or link ("<@U12"): Slack would
    # show it verbatim, or refuse it.
    for opener, closer in (("&", ";"), ("<", ">")):
        start = cut.rfind(opener)
        if start != -1 and closer not in cut[start:]:
            cut = cut[:start]
    return (cut.rstrip() + tail)[:limit]


def plain_within(text: str, limit: int) -> str:
    """Plain text (option and button labels: no mrkdwn, nothing to escape) cut to `limit`
    characters, an ellipsis marking the cut."""
    return text if len(text) <= limit else text[: limit - len(ELLIPSIS)] + ELLIPSIS


def escape_within(text: str, limit: int, *, rest: str = "") -> str:
    """Outside text (a Tavus message, a file or voice name) escaped for mrkdwn and bounded
    after escaping, since escaping can grow it fivefold."""
    return fit(escape(text), limit, rest=rest)


@dataclass(frozen=True)
class Message:
    """A Slack message: `text` is the notification and accessibility fallback for `blocks`."""

    text: str
    blocks: list[Block] = field(default_factory=list)

    def as_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for chat.postMessage / chat.update / ack / respond."""
        return {
            "text": fit(self.text, FALLBACK_LIMIT),
            "blocks": [block.to_dict() for block in self.blocks],
        }

    @classmethod
    def from_kwargs(cls, data: dict[str, Any]) -> Message:
        """Back from `as_kwargs()` (e.g. as stored in the outbox)."""
        return cls(text=str(data["text"]), blocks=Block.parse_all(data.get("blocks") or []))


# Shown on everything the bot says in a dry run (TAVUS_DRY_RUN): status messages, thread
# replies, DMs, the form, App Home and the replica list.
DRY_RUN_NOTE = ":test_tube: *Dry run:* Tavus is simulated; nothing was sent to Tavus or charged."
DRY_RUN_BLOCK_ID = "dry_run_note"
MESSAGE_BLOCK_LIMIT = 50  # Slack refuses a message with more blocks


def dry_run_block() -> ContextBlock:
    """The dry run's marker, one context line."""
    return ContextBlock(block_id=DRY_RUN_BLOCK_ID, elements=[MarkdownTextObject(text=DRY_RUN_NOTE)])


def with_dry_run_note(message: Message, dry_run: bool = True) -> Message:
    """`message` with the dry run's marker as its last block, and "(dry run)" after its
    notification text, when `dry_run` (once: a message already marked is returned as it is)."""
    blocks = message.blocks
    if not dry_run or any(block.block_id == DRY_RUN_BLOCK_ID for block in blocks):
        return message
    if len(blocks) >= MESSAGE_BLOCK_LIMIT:
        return message  # never a message Slack would refuse
    if not blocks:  # with blocks, Slack shows them instead of the text
        blocks = [SectionBlock(text=MarkdownTextObject(text=fit(message.text, TEXT_LIMIT)))]
    return Message(text=f"{message.text} (dry run)", blocks=[*blocks, dry_run_block()])
