"""Request forms' sessions, and every re-render of a form, one at a time.

A form is re-rendered for two reasons that race: the bot's own fill-in after `views.open` (the
requester's real name for the consent sentence, Slack Connect files) and the user's clicks
(mode, Slack file or link). Each form has one session: its latest context, the draft last
rendered and the newest click applied. A re-render takes the session's lock and renders from
that latest state, so whichever lands last shows the user's latest choice with everything the
bot has learnt. Updates are sent without `hash`: a hash could only make Slack refuse the newest
render for an older one (a click carries the hash of the view it was made on, which the fill-in
may already have replaced). Nothing typed is lost: Slack keeps the input of every block whose
block_id and action_id are unchanged, and every render uses the same ids for the same field.

The session is stored in SQLite (storage/forms.py); the form's private_metadata carries only
its key. Recently used sessions also stay in memory (bounded), and a form never has two session
objects at once, so its lock is one lock. The sessions also keep `people`, the Slack real names
learnt lately, so that a form opens with its requester's name when it is known.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import sqlite3
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from blocks.replica_form_render import form_view, pickled_form
from blocks.replica_modal import ModalContext, read_form, read_metadata
from domain.form import FormDraft, draft_from_files
from domain.slack_files import SlackFile
from slack_access.errors import SLACK_ERRORS
from slack_access.people import People
from storage import forms
from storage.database import Storage

logger = logging.getLogger(__name__)

# Sessions kept in memory (each with its last view, a few KB); others are read back from SQLite.
MAX_REMEMBERED = 256
KEY_BYTES = 12  # 16 characters of URL-safe base64: unguessable, and tiny in private_metadata
# A form opened before sessions existed gets one keyed by its view, so that two of its
# clicks handled at once find the same session.
PRE_SESSION_PREFIX = "view-"
# Expired sessions are deleted at most this often (a transaction, with its fsync, per form
# opened was most of the database work of a /replica). Nothing waits for the deletion: a
# session idle for storage.forms.KEEP_FOR reads as gone whether or not it was pruned.
PRUNE_EVERY_SECONDS = 600.0

# What a click does to a form: its new draft and context, from the context it had.
Change = Callable[[ModalContext], tuple[FormDraft, ModalContext]]
# What the bot learnt while handling a click (kept even when the click itself is outdated).
Learnt = Callable[[ModalContext], ModalContext]


def _action_time(action: dict[str, Any]) -> Decimal | None:
    """When Slack says the user acted, to order clicks delivered out of order; None if the
    action carries no usable `action_ts`."""
    try:
        moment = Decimal(str(action["action_ts"]))
    except (KeyError, InvalidOperation):
        return None
    return moment if moment.is_finite() else None


@dataclass(eq=False)
class FormSession:
    key: str
    context: ModalContext
    draft: FormDraft
    view_id: str | None = None
    acted_at: Decimal | None = None  # the newest click applied
    clicked: bool = False  # the draft is the user's now, no longer the bot's prefill
    # The last form Slack took from us, pickled (blocks/replica_form_render.pickled_form).
    rendered: bytes | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    dry_run: bool = False  # TAVUS_DRY_RUN: the form says so

    def pickled(self) -> bytes:
        """The form of the session's latest state, pickled: built once per distinct form
        (blocks/replica_form_render.py); equal pickles are the same form."""
        return pickled_form(self.draft, self.context, dry_run=self.dry_run)

    def view(self, pickled: bytes) -> dict[str, Any]:
        """A pickled form as Slack takes it (a new dict), with this session's key."""
        return form_view(pickled, form_key=self.key)


class FormSessions:
    def __init__(
        self,
        storage: Storage,
        *,
        remember: int = MAX_REMEMBERED,
        people: People | None = None,
        dry_run: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._pruned_at: float | None = None  # never yet: the first form opened prunes
        self._dry_run = dry_run  # every form this opens or re-renders says it is a dry run
        self._remember = remember
        # Every door's form looks names up through these, so each fills the others' memory.
        self.people = people if people is not None else People()
        # Every session some handler holds (weakly: it goes when no handler does), so a form
        # never gets two; and the most recently used ones (strongly, at most `remember`).
        self._live: weakref.WeakValueDictionary[str, FormSession] = weakref.WeakValueDictionary()
        self._recent: OrderedDict[str, FormSession] = OrderedDict()

    def _use(self, session: FormSession) -> FormSession:
        """The one session object of its form (an existing one wins), now the most recent."""
        session = self._live.setdefault(session.key, session)
        self._recent[session.key] = session
        self._recent.move_to_end(session.key)
        while len(self._recent) > self._remember:
            self._recent.popitem(last=False)
        return session

    # -- opening -----------------------------------------------------------------------------

    async def open(
        self, client: AsyncWebClient, trigger_id: str, draft: FormDraft, context: ModalContext
    ) -> FormSession | None:
        """Open the form and save its session; None (logged) if Slack refused to open it.

        Slack Connect stubs among the context's files are left out until `fill_in` adds them.
        The trigger_id dies ~3 s after the click, so Slack is asked first and SQLite after;
        meanwhile a click finds the session in memory.
        """
        files = [f.to_metadata() for f in context.slack_files if not f.is_stub]
        session = FormSession(
            key=secrets.token_urlsafe(KEY_BYTES),
            context=replace(context, files=files),
            draft=draft,
            dry_run=self._dry_run,
        )
        self._use(session)
        session.rendered = session.pickled()
        try:
            opened = await client.views_open(
                trigger_id=trigger_id, view=session.view(session.rendered)
            )
        except SLACK_ERRORS:
            logger.exception("Could not open the replica form for %s", context.requester_id)
            self._recent.pop(session.key, None)
            return None
        async with session.lock:
            session.view_id = str(opened["view"]["id"])
            await self._save(session)
        await self._prune()
        return session

    async def _prune(self) -> None:
        now = self._clock()
        if self._pruned_at is not None and now - self._pruned_at < PRUNE_EVERY_SECONDS:
            return
        self._pruned_at = now  # a failure is retried at the next interval, not every form
        try:
            await self._storage.run(forms.prune_forms)
        except sqlite3.Error:
            logger.exception("Could not prune old form sessions")

    async def fill_in(
        self,
        client: AsyncWebClient,
        session: FormSession,
        name: str | None,
        files: Sequence[SlackFile],
    ) -> None:
        """Add the requester's name and the Slack Connect files found after opening, and
        re-render the form as it is now."""
        if name is None and not files:
            return
        async with session.lock:
            context = session.context
            if files:
                every = [*context.slack_files, *files]
                context = replace(context, files=[f.to_metadata() for f in every])
                if not session.clicked and not session.draft.slack_file_id:
                    # Nobody has touched the form yet: prefill from the files, as if they had
                    # been known at opening.
                    prefilled = draft_from_files(every)
                    session.draft = replace(
                        prefilled, replica_name=session.draft.replica_name or prefilled.replica_name
                    )
            session.context = replace(context, requester_name=name or context.requester_name)
            await self._save(session)
            await self._render(client, session)

    # -- clicks and submissions -------------------------------------------------------------

    async def find(self, view: dict[str, Any]) -> FormSession | None:
        """The session of the form `view` (from a click or a submission); None (logged) if
        its private_metadata is unreadable or names no session, or one that expired.
        sqlite3.Error if the database cannot say."""
        view_id = str(view.get("id") or "")
        try:
            found = read_metadata(str(view.get("private_metadata") or ""))
        except ValueError:
            logger.warning("Form %s has unreadable private_metadata", view_id, exc_info=True)
            return None
        key = found if isinstance(found, str) else PRE_SESSION_PREFIX + view_id
        session = self._live.get(key)
        if session is None:
            session = await self._load(key, view)
        if session is None and isinstance(found, ModalContext):
            # Opened before sessions existed: its whole context came in private_metadata.
            session = FormSession(
                key=key, context=found, draft=read_form(_values(view)), dry_run=self._dry_run
            )
        if session is None:
            logger.warning("Form %s names no session that is kept (expired?)", view_id)
            return None
        session = self._use(session)
        session.view_id = view_id or session.view_id
        return session

    async def _load(self, key: str, view: dict[str, Any]) -> FormSession | None:
        stored = await self._storage.run(forms.load_form, key)
        if stored is None:
            return None
        try:
            context = ModalContext.from_json(stored.context)
        except ValueError:
            logger.exception("Form session %s is unreadable", key)
            return None
        acted_at = _action_time({"action_ts": stored.action_ts}) if stored.action_ts else None
        # The draft is what the form holds now: every click and submission carries it.
        return FormSession(
            key=key,
            context=context,
            draft=read_form(_values(view)),
            acted_at=acted_at,
            clicked=acted_at is not None,
            dry_run=self._dry_run,
        )

    async def click(
        self,
        client: AsyncWebClient,
        body: dict[str, Any],
        change: Change,
        *,
        learnt: Learnt | None = None,
    ) -> FormSession | None:
        """Apply a click in the form (`body` of its block_actions) and re-render the form;
        a click older than one already applied changes nothing, except that what the bot
        `learnt` for it (e.g. a member's name looked up for a pick) is still added to the
        context. None if the form has no session (it is out of date; submitting it says so)."""
        try:
            session = await self.find(body["view"])
        except sqlite3.Error:
            logger.exception("Could not read the session of form %s", body["view"].get("id"))
            return None
        if session is None:
            return None
        acted_at = _action_time(body["actions"][0])
        async with session.lock:
            if (
                acted_at is not None
                and session.acted_at is not None
                and acted_at <= session.acted_at
            ):
                # Delivered late: the form already shows a newer choice of the user's.
                logger.info("Ignoring an older click on form %s", session.view_id)
                known = learnt(session.context) if learnt is not None else session.context
                if known == session.context:
                    return session
                session.context = known
            else:
                if acted_at is not None:
                    session.acted_at = acted_at
                session.draft, session.context = change(session.context)
                if learnt is not None:
                    session.context = learnt(session.context)
                session.clicked = True
            await self._save(session)
            await self._render(client, session)
        return session

    # -- saving and rendering ---------------------------------------------------------------

    async def _save(self, session: FormSession) -> None:
        acted_at = str(session.acted_at) if session.acted_at is not None else None
        try:
            await self._storage.run(
                forms.save_form, session.key, session.context.to_json(), acted_at
            )
        except sqlite3.Error:
            # The form keeps working from memory; only a restart would make it out of date.
            logger.exception("Could not save form session %s", session.key)

    async def _render(self, client: AsyncWebClient, session: FormSession) -> None:
        """Show the session's latest state, unless Slack already shows exactly that."""
        rendered = session.pickled()
        if session.view_id is None or rendered == session.rendered:
            return
        try:
            # No hash: this render is the newest state (see the module docstring).
            await client.views_update(view_id=session.view_id, view=session.view(rendered))
        except SLACK_ERRORS:
            # E.g. the form was closed or submitted meanwhile.
            logger.info("Did not re-render form %s", session.view_id, exc_info=True)
            return
        session.rendered = rendered


def _values(view: dict[str, Any]) -> dict[str, Any]:
    state = view.get("state")
    values = state.get("values") if isinstance(state, dict) else None
    return values if isinstance(values, dict) else {}
