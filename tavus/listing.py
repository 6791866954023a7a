"""The account's replicas as `GET /v2/replicas` lists them: `ListedReplica`, and a whole
listing (`ReplicaListing`), which tavus/client.py fills a page at a time."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tavus.fields import (
    first_str,
    parse_time,
    replica_id_in,
    replica_name_in,
    stripped,
    thumbnail_url,
)

# Awaited after each page of a listing is read (the poller paces the listing with it).
PageHook = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class ListedReplica:
    """A replica of the account, as `GET /v2/replicas` lists it."""

    replica_id: str
    replica_name: str
    status: str
    created_at: datetime | None
    error_message: str | None = None
    thumbnail_video_url: str | None = None  # an http(s) URL, or None
    finetune_status: str | None = None
    model_name: str | None = None
    training_progress: str | None = None  # "N/100", as Tavus writes it


def listed_replica(replica_id: str, item: dict[str, Any]) -> ListedReplica:
    """One item of a listing's page, read (either spelling, every field checked)."""
    return ListedReplica(
        replica_id=replica_id,
        replica_name=replica_name_in(item),
        status=str(item.get("status") or ""),
        created_at=parse_time(item.get("created_at")),
        error_message=first_str(item, "error_message"),
        thumbnail_video_url=thumbnail_url(item.get("thumbnail_video_url")),
        finetune_status=stripped(item.get("finetune_status")),
        model_name=stripped(item.get("model_name")),
        training_progress=stripped(item.get("training_progress")),
    )


class ReplicaListing:
    """Every replica of the account, by replica id, in the order Tavus listed them (an id
    listed twice keeps its first place and its last item).

    A replica stays the page's own item (parsed JSON) until it is asked for (`get`, or going
    through them all): a polling round asks for its open requests' replicas a batch at a
    time, between pauses, rather than reading all of them while the pages come in back to
    back. Read at once, a listing of 10,000 held the event loop ~0.6 ms a page, 101 pages in
    a row, and /replica answered meanwhile waited (bench/polling.py); parsed JSON holding only
    strings is not even tracked by the garbage collector, as 10,000 ListedReplicas are."""

    __slots__ = ("_items",)

    def __init__(self) -> None:
        self._items: dict[str, dict[str, Any] | ListedReplica] = {}

    @classmethod
    def of(cls, replicas: Iterable[ListedReplica]) -> ReplicaListing:
        """A listing of replicas already read (the dry run's simulated Tavus, tests)."""
        listing = cls()
        for replica in replicas:
            listing._items[replica.replica_id] = replica
        return listing

    def add(self, item: Any) -> None:
        """One item of a page, kept by its id; an item that is not an object with an id (of
        either spelling) is skipped."""
        if isinstance(item, dict) and (replica_id := replica_id_in(item)):
            self._items[replica_id] = item

    def get(self, replica_id: str) -> ListedReplica | None:
        """The replica with this id, read now; None if Tavus did not list it."""
        item = self._items.get(replica_id)
        if item is None or isinstance(item, ListedReplica):
            return item
        return listed_replica(replica_id, item)

    def ids(self) -> list[str]:
        return list(self._items)

    def named(self, names: Collection[str]) -> list[ListedReplica]:
        """The replicas named one of `names` (exactly, as an ambiguous create is matched),
        in listing order: only their names are read to find them."""
        found: list[ListedReplica] = []
        for replica_id, item in self._items.items():
            name = item.replica_name if isinstance(item, ListedReplica) else replica_name_in(item)
            if name in names and (replica := self.get(replica_id)) is not None:
                found.append(replica)
        return found

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[ListedReplica]:
        """Each replica, read as it comes."""
        for replica_id in self._items:
            replica = self.get(replica_id)
            if replica is not None:
                yield replica
