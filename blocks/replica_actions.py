"""What can be done with a replica from Slack (its buttons), and how its training is going
(progress bar, elapsed time, preview link): shared by the status message, App Home and
`/replica list`."""

from __future__ import annotations

from datetime import UTC, datetime

from slack_sdk.models.blocks import ActionsBlock, ButtonElement

from blocks import escape_within
from domain.record import ReplicaRecord
from domain.states import State
from domain.training import progress_percent

RENAME = "replica_rename"  # a small modal: the new name (PATCH at Tavus)
DELETE = "replica_delete"  # a modal: delete, optionally with the training footage
RETRY = "replica_retry"  # the form again, prefilled with everything the request had

BAR_CELLS = 10
URL_LIMIT = 2000
# States whose replica is done (usable) and can be renamed or deleted from its buttons. Not a
# failed one: deleting it soon after the error can spoil Tavus's refund of the credit.
MANAGEABLE = frozenset({State.PREVIEW_READY, State.SUCCEEDED})
RETRYABLE = frozenset({State.FAILED, State.NOT_CREATED})


def progress_bar(training_progress: str | None) -> str | None:
    """ "▰▰▰▰▱▱▱▱▱▱ 42%" from Tavus's "42/100"; None when Tavus gave no readable progress."""
    percent = progress_percent(training_progress)
    if percent is None:
        return None
    filled = round(percent * BAR_CELLS / 100)
    return "▰" * filled + "▱" * (BAR_CELLS - filled) + f" {percent}%"


def elapsed(since: str | None, now: datetime) -> str | None:
    """ "1 h 05 min" from an ISO time to `now`; None if `since` is unreadable."""
    if not since:
        return None
    try:
        start = datetime.fromisoformat(since)
    except ValueError:
        return None
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    minutes = max(0, int((now - start).total_seconds() // 60))
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


def training_line(record: ReplicaRecord, now: datetime) -> str | None:
    """While training: the progress bar and the time since Tavus accepted it."""
    if record.state is not State.TRAINING:
        return None
    took = elapsed(record.submitted_at, now)
    parts = [
        part
        for part in (progress_bar(record.training_progress), f"{took} so far" if took else None)
        if part
    ]
    if not parts:
        return None
    # A stalled bar is normal: Tavus's progress may stay put while a step runs.
    return " · ".join(parts)


def preview_link(record: ReplicaRecord) -> str | None:
    """A link to the preview video Tavus made, as mrkdwn; None without one."""
    url = record.thumbnail_video_url
    if not url or record.state not in (State.PREVIEW_READY, State.SUCCEEDED):
        return None
    if not url.startswith(("https://", "http://")) or len(url) > URL_LIMIT:
        return None
    # Escaped: a URL from outside must not close the link or add a mention.
    watermarked = " (watermarked)" if record.state is State.PREVIEW_READY else ""
    return f":arrow_forward: <{escape_within(url, URL_LIMIT)}|Watch the preview{watermarked}>"


def action_buttons(record: ReplicaRecord) -> ActionsBlock | None:
    """Rename and Delete for a replica that exists; Try again for one that failed or was
    never created; nothing otherwise. Whoever clicks is checked when they click."""
    value = str(record.id)
    buttons: list[ButtonElement] = []
    if record.state in MANAGEABLE and record.replica_id and record.delete_requested_at is None:
        buttons.append(ButtonElement(text="Rename", action_id=RENAME, value=value))
        buttons.append(ButtonElement(text="Delete", action_id=DELETE, value=value, style="danger"))
    if record.state in RETRYABLE and record.delete_requested_at is None:
        buttons.append(ButtonElement(text="Try again", action_id=RETRY, value=value))
    if not buttons:
        return None
    return ActionsBlock(block_id=f"manage_{record.id}", elements=buttons)
