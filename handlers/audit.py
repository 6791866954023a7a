"""`/replica audit [YYYY-MM-DD]`: the consent record as a CSV file, in the admin's DM.

Admins only (REPLICA_ADMINS): the file holds every requester's consent, media links and
Slack ids. Anyone else is told so, and whom to ask, and nothing is read or uploaded.

The command is acknowledged at once (Slack waits 3 s); the file follows. It goes to the
admin's DM with the bot, never to the channel the command came from, which others may read.
The command's channel is used only when it is known to be that DM (the outbox learnt its id
from an earlier post). A `D…` id alone does not say so: it may be a DM between two people,
where the bot cannot post. Otherwise a short message to the admin's user id lands in the DM
and its answer tells the DM's id (`conversations.open` would need `im:write`, which the app
does not ask for).

The file is the one `python bot.py export-audit` writes (domain/audit.py).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from domain.audit import audit_rows, csv_text, day_start, parse_day
from replicas.access import AccessPolicy
from slack_access.errors import SLACK_ERRORS
from storage import outbox as outbox_store
from storage.consent import events_since
from storage.database import Storage

logger = logging.getLogger(__name__)

WORD = "audit"

NOT_AN_ADMIN = (
    "`/replica audit` sends everyone's consent records, so only this bot's admins may use it. "
    "If you need them, ask {whom}."
)
BAD_DATE = (
    "I couldn't read that as a date. To export the requests made since a day, write it like "
    "this: `/replica audit 2026-03-01` (UTC); `/replica audit` alone exports them all."
)
STARTED = "Exporting the consent record: I'll send you the file in our direct messages."
DM_INTRO = "Preparing the consent record you asked for with `/replica audit`…"
NOT_READ = (
    "Sorry, I couldn't read the consent record from my database, so nothing was sent. "
    "Please try again in a moment; if it keeps failing, the details are in the bot's log."
)
NOT_ALLOWED = (
    "Sorry, Slack wouldn't let me upload the file: the app may not upload files yet. Whoever "
    "manages the app needs to add the files:write scope and reinstall it; then try again."
)
NOT_SENT = (
    "Sorry, Slack wouldn't take the file just now, so the consent record was not sent. "
    "Please try again in a moment."
)


def is_audit(text: str) -> bool:
    """Whether the command's text asks for the export (its first word)."""
    words = text.split()
    return bool(words) and words[0].lower() == WORD


async def answer_audit(
    access: AccessPolicy,
    storage: Storage,
    client: AsyncWebClient,
    ack: AsyncAck,
    respond: AsyncRespond,
    command: Mapping[str, Any],
) -> None:
    user_id = str(command["user_id"])
    if not access.is_admin(user_id):
        logger.info("%s may not export the consent record: not an admin", user_id)
        await ack(response_type="ephemeral", text=NOT_AN_ADMIN.format(whom=access.whom_to_ask()))
        return
    try:
        since = _since(str(command.get("text") or "").split()[1:])
    except ValueError:
        await ack(response_type="ephemeral", text=BAD_DATE)
        return
    await ack(response_type="ephemeral", text=STARTED)
    try:
        events = await storage.run(events_since, None if since is None else day_start(since))
    except sqlite3.Error:
        logger.exception("Could not read the consent record for %s's export", user_id)
        await respond(response_type="ephemeral", text=NOT_READ)
        return
    rows = audit_rows(events)
    try:
        dm = await _dm_with(storage, client, user_id, str(command.get("channel_id") or ""))
        await client.files_upload_v2(
            channel=dm,
            content=csv_text(rows).encode("utf-8"),
            filename=f"consent-record-{_today():%Y-%m-%d}.csv",
            title="Consent record",
            initial_comment=summary(rows, since),
        )
    except SlackApiError as error:
        code = error.response.get("error")
        logger.error("Slack refused the consent record export for %s: %s", user_id, code)
        await respond(
            response_type="ephemeral", text=NOT_ALLOWED if code == "missing_scope" else NOT_SENT
        )
        return
    except SLACK_ERRORS:
        logger.exception("Could not upload the consent record export for %s", user_id)
        await respond(response_type="ephemeral", text=NOT_SENT)
        return
    logger.info("Sent %s the consent record: %d requests", user_id, len(rows))


def _since(words: Sequence[str]) -> date | None:
    """The day after `audit`, if any; ValueError for anything else."""
    if not words:
        return None
    if len(words) > 1:
        raise ValueError("one date at most")
    return parse_day(words[0])


async def _dm_with(storage: Storage, client: AsyncWebClient, user_id: str, channel: str) -> str:
    """The id of the bot's DM with `user_id` (see the module's docstring)."""
    try:
        known = await storage.run(outbox_store.known_dm, user_id)
    except sqlite3.Error:
        logger.warning("Could not look up %s's DM; asking Slack", user_id, exc_info=True)
        known = None
    if known is not None and known == channel:
        return channel
    answer = await client.chat_postMessage(channel=user_id, text=DM_INTRO)
    return str(answer["channel"])


def _today() -> date:
    return datetime.now(UTC).date()


def _day(day: date) -> str:
    return f"{day.day} {day:%B %Y}"


def summary(rows: Sequence[Mapping[str, str]], since: date | None) -> str:
    """The file's comment: how many requests, since when (UTC days)."""
    count = len(rows)
    if since is not None:
        if not count:
            return (
                f"No requests were made since {_day(since)} (UTC): the file has the headings only."
            )
        requests = "the request" if count == 1 else f"the {count} requests"
        return f"The consent record of {requests} made since {_day(since)} (UTC), one row each."
    if not count:
        return "No requests have been made yet: the file has the headings only."
    requests = "the one request so far" if count == 1 else f"all {count} requests"
    first = min((row["submitted_at"] for row in rows if row.get("submitted_at")), default="")
    try:
        made = _day(datetime.fromisoformat(first).date())
    except ValueError:  # no submission in the record: say no date rather than a wrong one
        return f"The consent record of {requests}, one row each."
    when = f"made on {made}" if count == 1 else f"the first made on {made}"
    return f"The consent record of {requests} ({when}, UTC), one row each."
