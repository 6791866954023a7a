"""What each user's App Home shows: their replicas (requested by them, of them, or from footage
they shared) and, for admins, everyone's, a page at a time. Rendered when the outbox publishes
it, so it always shows the requests as they are then."""

from __future__ import annotations

from slack_sdk.models.views import View

from blocks.library import PAGE_SIZE, Page, home_view
from storage import home
from storage import replicas as store
from storage.database import Storage


class HomeScreens:
    def __init__(self, storage: Storage) -> None:
        self._storage = storage

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
        return home_view(Page(mine, 0, total), everyone)
