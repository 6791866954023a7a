"""Numbers that come back from Slack in strings the bot wrote: a button's value (a request id,
a page's offset) or a dialog's private_metadata. Anything else is not one: a stale or forged
payload is answered as "not found", never a traceback."""

from __future__ import annotations

from typing import Any

MAX_DIGITS = 18  # far past any request id or offset; bounds int() on hostile input


def number(value: Any) -> int | None:
    """`value` as a whole number written in ASCII digits; None if it is not one."""
    text = str(value or "")
    if not (text.isascii() and text.isdigit()) or len(text) > MAX_DIGITS:
        return None
    return int(text)


def clicked_value(body: dict[str, Any]) -> str:
    """The value of the button a block_actions payload is about ("" if it has none)."""
    actions = body.get("actions") or [{}]
    first = actions[0] if isinstance(actions, list) and actions else {}
    return str((first.get("value") if isinstance(first, dict) else None) or "")


def clicked_number(body: dict[str, Any]) -> int | None:
    """The number in the value of the button a block_actions payload is about."""
    return number(clicked_value(body))
