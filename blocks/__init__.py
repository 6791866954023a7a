"""Block Kit builders: small pure functions from domain values to Slack views and messages."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from slack_sdk.models.blocks import Block

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
