"""The media relay: copies a Slack file to a store Tavus can download it from.

Tavus only takes public URLs that stay valid for a day or more; Slack's file links need the
bot token. So the bot downloads the file with its token, streaming it into a store, and hands
Tavus the store's link to the copy, with a fresh 256-bit token per file:

- by default MEDIA_DIR, served by the bot at `{PUBLIC_URL}/media/{token}/{name}` (the token
  alone picks the file on disk; the name is only there for Tavus and people reading URLs);
- with MEDIA_STORE=s3, an S3-compatible bucket, at `<prefix><token>/<name>`, through a
  presigned link valid for 48 h (no public address needed).

Files live for `retention` (48 h) or until their request's training ends, whichever is later;
`sweep()` deletes the rest, wherever they are, and what a crash left behind.

`MediaRelay` ties the parts together: download.py (files.info, the checks, the download; the
token goes to Slack's file hosts only), stores.py (the seam: a store, a copy in the making),
local_store.py (MEDIA_DIR: spool.py's owner-only copies, 0600 in 0700 folders; files.py's
names; serving.py), s3_store.py (multipart uploads, presigned links) and sweep.py, over
net/aiohttp_transport.py (httpx on aiohttp).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import httpx

from domain.media import MAX_VIDEO_BYTES
from domain.slack_files import human_size
from media_relay.download import Downloader, RelayError
from media_relay.files import new_token, safe_file_name
from media_relay.local_store import LocalStore
from media_relay.stores import CopyStore
from media_relay.sweep import sweep_copies
from slack_access.clients import SlackClients
from storage import media as media_store
from storage.database import Storage

# Callers import the relay's error from here, with the relay.
__all__ = ["MediaRelay", "RelayError", "RelayedFile"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RelayedFile:
    token: str
    file_name: str
    content_type: str
    size: int
    url: str
    sha256: str  # hex digest of the bytes relayed, for the consent record


class MediaRelay:
    def __init__(
        self,
        *,
        media_dir: Path,
        storage: Storage,
        slack: SlackClients,
        public_url: str | None,
        store: CopyStore | None = None,
        slack_api_url: str | None = None,
        max_video_bytes: int | None = MAX_VIDEO_BYTES,
        transport: httpx.AsyncBaseTransport | None = None,
        retention: timedelta = timedelta(hours=48),
    ) -> None:
        """`slack`: where files.info's client and the download's bot token come from, per
        workspace. `slack_api_url` (SLACK_API_URL; by default the clients' base URL) is the
        one origin besides Slack's own domains whose file links get the bot token.

        `store`: where new copies go (an S3Store); None: MEDIA_DIR, served at `public_url`.
        Copies already in MEDIA_DIR are served and swept either way."""
        self._storage = storage
        self._slack = slack
        self._local = LocalStore(media_dir, public_url)
        self._store: CopyStore = store or self._local
        self._stores: tuple[CopyStore, ...] = (
            (self._local,) if store is None else (self._local, store)
        )
        self._retention = retention
        # Tokens being relayed by this process: the sweep leaves their copies alone.
        self._active: set[str] = set()
        self._downloader = Downloader(
            slack_api_url=slack_api_url or slack.api_url,
            max_video_bytes=max_video_bytes,
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._downloader.aclose()
        for store in self._stores:
            await store.aclose()

    async def relay(
        self,
        file_id: str,
        request_id: int,
        *,
        team_id: str | None = None,
        enterprise_id: str | None = None,
    ) -> RelayedFile:
        """Copy Slack file `file_id` to the store for request `request_id` and return the link
        Tavus downloads it from. Raises RelayError, with nothing left behind (no partial
        file, no unfinished upload), if that cannot be done.

        `team_id`, `enterprise_id`: the workspace the file was shared in (the request's
        origin), whose client and token fetch it; None: the bot's own installation."""
        self._store.check()
        file = await self._downloader.file_info(
            self._slack.for_workspace(team_id, enterprise_id), file_id
        )
        bot_token = self._slack.token_for(team_id, enterprise_id)
        content_type = file.mimetype
        token = new_token()
        name = safe_file_name(file.name, content_type)
        started = time.monotonic()
        self._active.add(token)
        copy = self._store.begin(token, name, content_type)
        try:
            downloaded = await self._downloader.download(file, bot_token, copy)
            await copy.finish()
            url = await self._store.link(token, name)
            await self._storage.run(
                media_store.insert_media_file,
                token=token,
                request_id=request_id,
                slack_file_id=file.id,
                file_name=name,
                content_type=content_type,
                size=downloaded.size,
                bucket=copy.bucket,
                object_key=copy.object_key,
            )
            # The row comes first, so a sweep never takes the copy for a crash's leftover.
            try:
                await copy.publish()
            except RelayError:
                await self._storage.run(media_store.delete_media_file, token)
                raise
        except BaseException:
            await copy.discard()
            raise
        finally:
            copy.shutdown()
            self._active.discard(token)
        seconds = time.monotonic() - started
        logger.info(
            "relayed Slack file %s (%s, %s) for request %s to %s in %.1f s",
            file.id,
            name,
            human_size(downloaded.size),
            request_id,
            self._store.where,
            seconds,
        )
        return RelayedFile(
            token=token,
            file_name=name,
            content_type=content_type,
            size=downloaded.size,
            url=url,
            sha256=downloaded.sha256,
        )

    async def find(self, token: str, name: str) -> tuple[Path, str, int] | None:
        """The file in MEDIA_DIR for a media URL: (path, content type, size), or None. (A copy
        in a bucket is fetched from there, by its presigned link.)"""
        return await self._local.find(self._storage, token, name)

    async def sweep(self, now: datetime | None = None) -> int:
        """Delete what is no longer needed (see media_relay.sweep); how many copies went."""
        return await sweep_copies(
            self._storage, self._stores, retention=self._retention, active=self._active, now=now
        )
