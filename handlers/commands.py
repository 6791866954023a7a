"""`/replica`: open the request form at once, prefilled from the command text; or, when the
first word is a subcommand, answer it, visible only to whoever typed it:

- `help` (also `-h`, `--help`, `?`): what the command does (admins also see theirs);
- `list`: the asker's replicas (requested by them, of them, or from footage they shared);
  `list all`: everyone's, admins only;
- `status <name or replica id>`: the replicas whose id is that, or whose name is that (in any
  case);
- `prompts on`: the upload prompt again, after its "Don't ask me again";
- `audit [YYYY-MM-DD]` (admins): handlers/audit.py.

A subcommand word is never a replica name: with missing or wrong arguments the answer is a
short usage line, never the form. Lists use the builder App Home uses (blocks/library.py).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Coroutine
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncBoltContext, AsyncRespond
from slack_sdk.models.blocks import ContextBlock, MarkdownTextObject
from slack_sdk.web.async_client import AsyncWebClient

from blocks import Message, escape_within
from blocks.help import help_message
from blocks.library import PAGE_SIZE, Page, counted_page, list_message
from blocks.replica_modal import ModalContext
from domain.form import draft_from_command_text
from handlers.audit import WORD as AUDIT
from handlers.audit import answer_audit
from handlers.replica_modal import open_replica_form
from handlers.surface import Surface
from replicas.access import AccessPolicy
from storage import replicas as store
from storage.database import Storage
from storage.uploads import set_prompts

logger = logging.getLogger(__name__)

COMMAND = "/replica"
HELP_WORDS = ("help", "-h", "--help", "?")
LIST = "list"
STATUS = "status"
PROMPTS = "prompts"
ALL = "all"
ON = "on"
# First words that name a subcommand, never a replica.
SUBCOMMANDS = frozenset({*HELP_WORDS, LIST, STATUS, PROMPTS, AUDIT})
FORM_NOT_OPENED = "Sorry, Slack would not let me open the replica form. Please {what} again."
# An answer read within this goes back with the command's acknowledgement (Slack waits 3 s);
# a slower one (a busy database) follows through the response_url.
ANSWER_SECONDS = 2.0
QUERY_LIMIT = 100  # characters of a status query shown back

LIST_USAGE = "Usage: `/replica list` lists your replicas."
LIST_ALL_USAGE = " `/replica list all` lists everyone's."
STATUS_USAGE = (
    "Usage: `/replica status &lt;name or replica id&gt;`, e.g. `/replica status Jane`: how that "
    "replica is doing. `/replica list` lists them all."
)
PROMPTS_USAGE = (
    "Usage: `/replica prompts on`: I offer to create a replica again whenever you share a "
    "video or photo where I am (undoing *Don't ask me again*)."
)
NOT_AN_ADMIN = (
    "`/replica list all` shows everyone's replicas, so only this bot's admins may use it. "
    "`/replica list` shows yours; if you need to see others', ask {whom}."
)
MINE_TITLE = "Your replicas"
MINE_EMPTY = (
    "You have no replicas yet. Type `/replica` to create one, or share a training video with me."
)
ALL_TITLE = "Everyone's replicas"
ALL_EMPTY = "Nobody has made a replica yet."
NO_MATCH = (
    "No replica {of_whose}is named “{query}” or has that replica id. `/replica list` lists {which}."
)
MATCHES = "{count} replicas match “{query}”"
ONE_MATCH = "The replica matching “{query}”"
TOO_MANY = "More than {count} replicas match “{query}”; these are the newest {count}"
NARROW = "To find one of them, type its replica id (its status message shows it)."
NOT_READ = (
    "Sorry, I couldn't read my database just now. Please try again in a moment; if it keeps "
    "failing, the details are in the bot's log."
)
PROMPTS_ON = (
    "Done: I'll offer to create a replica again whenever you share a video or photo where I "
    "am. To stop, click *Don't ask me again* on one of those offers."
)
PROMPTS_ALREADY_ON = (
    "You already get those offers: I offer to create a replica whenever you share a video or "
    "photo where I am. To stop, click *Don't ask me again* on one of them."
)
NOT_SAVED = "Sorry, I couldn't save that just now. Please try again in a moment."


def _split(text: str) -> tuple[str, str]:
    """The first word, lowercased, and the rest as typed."""
    parts = text.split(None, 1)
    if not parts:
        return "", ""
    return parts[0].lower(), parts[1].strip() if len(parts) > 1 else ""


def _unescaped(text: str) -> str:
    """Command text as typed: Slack sends `&`, `<` and `>` as HTML entities."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _said(text: str) -> Message:
    return Message(text=text)


async def _answer(ack: AsyncAck, respond: AsyncRespond, work: Coroutine[Any, Any, Message]) -> None:
    """Answer with what `work` builds, visible only to the asker: in the acknowledgement if it
    is ready in time, else by response_url right after it."""
    task = asyncio.ensure_future(work)
    done, _ = await asyncio.wait({task}, timeout=ANSWER_SECONDS)
    if done:
        await ack(response_type="ephemeral", **task.result().as_kwargs())
        return
    await ack()
    message = await task
    await respond(response_type="ephemeral", **message.as_kwargs())


async def list_replicas(
    storage: Storage, access: AccessPolicy, user_id: str, argument: str, *, dry_run: bool
) -> Message:
    """`/replica list [all]`."""
    admin = access.is_admin(user_id)
    if argument.lower() == ALL:
        if not admin:
            logger.info("%s may not list everyone's replicas: not an admin", user_id)
            return _said(NOT_AN_ADMIN.format(whom=access.whom_to_ask()))
        whose, title, empty = None, ALL_TITLE, ALL_EMPTY
    elif argument:
        return _said(LIST_USAGE + (LIST_ALL_USAGE if admin else ""))
    else:
        whose, title, empty = user_id, MINE_TITLE, MINE_EMPTY
    try:
        records, counted = await storage.run(store.requests_of, whose, limit=PAGE_SIZE)
    except sqlite3.Error:
        logger.exception("Could not read the replicas for %s's /replica list", user_id)
        return _said(NOT_READ)
    page = counted_page(records, counted, cap=store.COUNT_CAP)
    return list_message(page, title=title, empty=empty, dry_run=dry_run)


async def replica_status(
    storage: Storage, access: AccessPolicy, user_id: str, argument: str, *, dry_run: bool
) -> Message:
    """`/replica status <name or replica id>`: the asker's replicas that match (an admin's
    search covers everyone's), the newest PAGE_SIZE of them."""
    if not argument:
        return _said(STATUS_USAGE)
    admin = access.is_admin(user_id)
    text = _unescaped(argument)
    query = escape_within(text, QUERY_LIMIT)
    try:
        found = await storage.run(
            store.find_by_name_or_replica_id, text, None if admin else user_id, limit=PAGE_SIZE + 1
        )
    except sqlite3.Error:
        logger.exception("Could not search the replicas for %s's /replica status", user_id)
        return _said(NOT_READ)
    if not found:
        of_whose, which = ("", "everyone's") if admin else ("of yours ", "yours")
        return _said(NO_MATCH.format(of_whose=of_whose, query=query, which=which))
    shown = found[:PAGE_SIZE]
    if len(found) > PAGE_SIZE:
        title = TOO_MANY.format(count=PAGE_SIZE, query=query)
    elif len(found) == 1:
        title = ONE_MATCH.format(query=query)
    else:
        title = MATCHES.format(count=len(found), query=query)
    message = list_message(Page(shown, 0, len(shown)), title=title, empty="", dry_run=dry_run)
    if len(found) > PAGE_SIZE:
        narrow = ContextBlock(elements=[MarkdownTextObject(text=NARROW)])
        message = Message(text=message.text, blocks=[*message.blocks, narrow])
    return message


async def prompts_on(storage: Storage, user_id: str, argument: str) -> Message:
    """`/replica prompts on`: undo the upload prompt's "Don't ask me again"."""
    if argument.lower() != ON:
        return _said(PROMPTS_USAGE)
    try:
        changed = await storage.run(set_prompts, user_id, wanted=True)
    except sqlite3.Error:
        logger.exception("Could not turn %s's upload prompts back on", user_id)
        return _said(NOT_SAVED)
    logger.info("%s turned upload prompts on (%s)", user_id, "changed" if changed else "already")
    return _said(PROMPTS_ON if changed else PROMPTS_ALREADY_ON)


def register(surface: Surface) -> None:
    sessions, access, storage = surface.sessions, surface.access, surface.storage
    dry_run = surface.settings.tavus_dry_run

    @surface.bolt.command(COMMAND)
    async def on_command(
        ack: AsyncAck,
        command: dict[str, Any],
        client: AsyncWebClient,
        respond: AsyncRespond,
        context: AsyncBoltContext,
    ) -> None:
        text = (command.get("text") or "").strip()
        user_id = str(command["user_id"])
        word, argument = _split(text)
        if word in HELP_WORDS:
            admin = access.is_admin(user_id)
            await ack(response_type="ephemeral", **help_message(admin=admin).as_kwargs())
            return
        if word == AUDIT:
            await answer_audit(access, storage, client, ack, respond, command)
            return
        if word == LIST:
            await _answer(
                ack, respond, list_replicas(storage, access, user_id, argument, dry_run=dry_run)
            )
            return
        if word == STATUS:
            await _answer(
                ack, respond, replica_status(storage, access, user_id, argument, dry_run=dry_run)
            )
            return
        if word == PROMPTS:
            await _answer(ack, respond, prompts_on(storage, user_id, argument))
            return
        await ack()
        draft = draft_from_command_text(text)
        form = ModalContext(channel_id=command["channel_id"], requester_id=user_id)
        problem = await open_replica_form(
            sessions,
            access,
            client,
            command["trigger_id"],
            draft,
            form,
            team_id=context.team_id,
            enterprise_id=context.enterprise_id,
            not_opened=FORM_NOT_OPENED.format(what="run /replica"),
        )
        if problem is not None:  # no form: a refusal, or Slack would not open it
            await respond(response_type="ephemeral", text=problem)
