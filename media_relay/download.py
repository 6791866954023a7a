"""Getting a Slack file: files.info and its checks, then the download, hop by hop, into a sink
(a store's copy in the making: a spool on disk, or a multipart upload).

The bot token goes to Slack's file hosts only (`is_slack_file_host`): redirects are followed by
hand, each hop checked before anything is sent, and a link that leads elsewhere is refused.
Type and size are checked before the download (files.info), when Slack answers (Content-Type,
Content-Length) and while the bytes arrive.

Every failure is a RelayError: one sentence for the requester, the detail for the log.
"""

from __future__ import annotations

import errno
import hashlib
from dataclasses import dataclass, replace
from typing import Protocol

import aiohttp
import httpx
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from domain.media import MAX_VIDEO_BYTES, VIDEO_REQUIREMENT, Mode, media_type
from domain.slack_files import SlackFile, human_size, is_slack_file_host
from net.aiohttp_transport import AiohttpTransport
from slack_access.errors import CREDENTIAL_ERRORS

# Bytes handed to the sink at a time; one buffer is written while the next fills.
WRITE_BUFFER_BYTES = 4 * 1024 * 1024
DOWNLOAD_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
# Slack's own chain is one or two hops (files.slack.com, then its file origin); more is a loop.
MAX_REDIRECTS = 5

# What the requester is told when files.info fails, by Slack error code; any other refused
# credential gets TOKEN_REFUSED.
FILES_INFO_ERRORS = {
    "missing_scope": "The bot is not allowed to read Slack files yet: ask a Slack admin to add "
    "the files:read scope to the app and reinstall it, then try again.",
    "file_not_found": "That file is no longer in Slack (deleted, or not shared where the bot "
    "can see it): share it again and try again.",
    "file_deleted": "That file was deleted from Slack: share it again and try again.",
    "ratelimited": "Slack is asking the bot to slow down: try again in a minute.",
}
STORE_FAILED = (
    "The bot could not store the file on its server: ask whoever runs the bot to check its "
    "log, or paste a link to the file instead."
)
TOKEN_REFUSED = (
    "Slack refused the bot's token, so it cannot fetch the file: ask whoever runs the bot to "
    "check its Slack token, or to reinstall the app."
)


class RelayError(Exception):
    """The file could not be relayed. `user_message` is one sentence for the requester (what
    went wrong and how to fix it); str(error) carries the detail for the operator's log."""

    def __init__(self, user_message: str, detail: str | None = None) -> None:
        super().__init__(detail or user_message)
        self.user_message = user_message


def files_info_message(code: str) -> str:
    """What the requester is told when files.info answers with error `code` ("": none). The
    code itself is for the log (RelayError's detail), not for the requester."""
    if code in FILES_INFO_ERRORS:
        return FILES_INFO_ERRORS[code]
    if code in CREDENTIAL_ERRORS:
        return TOKEN_REFUSED
    return (
        "Slack would not hand the file to the bot: try again, or share the file again. If it "
        "keeps happening, ask whoever runs the bot to check its log."
    )


class Sink(Protocol):
    """Where the download's bytes go. Both may raise RelayError (the store's own failure)."""

    async def open(self) -> None:
        """Called once Slack's answer passed its checks, before the first write."""

    async def write(self, chunks: list[bytes]) -> None:
        """Take the next bytes; may wait for earlier ones to be stored (back-pressure)."""


@dataclass(frozen=True)
class Downloaded:
    size: int  # bytes
    sha256: str  # hex digest of exactly the bytes written, for the consent record


class Downloader:
    def __init__(
        self,
        *,
        slack_api_url: str,
        max_video_bytes: int | None = MAX_VIDEO_BYTES,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """`slack_api_url` (SLACK_API_URL) is the one origin besides Slack's own domains whose
        file links get the bot token. `max_video_bytes`: None for no limit."""
        self._slack_api_url = slack_api_url
        self._max_bytes = max_video_bytes
        self._http = httpx.AsyncClient(
            follow_redirects=False,  # each hop is checked first: see _open_download
            timeout=DOWNLOAD_TIMEOUT,
            transport=transport or AiohttpTransport(),
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def file_info(self, slack: AsyncWebClient, file_id: str) -> SlackFile:
        """The file's details from files.info (a Slack Connect stub has none), checked against
        what Tavus accepts before anything is downloaded."""
        try:
            response = await slack.files_info(file=file_id)
        except SlackApiError as error:
            code = str(error.response.get("error") or "")
            raise RelayError(
                files_info_message(code), f"files.info {file_id} failed: {code}"
            ) from error
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
        if problem is None and media_type(file.mimetype) is None:
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

    async def download(self, file: SlackFile, bot_token: str, sink: Sink) -> Downloaded:
        """Stream the file into the sink, opened once Slack's answer passes its checks; its
        size and sha256. `bot_token` goes to Slack's file hosts and nowhere else."""
        try:
            response = await self._open_download(file, bot_token)
            try:
                self._check_answer(file, response)
                await sink.open()
                return await self._stream(file, response, sink)
            finally:
                await response.aclose()
        except (httpx.ConnectError, httpx.ConnectTimeout) as error:
            raise RelayError(
                "The bot could not reach Slack to download the file: try again in a minute.",
                f"download of {file.id} could not connect: {error!r}",
            ) from error
        except httpx.HTTPError as error:
            raise RelayError(
                f"The download of {file.name or 'the file'} from Slack broke off: try again.",
                f"download of {file.id} failed: {error!r}",
            ) from error

    async def _open_download(self, file: SlackFile, bot_token: str) -> httpx.Response:
        """GET the file's download link, following redirects by hand: every hop, the first
        included, must be a Slack file host before anything (the token above all) is sent to
        it. A hop elsewhere, e.g. another server or the bot's own address, is refused."""
        assert file.url_private_download is not None
        url: httpx.URL | str = file.url_private_download
        headers = {
            "Authorization": f"Bearer {bot_token}",
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

    async def _stream(self, file: SlackFile, response: httpx.Response, sink: Sink) -> Downloaded:
        total = buffered = 0
        chunks: list[bytes] = []
        # Hashed chunk by chunk as the bytes arrive: no second read of up to 750 MB. Here, not
        # on the sink's thread: there it slowed the slower half of the pipeline (a 1 GiB relay
        # took twice as long, bench/README.md); here it fills the wait for that thread, and
        # hashlib lets go of the GIL while it hashes.
        digest = hashlib.sha256()
        async for chunk in response.aiter_bytes():
            total += len(chunk)
            if problem := self._too_big(file, total):
                raise RelayError(problem, f"download of {file.id} passed {total} bytes")
            digest.update(chunk)
            chunks.append(chunk)
            buffered += len(chunk)
            if buffered >= WRITE_BUFFER_BYTES:
                await sink.write(chunks)
                chunks, buffered = [], 0
        if chunks:
            await sink.write(chunks)
        if total == 0:
            raise RelayError(
                f"{file.name or 'The file'} is empty in Slack: share the file again.",
                f"download of {file.id} was empty",
            )
        return Downloaded(size=total, sha256=digest.hexdigest())


def disk_error(error: OSError) -> RelayError:
    """What the requester is told when the copy cannot be stored."""
    if error.errno == errno.ENOSPC:
        return RelayError(
            "The bot's disk is full, so it cannot take the file: ask whoever runs the bot to "
            "free some space, or paste a link to the file instead.",
            f"no space left for a relayed file: {error!r}",
        )
    return RelayError(STORE_FAILED, f"could not store a relayed file: {error!r}")


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
