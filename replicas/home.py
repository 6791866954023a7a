"""What each user's App Home shows: their replicas (requested by them, of them, or from footage
they shared) and, for admins, everyone's, a page at a time. Rendered when the outbox publishes
it, so it always shows the requests as they are then.

HomeScreens renders a tab; HomeDoor is what the `app_home_opened` event and the paging
buttons call: it records who looks, and at which page, and has the tab published at once.
"""

from __future__ import annotations

import sqlite_utils
from slack_sdk.models.views import View

from blocks.library import PAGE_SIZE, Page, home_view
from replicas.outbox import OutboxWorker
from storage import home
from storage import outbox as outbox_store
from storage import replicas as store
from storage.database import Storage


class HomeScreens:
    def __init__(self, storage: Storage, *, dry_run: bool = False) -> None:
        self._storage = storage
        self._dry_run = dry_run  # TAVUS_DRY_RUN: the tab says so

    async def view(self, user_id: str) -> View:
        viewer = await self._storage.run(home.viewer, user_id)
        mine, total = await self._storage.run(store.requests_of, user_id, limit=PAGE_SIZE)
        everyone = None
        if viewer is not None and viewer.is_admin:
            offset = viewer.everyone_offset
            records, count = await self._storage.run(
                store.requests_of, None, limit=PAGE_SIZE, offset=offset
            )
            everyone = Page(records, offset, count)
        return home_view(Page(mine, 0, total), everyone, dry_run=self._dry_run)


class HomeDoor:
    """Someone opened their Home tab (or turned a page of it): remember them, so that later
    changes to their replicas re-publish it (throttled, storage.outbox.enqueue_home), and
    publish it now. Both writes are one transaction; the outbox worker publishes it, with
    the retries every Slack call of the outbox gets."""

    def __init__(self, storage: Storage, outbox: OutboxWorker) -> None:
        self._storage = storage
        self._outbox = outbox

    async def opened(self, user_id: str, *, is_admin: bool, everyone_offset: int = 0) -> None:
        def record(db: sqlite_utils.Database) -> None:
            with db.atomic():
                home.home_opened(
                    db, user_id, is_admin=is_admin, everyone_offset=max(0, everyone_offset)
                )
                outbox_store.enqueue_home(db, user_id, throttle_seconds=0)

        await self._storage.run(record)
        self._outbox.wake()
