"""App Home: the tab is published when someone opens it (`app_home_opened`), and again,
throttled, whenever one of the replicas it shows changes (storage.outbox). Its **New replica**
button opens the request form; an admin's Previous/Next buttons turn the page of everyone's
replicas. The replicas' own buttons (Rename, Delete, Try again) are handlers/manage.py's.

What the tab shows is rendered by replicas/home.py when the outbox publishes it."""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from blocks.library import HOME_PAGE, NEW_REPLICA, PageMark
from blocks.manage import message_modal
from blocks.replica_modal import ModalContext
from domain.form import FormDraft
from handlers.commands import FORM_NOT_OPENED
from handlers.numbers import clicked_value, number
from handlers.replica_modal import open_replica_form
from handlers.surface import Surface
from slack_access.errors import SLACK_ERRORS
from storage import outbox as outbox_store

logger = logging.getLogger(__name__)

HOME_TAB = "home"
# The most an offset may be: far past any real list, small enough for SQLite.
MAX_OFFSET = 1_000_000


def _page_mark(body: dict[str, Any]) -> PageMark | None:
    """The page a Previous/Next button asks for (its value, PageMark's): "0" (or a bare
    number, as buttons published before pages were marked by id had) is the first page,
    "<offset>:<before>" another; None if it is neither."""
    offset_text, _, before_text = clicked_value(body).partition(":")
    offset = number(offset_text)
    if offset is None:
        return None
    if not before_text:
        return PageMark()
    before = number(before_text)
    return None if before is None else PageMark(min(offset, MAX_OFFSET), before)


def register(surface: Surface) -> None:
    app, storage, sessions, access, door = (
        surface.bolt,
        surface.storage,
        surface.sessions,
        surface.access,
        surface.home,
    )

    @app.event("app_home_opened")
    async def on_home_opened(event: dict[str, Any]) -> None:
        # The Messages tab sends this event too; it has nothing to publish.
        if event.get("tab") != HOME_TAB or not event.get("user"):
            return
        user_id = str(event["user"])
        try:
            await door.opened(user_id, is_admin=access.is_admin(user_id))
        except sqlite3.Error:
            logger.exception("Could not record that %s opened their Home tab", user_id)

    @app.action(HOME_PAGE)
    async def on_page(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        user_id = str(body["user"]["id"])
        mark = _page_mark(body)
        # Only admins see everyone's replicas, so only they have pages to turn.
        if mark is None or not access.is_admin(user_id):
            logger.info("Ignoring a Home page click by %s (page %r)", user_id, mark)
            return
        try:
            await door.opened(user_id, is_admin=True, everyone=mark)
        except sqlite3.Error:
            logger.exception("Could not turn %s's Home page", user_id)

    @app.action(NEW_REPLICA)
    async def on_new_replica(
        ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        await ack()
        user_id = str(body["user"]["id"])
        trigger_id = str(body["trigger_id"])
        # Home has no channel: the request's status message and thread go to the user's DM
        # with the bot. Its D… id when an earlier post there told it (a doubt about a post
        # can then be settled by reading the DM); else the user id, which posts there too.
        try:
            dm = await storage.run(outbox_store.known_dm, user_id)
        except sqlite3.Error:
            logger.warning("Could not look up %s's DM; using their user id", user_id, exc_info=True)
            dm = None
        form = ModalContext(channel_id=dm or user_id, requester_id=user_id)
        problem = await open_replica_form(
            sessions,
            access,
            client,
            trigger_id,
            FormDraft(),
            form,
            team_id=context.team_id,
            enterprise_id=context.enterprise_id,
            not_opened=FORM_NOT_OPENED.format(what="click New replica"),
        )
        if problem is None:
            return
        # Nowhere to answer on Home but a dialog. A refusal left the trigger unused; after
        # Slack refused the form, this try may fail too (logged).
        try:
            await client.views_open(trigger_id=trigger_id, view=message_modal("Replicas", problem))
        except SLACK_ERRORS:
            logger.warning("Could not tell %s: %s", user_id, problem, exc_info=True)
