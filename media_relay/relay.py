"""The media relay: copies a Slack file to MEDIA_DIR and serves it to Tavus.

Tavus only takes public URLs that stay valid for a day or more; Slack's file links need the
bot token. So the bot downloads the file with its token, streaming it to disk, and hands Tavus
`{PUBLIC_URL}/media/{token}/{name}` with a fresh 256-bit token per file. The token alone picks
the file on disk; the name is only there for Tavus and people reading URLs.

The token goes to Slack's file hosts only (`is_slack_file_host`): redirects are followed by
hand, each hop checked before anything is sent, and a link that leads elsewhere is refused.
Copies are owner-only (0600, in 0700 directories the relay creates).

Files live for `retention` (48 h) or until their request's training ends, whichever is later;
`sweep()` deletes the rest, and what a crash left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import re
import secrets
import stat
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO, TypeVar
from urllib.parse import quote

import aiohttp
import httpx
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from domain.request import Mode
from domain.slack_files import (
    IMAGE_TYPES,
    MAX_VIDEO_BYTES,
    VIDEO_REQUIREMENT,
    VIDEO_TYPES,
    SlackFile,
    human_size,
    is_slack_file_host,
)
from media_relay import MEDIA_PATH
from storage import media as media_store
from storage.database import Storage, create_private_file, make_private_dir

logger = logging.getLogger(__name__)

T = TypeVar("T")

# secrets.token_urlsafe(32): 43 characters of the URL-safe base64 alphabet.
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")
PARTIAL_DIR = ".partial"
PARTIAL_SUFFIX = ".part"
# A download that has not written for this long is dead (the read timeout is far shorter).
LEFTOVER_AGE = timedelta(hours=1)
# Bytes handed to the disk thread at a time; one buffer is written while the next fills.
WRITE_BUFFER_BYTES = 4 * 1024 * 1024
DOWNLOAD_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
# Slack's own chain is one or two hops (files.slack.com, then its file origin); more is a loop.
MAX_REDIRECTS = 5
MAX_NAME_LENGTH = 100
EXTENSIONS = {
    "video/mp4": ("mp4", "m4v"),
    "video/webm": ("webm",),
    "video/quicktime": ("mov",),
    "image/jpeg": ("jpg", "jpeg"),
    "image/png": ("png",),
}
CONTENT_TYPES = {**VIDEO_TYPES, **IMAGE_TYPES}

# What the requester is told when files.info fails, by Slack error code.
FILES_INFO_ERRORS = {
    "missing_scope": "The bot is not allowed to read Slack files yet: ask a Slack admin to add "
    "the files:read scope to the app and reinstall it, then try again.",
    "file_not_found": "That file is no longer in Slack (deleted, or not shared where the bot "
    "can see it): share it again and try again.",
    "file_deleted": "That file was deleted from Slack: share it again and try again.",
    "invalid_auth": "Slack refused the bot's token: ask the bot's admin to check SLACK_BOT_TOKEN.",
    "token_revoked": "Slack refused the bot's token: ask the bot's admin to reinstall the app.",
    "ratelimited": "Slack is asking the bot to slow down: try again in a minute.",
}


class RelayError(Exception):
    """The file could not be relayed. `user_message` is one sentence for the requester (what
    went wrong and how to fix it); str(error) carries the detail for the operator's log."""

    def __init__(self, user_message: str, detail: str | None = None) -> None:
        super().__init__(detail or user_message)
        self.user_message = user_message


@dataclass(frozen=True)
class RelayedFile:
    token: str
    file_name: str
    content_type: str
    size: int
    url: str


def safe_file_name(name: str, content_type: str) -> str:
    """A URL- and log-safe name for the file: [A-Za-z0-9._-] only, never empty, never starting
    with a dot (so never `.` or `..`), ending in an extension that matches its content type."""
    extensions = EXTENSIONS.get(content_type, ())
    stem, dot, extension = name.rpartition(".")
    if not dot or extension.lower() not in extensions:
        stem, extension = name, extensions[0] if extensions else "bin"
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip(".")
    extension = extension.lower()
    stem = stem[: MAX_NAME_LENGTH - len(extension) - 1].rstrip(".") or "file"
    return f"{stem}.{extension}"


class _Spool:
    """A file written on its own thread, one buffer behind the network: the event loop never
    waits on the disk, and at most two buffers are in memory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="media-write")
        self._file: BinaryIO | None = None
        self._writing: asyncio.Future[None] | None = None

    def _run(self, fn: Callable[[], T]) -> asyncio.Future[T]:
        return asyncio.get_running_loop().run_in_executor(self._thread, fn)

    async def open(self) -> None:
        def create() -> BinaryIO:
            make_private_dir(self.path.parent)
            # Owner-only from the first byte; os.replace later keeps the mode.
            return os.fdopen(create_private_file(self.path), "wb")

        self._file = await self._run(create)

    async def write(self, chunks: list[bytes]) -> None:
        """Queue chunks for the disk; waits only for the previous write to finish."""
        file = self._file
        assert file is not None
        if self._writing is not None:
            await self._writing  # its OSError (disk full) surfaces here

        self._writing = self._run(lambda: _write_chunks(file, chunks))

    async def close(self) -> None:
        if self._writing is not None:
            await self._writing
            self._writing = None
        if self._file is not None:
            await self._run(self._file.close)

    async def discard(self) -> None:
        """Close and delete the file. Runs after any write still on the thread, and runs to the
        end even if the caller is cancelled meanwhile."""
        writing, file = self._writing, self._file
        if writing is not None:
            # Its error, if any, is the one already being handled.
            writing.add_done_callback(lambda done: done.cancelled() or done.exception())

        def remove() -> None:
            if file is not None:
                # Flushing to a full disk fails again; the file goes anyway.
                with contextlib.suppress(OSError):
                    file.close()
            self.path.unlink(missing_ok=True)

        await asyncio.shield(self._run(remove))

    def shutdown(self) -> None:
        self._thread.shutdown(wait=False)


class AiohttpTransport(httpx.AsyncBaseTransport):
    """httpx over aiohttp's HTTP/1.1 client, for large downloads.

    httpx's own transport (httpcore on anyio) reads 64 KiB at a time at a high cost per read:
    about 200 MB/s where curl does 500 (bench/README.md). aiohttp, which the bot runs on anyway,
    keeps up with curl. httpx still builds the requests (the relay follows redirects itself)
    and raises its usual errors; this only moves the bytes.
    """

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._session is None:  # created lazily: aiohttp wants a running loop
            self._session = aiohttp.ClientSession(
                auto_decompress=False,  # httpx decodes Content-Encoding itself
                skip_auto_headers=("User-Agent", "Accept-Encoding"),  # httpx set its own
                trust_env=True,  # proxies from the environment, as httpx would
            )
        timeouts = request.extensions.get("timeout", {})
        try:
            response = await self._session.request(
                request.method,
                str(request.url),
                headers=[(k, v) for k, v in request.headers.multi_items() if k != "host"],
                data=await request.aread() or None,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    sock_connect=timeouts.get("connect"),
                    sock_read=timeouts.get("read"),
                ),
            )
        except aiohttp.ConnectionTimeoutError as error:
            raise httpx.ConnectTimeout(repr(error), request=request) from error
        except TimeoutError as error:
            raise httpx.ReadTimeout(repr(error), request=request) from error
        except aiohttp.ClientConnectorError as error:
            raise httpx.ConnectError(repr(error), request=request) from error
        except aiohttp.ClientError as error:
            raise httpx.ReadError(repr(error), request=request) from error
        return httpx.Response(
            response.status,
            headers=list(response.raw_headers),
            stream=_AiohttpBody(response, request),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": b""},
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


class _AiohttpBody(httpx.AsyncByteStream):
    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except TimeoutError as error:
            raise httpx.ReadTimeout(repr(error), request=self._request) from error
        except aiohttp.ClientPayloadError as error:  # e.g. the body ended early
            raise httpx.RemoteProtocolError(repr(error), request=self._request) from error
        except aiohttp.ClientError as error:
            raise httpx.ReadError(repr(error), request=self._request) from error

    async def aclose(self) -> None:
        # Closes the connection unless the body was read to the end.
        self._response.release()


class MediaRelay:
    def __init__(
        self,
        *,
        media_dir: Path,
        storage: Storage,
        slack: AsyncWebClient,
        bot_token: str,
        public_url: str | None,
        slack_api_url: str | None = None,
        max_video_bytes: int | None = MAX_VIDEO_BYTES,
        transport: httpx.AsyncBaseTransport | None = None,
        retention: timedelta = timedelta(hours=48),
    ) -> None:
        """`slack_api_url` (SLACK_API_URL; by default the Slack client's base URL) is the one
        origin besides Slack's own domains whose file links get the bot token."""
        self._media_dir = media_dir
        self._storage = storage
        self._slack = slack
        self._bot_token = bot_token
        self._slack_api_url = slack_api_url or slack.base_url
        self._public_url = public_url.rstrip("/") if public_url else None
        self._max_bytes = max_video_bytes
        self._retention = retention
        # Tokens being relayed by this process: the sweep leaves their files alone.
        self._active: set[str] = set()
        self._http = httpx.AsyncClient(
            follow_redirects=False,  # each hop is checked first: see _open_download
            timeout=DOWNLOAD_TIMEOUT,
            transport=transport or AiohttpTransport(),
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- relaying ------------------------------------------------------------------------------

    async def relay(self, file_id: str, request_id: int) -> RelayedFile:
        """Copy Slack file `file_id` to MEDIA_DIR for request `request_id` and return its public
        URL. Raises RelayError, with nothing left on disk, if that cannot be done."""
        if self._public_url is None:
            raise RelayError(
                "The bot cannot pass Slack files to Tavus without a public address: ask the "
                "bot's admin to set PUBLIC_URL, or give a link to the video instead.",
                "PUBLIC_URL is not set",
            )
        file = await self._file_info(file_id)
        content_type = file.mimetype
        token = secrets.token_urlsafe(32)
        name = safe_file_name(file.name, content_type)
        partial = self._media_dir / PARTIAL_DIR / f"{token}{PARTIAL_SUFFIX}"
        started = time.monotonic()
        self._active.add(token)
        spool = _Spool(partial)
        try:
            try:
                size = await self._download(file, spool)
                await spool.close()
            except OSError as error:
                raise _disk_error(error) from error
            await self._storage.run(
                media_store.insert_media_file,
                token=token,
                request_id=request_id,
                slack_file_id=file.id,
                file_name=name,
                content_type=content_type,
                size=size,
            )
            # The row comes first, so a sweep never takes the file for a crash's leftover.
            try:
                await asyncio.to_thread(os.replace, partial, self._media_dir / token)
            except OSError as error:
                await self._storage.run(media_store.delete_media_file, token)
                raise _disk_error(error) from error
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
            human_size(size),
            request_id,
            seconds,
        )
        url = f"{self._public_url}{MEDIA_PATH}{token}/{quote(name)}"
        return RelayedFile(
            token=token, file_name=name, content_type=content_type, size=size, url=url
        )

    async def _file_info(self, file_id: str) -> SlackFile:
        """The file's details from files.info (a Slack Connect stub has none), checked against
        what Tavus accepts before anything is downloaded."""
        try:
            response = await self._slack.files_info(file=file_id)
        except SlackApiError as error:
            code = str(error.response.get("error") or "")
            message = FILES_INFO_ERRORS.get(
                code,
                f"Slack would not hand the file to the bot ({code or 'no reason given'}): "
                "try again, or share the file again.",
            )
            raise RelayError(message, f"files.info {file_id} failed: {code}") from error
        except (aiohttp.ClientError, TimeoutError) as error:
            raise RelayError(
                "The bot could not reach Slack to fetch the file: try again in a minute.",
                f"files.info {file_id} failed: {error!r}",
            ) from error
        file = SlackFile.from_slack(response.get("file"))
        if file is None:
            raise RelayError(
                "Slack did not describe the file: share it again and try again.",
                f"files.info {file_id} returned no file object",
            )
        problem = self._problem(file)
        if problem is not None:
            raise RelayError(problem, f"Slack file {file_id} refused: {problem}")
        if file.url_private_download is None:
            raise RelayError(
                f"Slack gave the bot no download link for {file.name or 'the file'}: share it "
                "again and try again.",
                f"files.info {file_id} has no url_private_download",
            )
        return file

    def _problem(self, file: SlackFile) -> str | None:
        """SlackFile.problem(), with this relay's size limit (None: no limit)."""
        problem = replace(file, size=None).problem()
        if problem is None and file.mimetype not in CONTENT_TYPES:
            problem = f"{file.name or 'This file'} is of a type Tavus does not take."
        if problem is None and file.size is not None:
            problem = self._too_big(file, file.size)
        return problem

    def _too_big(self, file: SlackFile, size: int) -> str | None:
        if self._max_bytes is None or size <= self._max_bytes:
            return None
        name = file.name or "This file"
        if file.mode is Mode.VIDEO:
            return f"{name} is {human_size(size)}. {VIDEO_REQUIREMENT}."
        return f"{name} is {human_size(size)}: photos must be under {human_size(self._max_bytes)}."

    async def _download(self, file: SlackFile, spool: _Spool) -> int:
        """Stream the file into the spool, opened once Slack's answer passes its checks; the
        number of bytes."""
        try:
            response = await self._open_download(file)
            try:
                self._check_answer(file, response)
                await spool.open()
                return await self._stream(file, response, spool)
            finally:
                await response.aclose()
        except (httpx.ConnectError, httpx.ConnectTimeout) as error:
            raise RelayError(
                "The bot could not reach Slack to download the file: try again in a minute.",
                f"download of {file.id} could not connect: {error!r}",
            ) from error
        except httpx.HTTPError as error:
            raise RelayError(
                f"The download of {file.name} from Slack broke off: try again.",
                f"download of {file.id} failed: {error!r}",
            ) from error

    async def _open_download(self, file: SlackFile) -> httpx.Response:
        """GET the file's download link, following redirects by hand: every hop, the first
        included, must be a Slack file host before anything (the token above all) is sent to
        it. A hop elsewhere, e.g. another server or the bot's own address, is refused."""
        assert file.url_private_download is not None
        url: httpx.URL | str = file.url_private_download
        headers = {
            "Authorization": f"Bearer {self._bot_token}",
            # Media does not compress, and an identity body makes Content-Length the file size.
            "Accept-Encoding": "identity",
        }
        for hop in range(MAX_REDIRECTS + 1):
            if not is_slack_file_host(url, self._slack_api_url):
                raise _leaves_slack(file, url, hop)
            request = self._http.build_request("GET", url, headers=headers)
            response = await self._http.send(request, stream=True)
            if response.next_request is None:  # not a redirect: the answer
                return response
            await response.aclose()
            url = response.next_request.url  # httpx resolves a relative Location
        raise RelayError(
            f"Slack kept redirecting the bot's download of {file.name or 'the file'}, so the bot "
            "gave up: try again in a few minutes, or share the file again.",
            f"download of {file.id} was still redirected after {MAX_REDIRECTS} redirects "
            f"(last to {_origin(url)})",
        )

    def _check_answer(self, file: SlackFile, response: httpx.Response) -> None:
        """Refuse an answer that is not the file, or too big, before a byte is stored."""
        if not response.is_success:
            raise RelayError(
                f"Slack would not hand over {file.name or 'the file'}: try again, or share the "
                "file again.",
                f"download of {file.id} answered HTTP {response.status_code} "
                f"from {_origin(response.url)}",
            )
        if response.headers.get("content-type", "").lower().startswith("text/html"):
            raise RelayError(
                "Slack answered with its login page instead of the file: ask a Slack admin to "
                "add the files:read scope to the app and reinstall it.",
                f"download of {file.id} returned text/html from {_origin(response.url)} "
                "(missing files:read, or a token Slack's file server does not accept)",
            )
        length = response.headers.get("content-length", "")
        if length.isdigit() and (problem := self._too_big(file, int(length))):
            raise RelayError(problem, f"download of {file.id}: Content-Length {length}")

    async def _stream(self, file: SlackFile, response: httpx.Response, spool: _Spool) -> int:
        total = buffered = 0
        chunks: list[bytes] = []
        async for chunk in response.aiter_bytes():
            total += len(chunk)
            if problem := self._too_big(file, total):
                raise RelayError(problem, f"download of {file.id} passed {total} bytes")
            chunks.append(chunk)
            buffered += len(chunk)
            if buffered >= WRITE_BUFFER_BYTES:
                await spool.write(chunks)
                chunks, buffered = [], 0
        if chunks:
            await spool.write(chunks)
        if total == 0:
            raise RelayError(
                f"{file.name} is empty in Slack: share the file again.",
                f"download of {file.id} was empty",
            )
        return total

    # -- serving -------------------------------------------------------------------------------

    async def find(self, token: str, name: str) -> tuple[Path, str, int] | None:
        """The file for a media URL: (path, content type, size), or None. The token is checked
        before anything is looked up, and alone names the file on disk."""
        if not TOKEN_PATTERN.fullmatch(token):
            return None
        row = await self._storage.run(media_store.get_media_file, token)
        if row is None or row.file_name != name:
            return None
        path = self._media_dir / token
        try:
            found = await asyncio.to_thread(path.lstat)
        except FileNotFoundError:
            return None
        if not stat.S_ISREG(found.st_mode):
            return None
        return path, row.content_type, found.st_size

    # -- cleaning up ---------------------------------------------------------------------------

    async def sweep(self, now: datetime | None = None) -> int:
        """Delete files past retention whose request is finished (or gone), unfinished downloads
        and files without a row (a crash's leftovers). Returns how many files went."""
        now = now or datetime.now(UTC)
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        cutoff = (now - self._retention).astimezone(UTC).isoformat(timespec="milliseconds")
        deleted = 0
        for row in await self._storage.run(media_store.expired_media_files, cutoff):
            # The row goes first: from then on the file is not served, and a crash before the
            # unlink leaves a file without a row, which the next sweep removes.
            await self._storage.run(media_store.delete_media_file, row.token)
            await asyncio.to_thread((self._media_dir / row.token).unlink, missing_ok=True)
            logger.info(
                "deleted relayed file %s of request %s (relayed %s)",
                row.file_name,
                row.request_id,
                row.created_at,
            )
            deleted += 1
        keep = await self._storage.run(media_store.media_tokens) | self._active
        partials, orphans = await asyncio.to_thread(self._remove_leftovers, keep, now.timestamp())
        if partials or orphans:
            logger.info(
                "deleted %d unfinished download(s) and %d relayed file(s) without a record",
                partials,
                orphans,
            )
        return deleted + partials + orphans

    def _remove_leftovers(self, keep: set[str], now: float) -> tuple[int, int]:
        """On a worker thread: remove stale partial downloads and token files with no row."""
        oldest = now - LEFTOVER_AGE.total_seconds()

        def stale(entry: os.DirEntry[str], token: str) -> bool:
            return (
                TOKEN_PATTERN.fullmatch(token) is not None
                and token not in keep
                and entry.is_file(follow_symlinks=False)
                and entry.stat(follow_symlinks=False).st_mtime < oldest
            )

        def remove(directory: Path, token_of: Callable[[str], str | None]) -> int:
            removed = 0
            try:
                entries = list(os.scandir(directory))
            except FileNotFoundError:
                return 0
            for entry in entries:
                token = token_of(entry.name)
                try:
                    if token is not None and stale(entry, token):
                        os.unlink(entry.path)
                        removed += 1
                except FileNotFoundError:
                    pass  # gone meanwhile
            return removed

        partials = remove(
            self._media_dir / PARTIAL_DIR,
            lambda name: (
                name.removesuffix(PARTIAL_SUFFIX) if name.endswith(PARTIAL_SUFFIX) else None
            ),
        )
        # Only names that are tokens: anything else in the folder is not the relay's.
        orphans = remove(self._media_dir, lambda name: name)
        return partials, orphans


def _write_chunks(file: BinaryIO, chunks: list[bytes]) -> None:
    """On the disk thread (tests replace it to fill the disk)."""
    file.write(b"".join(chunks))


def _leaves_slack(file: SlackFile, url: httpx.URL | str, hop: int) -> RelayError:
    where = "download link" if hop == 0 else f"redirect {hop} of the download"
    return RelayError(
        f"Slack's download link for {file.name or 'the file'} leads outside Slack, so the bot "
        "will not fetch it: share the file again, or paste a link to it instead.",
        f"download of {file.id} refused: its {where} leads to {_origin(url)}, which is not a "
        "Slack file host",
    )


def _origin(url: httpx.URL | str) -> str:
    """Scheme, host and port only, for logs: paths and queries may hold presigned secrets."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return "an invalid URL"
    return f"{parsed.scheme}://{parsed.netloc.decode('ascii')}"


def _disk_error(error: OSError) -> RelayError:
    if error.errno == errno.ENOSPC:
        return RelayError(
            "The bot's disk is full, so it cannot take the file: ask the bot's admin to free "
            "space, or give a link to the video instead.",
            f"no space left for a relayed file: {error!r}",
        )
    return RelayError(
        "The bot could not store the file on its server: ask the bot's admin to check its log.",
        f"could not store a relayed file: {error!r}",
    )
