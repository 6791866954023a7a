"""Where relayed copies live: the seam between the relay and the storage behind it.

A store takes a copy while the download streams it (a `Copy`, the download's sink), gives the
link Tavus downloads it from, and deletes it when the sweep says so. Two stores exist:

- `LocalStore` (local_store.py, the default): MEDIA_DIR, served by the bot itself at
  `{PUBLIC_URL}/media/{token}/{name}`.
- `S3Store` (s3_store.py, MEDIA_STORE=s3): an S3-compatible bucket (AWS S3, Cloudflare R2,
  MinIO), written by multipart upload, with a presigned link for Tavus; no public server.

Both record each copy in `media_files` (storage/media.py); a copy in a bucket also has its
bucket and object key there, so the sweep knows which store holds a row whatever the settings
say now. Every failure a store meets is a RelayError: one sentence for the requester, the
detail for the log.
"""

from __future__ import annotations

from collections.abc import Set
from datetime import datetime, timedelta
from typing import Protocol

from storage.database import Storage
from storage.media import MediaRow

# A copy in the making that has not moved for this long is a dead process's (the download's
# read timeout is a minute): the sweep removes it.
LEFTOVER_AGE = timedelta(hours=1)


class Copy(Protocol):
    """One copy in the making. The relay calls open and write (through the download), finish,
    then writes the copy's row, then publish; discard on any failure, shutdown at the end."""

    @property
    def bucket(self) -> str | None:
        """The bucket its row records (None: MEDIA_DIR)."""

    @property
    def object_key(self) -> str | None:
        """The object key its row records (None: MEDIA_DIR, where the token names it)."""

    async def open(self) -> None:
        """Start the copy; called once Slack's answer passed its checks."""

    async def write(self, chunks: list[bytes]) -> None:
        """Take the next bytes; waits only for the previous write (at most two in memory)."""

    async def finish(self) -> None:
        """Every byte written is stored, though not yet as the copy."""

    async def publish(self) -> None:
        """Make it the copy, after its row is written (so a sweep never takes it for a crash's
        leftover)."""

    async def discard(self) -> None:
        """Leave nothing behind; runs to the end even if the caller is cancelled meanwhile."""

    def shutdown(self) -> None:
        """Let go of the copy's thread, once nothing more is asked of it."""


class CopyStore(Protocol):
    @property
    def where(self) -> str:
        """Where copies go, for the log."""

    def check(self) -> None:
        """Raise RelayError if this store cannot hand Tavus a file at all (before any fetch)."""

    def begin(self, token: str, name: str, content_type: str) -> Copy:
        """A new copy named by `token` (and `name`, the safe file name)."""

    async def link(self, token: str, name: str) -> str:
        """The URL Tavus downloads the copy from."""

    def holds(self, row: MediaRow) -> bool:
        """Whether `row`'s copy is in this store."""

    async def delete(self, storage: Storage, row: MediaRow) -> bool:
        """Delete `row` and its copy, in the order that leaves nothing behind; False if the
        copy could not be deleted (the row stays, for the next sweep)."""

    async def remove_leftovers(self, storage: Storage, active: Set[str], now: datetime) -> int:
        """Remove what a crash left behind, older than LEFTOVER_AGE, sparing the `active`
        tokens (relays in progress); how many went."""

    async def aclose(self) -> None: ...
