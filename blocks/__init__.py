"""Block Kit builders: small pure functions from domain values to Slack views and messages."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from slack_sdk.models.blocks import Block


def escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass(frozen=True)
class Message:
    """A Slack message: `text` is the notification and accessibility fallback for `blocks`."""

    text: str
    blocks: list[Block] = field(default_factory=list)

    def as_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for chat.postMessage / chat.update / ack / respond."""
        return {"text": self.text, "blocks": [block.to_dict() for block in self.blocks]}

    @classmethod
    def from_kwargs(cls, data: dict[str, Any]) -> Message:
        """Back from `as_kwargs()` (e.g. as stored in the outbox)."""
        return cls(text=str(data["text"]), blocks=Block.parse_all(data.get("blocks") or []))
