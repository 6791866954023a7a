"""The media relay: copies a Slack file to MEDIA_DIR and serves it to Tavus.

Tavus only takes public URLs that stay valid for a day or more; Slack's file links need the
bot token. So the bot downloads the file with its token, streaming it to disk, and hands Tavus
`{PUBLIC_URL}/media/{token}/{name}` with a fresh 256-bit token per file. The token alone picks
the file on disk; the name is only there for Tavus and people reading URLs.

Files live for `retention` (48 h) or until their request's training ends, whichever is later;
`sweep()` deletes the rest, and what a crash left behind.

`MediaRelay` ties the parts together: download.py (files.info, the checks, the download; the
token goes to Slack's file hosts only), spool.py (owner-only copies, 0600 in 0700 folders),
files.py (names in MEDIA_DIR), serving.py and sweep.py, over transport.py (httpx on aiohttp).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import httpx

from domain.media import MAX_VIDEO_BYTES
from domain.slack_files import human_size
from media_relay import MEDIA_PATH
from media_relay.download import Downloader, RelayError, disk_error
from media_relay.files import copy_path, new_token, partial_path, safe_file_name
from media_relay.serving import find_copy
from media_relay.spool import Spool
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
        slack_api_url: str | None = None,
        max_video_bytes: int | None = MAX_VIDEO_BYTES,
        transport: httpx.AsyncBaseTransport | None = None,
        retention: timedelta = timedelta(hours=48),
    ) -> None:
        """`slack`: where files.info's client and the download's bot token come from, per
        workspace. `slack_api_url` (SLACK_API_URL; by default the clients' base URL) is the
        one origin besides Slack's own domains whose file links get the bot token."""
        self._media_dir = media_dir
        self._storage = storage
        self._slack = slack
        self._public_url = public_url.rstrip("/") if public_url else None
        self._retention = retention
        # Tokens being relayed by this process: the sweep leaves their files alone.
        self._active: set[str] = set()
        self._downloader = Downloader(
            slack_api_url=slack_api_url or slack.api_url,
            max_video_bytes=max_video_bytes,
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._downloader.aclose()

    async def relay(
        self,
        file_id: str,
        request_id: int,
        *,
        team_id: str | None = None,
        enterprise_id: str | None = None,
    ) -> RelayedFile:
        """Copy Slack file `file_id` to MEDIA_DIR for request `request_id` and return its public
        URL. Raises RelayError, with nothing left on disk, if that cannot be done.

        `team_id`, `enterprise_id`: the workspace the file was shared in (the request's
        origin), whose client and token fetch it; None: the bot's own installation."""
        if self._public_url is None:
            raise RelayError(
                "The bot cannot pass Slack files to Tavus without a public address: ask the "
                "bot's admin to give it one (see its README), or give a link to the video "
                "instead.",
                "PUBLIC_URL is not set",
            )
        file = await self._downloader.file_info(
            self._slack.for_workspace(team_id, enterprise_id), file_id
        )
        bot_token = self._slack.token_for(team_id, enterprise_id)
        content_type = file.mimetype
        token = new_token()
        name = safe_file_name(file.name, content_type)
        partial = partial_path(self._media_dir, token)
        started = time.monotonic()
        self._active.add(token)
        spool = Spool(partial)
        try:
            try:
                downloaded = await self._downloader.download(file, bot_token, spool)
                await spool.close()
            except OSError as error:
                raise disk_error(error) from error
            await self._storage.run(
                media_store.insert_media_file,
                token=token,
                request_id=request_id,
                slack_file_id=file.id,
                file_name=name,
                content_type=content_type,
                size=downloaded.size,
            )
            # The row comes first, so a sweep never takes the file for a crash's leftover.
            try:
                await asyncio.to_thread(os.replace, partial, copy_path(self._media_dir, token))
            except OSError as error:
                await self._storage.run(media_store.delete_media_file, token)
                raise disk_error(error) from error
        except BaseException:
            await spool.discard()
            raise
        finally:
            spool.shutdown()
            self._active.discard(token)
        seconds = time.monotonic() - started
        logger.info(
            "relayed Slack file %s (%s, %s) for request %s in %.1f s",
            file.id,
            name,
            human_size(downloaded.size),
            request_id,
            seconds,
        )
        url = f"{self._public_url}{MEDIA_PATH}{token}/{quote(name)}"
        return RelayedFile(
            token=token,
            file_name=name,
            content_type=content_type,
            size=downloaded.size,
            url=url,
            sha256=downloaded.sha256,
        )

    async def find(self, token: str, name: str) -> tuple[Path, str, int] | None:
        """The file for a media URL: (path, content type, size), or None."""
        return await find_copy(self._storage, self._media_dir, token, name)

    async def sweep(self, now: datetime | None = None) -> int:
        """Delete what is no longer needed (see media_relay.sweep); how many files went."""
        return await sweep_copies(
            self._storage, self._media_dir, retention=self._retention, active=self._active, now=now
        )
