"""What each user's App Home shows: their replicas (requested by them, of them, or from footage
they shared) and, for admins, everyone's, a page at a time. Rendered when the outbox publishes
it, so it always shows the requests as they are then.

HomeScreens renders a tab; HomeDoor is what the `app_home_opened` event and the paging
buttons call: it records who looks, and at which page, and has the tab published at once.
"""

from __future__ import annotations

import sqlite_utils
from slack_sdk.models.views import View

from blocks.library import PAGE_SIZE, Page, PageMark, counted_page, home_view
from domain.record import ReplicaRecord
from replicas.outbox import OutboxWorker
from storage import home
from storage import outbox as outbox_store
from storage import replicas as store
from storage.database import Storage


def _page(
    records: list[ReplicaRecord],
    counted: int,
    *,
    offset: int = 0,
    previous: PageMark | None = None,
) -> Page:
    """A page from `store.requests_of`'s count (from the page on, stopped past COUNT_CAP)."""
    return counted_page(records, counted, cap=store.COUNT_CAP, offset=offset, previous=previous)


class HomeScreens:
    def __init__(self, storage: Storage, *, dry_run: bool = False) -> None:
        self._storage = storage
        self._dry_run = dry_run  # TAVUS_DRY_RUN: the tab says so

    async def view(self, user_id: str) -> View:
        viewer = await self._storage.run(home.viewer, user_id)
        mine, counted = await self._storage.run(store.requests_of, user_id, limit=PAGE_SIZE)
        everyone = None
        if viewer is not None and viewer.is_admin:
            mark = PageMark(viewer.everyone_offset, viewer.everyone_before)
            everyone = await self._everyone(mark)
        return home_view(_page(mine, counted), everyone, dry_run=self._dry_run)

    async def _everyone(self, mark: PageMark) -> Page:
        """The page of everyone's replicas that starts at `mark`; the first page if none is
        left there (paged past the end, or a stale button)."""
        run = self._storage.run
        records, counted = await run(store.requests_of, None, limit=PAGE_SIZE, before=mark.before)
        if not records and mark.before is not None:
            mark = PageMark()
            records, counted = await run(store.requests_of, None, limit=PAGE_SIZE)
        if mark.before is None or not records:
            return _page(records, counted)
        # Where the page before starts, and how far down this one is, at least (requests
        # made since the click move it down): both from the few requests just newer.
        newer = await run(store.newer_ids, records[0].id, limit=PAGE_SIZE + 1)
        if not newer:  # nothing newer: this is the first page
            return _page(records, counted)
        if len(newer) <= PAGE_SIZE:
            offset, previous = len(newer), PageMark()
        else:
            offset = max(mark.offset, len(newer))
            previous = PageMark(max(0, offset - PAGE_SIZE), newer[PAGE_SIZE - 1] + 1)
        return _page(records, counted, offset=offset, previous=previous)


class HomeDoor:
    """Someone opened their Home tab (or turned a page of it): remember them, so that later
    changes to their replicas re-publish it (throttled, storage.outbox.enqueue_home), and
    publish it now. Both writes are one transaction; the outbox worker publishes it, with
    the retries every Slack call of the outbox gets."""

    def __init__(self, storage: Storage, outbox: OutboxWorker) -> None:
        self._storage = storage
        self._outbox = outbox

    async def opened(
        self, user_id: str, *, is_admin: bool, everyone: PageMark | None = None
    ) -> None:
        """`everyone`: the page of everyone's replicas an admin turned to (None: the first)."""
        mark = everyone or PageMark()

        def record(db: sqlite_utils.Database) -> None:
            with db.atomic():
                home.home_opened(
                    db,
                    user_id,
                    is_admin=is_admin,
                    everyone_offset=max(0, mark.offset),
                    everyone_before=mark.before,
                )
                outbox_store.enqueue_home(db, user_id, throttle_seconds=0)

        await self._storage.run(record)
        self._outbox.wake()
