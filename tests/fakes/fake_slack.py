"""A fake Slack Web API on 127.0.0.1: records every call and answers like Slack would.

Failure modes are set per test: channels the bot is not in, private channels it cannot join,
and one-off errors for the next call to a method. It also hosts the fake Socket Mode server
(`socket_mode`), whose links `apps.connections.open` hands out for the app-level token.

It also hosts files (`add_file`): `files.info` describes them and `url_private_download` serves
them like Slack does, with the bot token, or a login page without it. And it takes uploads as
`files_upload_v2` makes them (files.getUploadURLExternal, a POST of the bytes to the URL it
returns, files.completeUploadExternal): `uploads` keeps each one's bytes and where it went.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from email.utils import formatdate
from pathlib import Path
from typing import Any, NoReturn

import yaml
from aiohttp import web

from tests.fakes.fake_socket_mode import APP_TOKEN, FakeSocketMode

BOT_TOKEN = "xoxb-test-token"
LOGIN_PAGE = "<!DOCTYPE html><html><head><title>Slack</title></head><body>Sign in</body></html>"
DOWNLOAD_CHUNK = 1024 * 1024
PRIVATE_METADATA_LIMIT = 3000  # characters; Slack refuses a view with more
HOME_BLOCK_LIMIT = 100  # blocks in an App Home view
# Methods called with the app-level token rather than the bot token.
APP_TOKEN_METHODS = frozenset({"apps.connections.open"})
MANIFEST = Path(__file__).resolve().parents[2] / "manifest.yml"


def manifest_scopes() -> list[str]:
    """The bot scopes manifest.yml asks for: what an up-to-date installation's token has."""
    scopes: list[str] = yaml.safe_load(MANIFEST.read_text())["oauth_config"]["scopes"]["bot"]
    return scopes


@dataclass
class SlackCall:
    method: str
    params: dict[str, Any]


@dataclass
class Posted:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None
    updates: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, Any] | None = None


@dataclass
class Ephemeral:
    channel: str
    user: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None


@dataclass
class Hold:
    """Calls to a method wait here (Slack not answering) until released, then fail with 500.

    With `record_first`, the message is posted before the wait: Slack did it, but its answer
    never arrives. With `then_answer`, the call is answered normally once released (Slack
    merely slow, e.g. a users.info still in flight while the user clicks).
    """

    method: str
    record_first: bool
    then_answer: bool = False
    only: Callable[[dict[str, Any]], bool] | None = None  # which calls to hold (params): all
    waiting: int = 0
    released: asyncio.Event = field(default_factory=asyncio.Event)

    def release(self) -> None:
        self.released.set()


@dataclass
class HostedFile:
    info: dict[str, Any]  # the full file object; tests may edit it (e.g. its size)
    content: bytes | Path

    @property
    def length(self) -> int:
        if isinstance(self.content, Path):
            return self.content.stat().st_size
        return len(self.content)


@dataclass
class Download:
    file_id: str
    path: str
    authorized: bool


@dataclass
class Upload:
    """A file the bot uploaded: what it announced, sent and, once completed, shared where."""

    file_id: str
    filename: str
    length: int
    content: bytes | None = None  # None until the bytes arrive at the upload URL
    title: str | None = None
    channel: str | None = None  # None until files.completeUploadExternal shares it
    initial_comment: str | None = None


class FakeSlack:
    def __init__(self) -> None:
        self.calls: list[SlackCall] = []
        self.views: dict[str, dict[str, Any]] = {}  # view id -> the last view sent
        self.homes: dict[str, dict[str, Any]] = {}  # user id -> the Home tab last published
        self.messages: list[Posted] = []
        self.not_member: set[str] = set()  # public channels the bot has not joined
        self.private: set[str] = set()  # channels the bot cannot see or join
        self.real_names: dict[str, str] = {}
        self.bots: set[str] = set()  # users.info says is_bot
        self.deactivated: set[str] = set()  # users.info says deleted
        self.user_groups: dict[str, list[str]] = {}  # S… id -> its members' user ids
        self.fail_next: dict[str, list[str]] = {}  # method -> errors for its next calls
        self.responses: list[dict[str, Any]] = []  # bodies POSTed to response_url
        self.ephemerals: list[Ephemeral] = []
        self.down_channels: set[str] = set()  # chat.* calls there get HTTP 500
        # Seconds Slack's clock is ahead of this host's (negative: behind): message ts and
        # the Date header of every answer follow it.
        self.clock_offset = 0.0
        # conversations.history/replies serve at most this many messages per call, as Slack
        # does to commercially distributed apps outside the Marketplace (since 2025).
        self.page_size = 15
        self.holds: dict[str, Hold] = {}
        self.files: dict[str, HostedFile] = {}
        self.download_requests: list[Download] = []
        self.uploads: list[Upload] = []
        # Downloads go through this many 302s to presigned URLs that need no token, on this
        # server or at `presigned_origin` (e.g. the same server under another host name).
        self.redirect_downloads: int = 0
        self.presigned_origin = ""
        # Downloads answer 302 to this URL instead: somewhere that is not Slack, or the
        # download link itself (a loop).
        self.download_redirect_to: str | None = None
        # Send the whole Content-Length, then drop the connection after this many bytes.
        self.cut_download_after: int | None = None
        self.login_page_downloads = False  # as if the bot lacked files:read
        self.socket_mode = FakeSocketMode()
        # The bot token's scopes, sent as Slack does in every answer to it (x-oauth-scopes):
        # take some away to play an installation older than the manifest.
        self.scopes: set[str] = set(manifest_scopes())
        self._count = 0
        self._file_count = 0
        self._presigned: dict[str, tuple[str, int]] = {}  # secret -> file id, redirects left
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)
        app.router.add_post("/respond/{id}", self._respond)
        app.router.add_get("/files-pri/{team_file}/download/{name}", self._download)
        app.router.add_get("/files-pri/{team_file}/{name}", self._download)  # url_private
        app.router.add_get("/files-tmb/presigned/{secret}/{name}", self._presigned_download)
        app.router.add_post("/upload/v1/{file_id}", self._upload)
        app.on_response_prepare.append(self._date_header)
        app.on_response_prepare.append(self._scopes_header)
        self.socket_mode.register(app)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        self.socket_mode.url = self.url
        return f"{self.url}/api/"

    async def stop(self) -> None:
        if self._runner is not None:
            # Open WebSocket links would hold the server's shutdown.
            await self.socket_mode.stop()
            await self._runner.cleanup()

    # -- what tests read ---------------------------------------------------------------------

    def calls_to(self, method: str) -> list[SlackCall]:
        return [call for call in self.calls if call.method == method]

    def latest_view(self) -> tuple[str, dict[str, Any]]:
        view_id = next(reversed(self.views))
        return view_id, self.views[view_id]

    def messages_in(self, channel: str) -> list[Posted]:
        return [m for m in self.messages if m.channel == channel]

    # -- files -------------------------------------------------------------------------------

    def add_file(
        self,
        name: str,
        mimetype: str,
        content: bytes | Path,
        *,
        connect_stub: bool = False,
        size: int | None = None,
        external: bool = False,
        user: str = "U1",
    ) -> dict[str, Any]:
        """Host a file; returns the file object a message event would carry (a Slack Connect
        stub if `connect_stub`). `size` overrides the size Slack reports. An `external` file is
        one kept in Google Drive; its links stay on this server, so any download shows. `user`
        shared it; its `permalink` is where Slack shows it."""
        self._file_count += 1
        file_id = f"F{self._file_count:08d}"
        hosted = HostedFile(info={}, content=content)
        download = f"{self.url}/files-pri/T1-{file_id}/download/{name}"
        hosted.info = {
            "id": file_id,
            "created": 1700000000,
            "timestamp": 1700000000,
            "name": name,
            "title": name,
            "mimetype": mimetype,
            "filetype": name.rpartition(".")[2].lower() if "." in name else "binary",
            "pretty_type": mimetype,
            "user": user,
            "mode": "hosted",
            "is_external": external,
            **({"external_type": "gdrive"} if external else {}),
            "is_public": True,
            "size": hosted.length if size is None else size,
            "url_private": download.replace("/download/", "/", 1),
            "url_private_download": download,
            "permalink": f"{self.url}/files/{user}/{file_id}/{name}",
        }
        self.files[file_id] = hosted
        if connect_stub:
            return {"id": file_id, "mode": "file_access", "file_access": "check_file_info"}
        return dict(hosted.info)

    def shared_uploads(self) -> list[Upload]:
        """Uploads completed into a conversation, in order."""
        return [upload for upload in self.uploads if upload.channel is not None]

    def _files_getUploadURLExternal(self, params: dict[str, Any]) -> dict[str, Any]:
        if not params.get("filename") or not str(params.get("length", "")).isdigit():
            return {"ok": False, "error": "invalid_arguments"}
        self._file_count += 1
        file_id = f"F{self._file_count:08d}"
        self.uploads.append(Upload(file_id, str(params["filename"]), int(params["length"])))
        # Slack's upload URLs are on files.slack.com and need no token.
        return {"ok": True, "upload_url": f"{self.url}/upload/v1/{file_id}", "file_id": file_id}

    async def _upload(self, request: web.Request) -> web.Response:
        found = [u for u in self.uploads if u.file_id == request.match_info["file_id"]]
        if not found:
            return web.Response(status=404, text="unknown upload")
        found[0].content = await request.read()
        return web.Response(text=f"OK - {len(found[0].content)}")

    def _files_completeUploadExternal(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = str(params.get("channel_id") or "")
        if channel in self.private or channel in self.not_member or channel[:1] in ("U", "W"):
            return {"ok": False, "error": "channel_not_found"}  # a user id is not a channel
        by_id = {upload.file_id: upload for upload in self.uploads}
        completed = []
        for item in json.loads(str(params["files"])):
            upload = by_id.get(item["id"])
            if upload is None or upload.content is None or len(upload.content) != upload.length:
                return {"ok": False, "error": "upload_incomplete"}
            upload.title = item.get("title")
            upload.channel = channel or None
            upload.initial_comment = params.get("initial_comment")
            completed.append({"id": upload.file_id, "name": upload.filename, "title": upload.title})
        return {"ok": True, "files": completed}

    def _files_info(self, params: dict[str, Any]) -> dict[str, Any]:
        hosted = self.files.get(str(params.get("file")))
        if hosted is None:
            return {"ok": False, "error": "file_not_found"}
        return {"ok": True, "file": dict(hosted.info)}

    async def _download(self, request: web.Request) -> web.StreamResponse:
        file_id = request.match_info["team_file"].rpartition("-")[2]
        authorized = request.headers.get("Authorization") == f"Bearer {BOT_TOKEN}"
        self.download_requests.append(Download(file_id, request.path, authorized))
        hosted = self.files.get(file_id)
        if not authorized or self.login_page_downloads:
            # What Slack does without the token or the files:read scope.
            return web.Response(text=LOGIN_PAGE, content_type="text/html")
        if hosted is None:
            return web.Response(status=404, text="file not found")
        if self.download_redirect_to is not None:
            raise web.HTTPFound(self.download_redirect_to)
        if self.redirect_downloads:
            self._redirect_to_presigned(request, file_id, self.redirect_downloads)
        return await self._send(request, hosted)

    def _redirect_to_presigned(
        self, request: web.Request, file_id: str, redirects: int
    ) -> NoReturn:
        secret = secrets.token_urlsafe(8)
        self._presigned[secret] = (file_id, redirects - 1)
        name = request.match_info["name"]
        raise web.HTTPFound(f"{self.presigned_origin}/files-tmb/presigned/{secret}/{name}")

    async def _presigned_download(self, request: web.Request) -> web.StreamResponse:
        file_id, redirects = self._presigned.get(request.match_info["secret"], ("", 0))
        authorized = request.headers.get("Authorization") == f"Bearer {BOT_TOKEN}"
        self.download_requests.append(Download(file_id, request.path, authorized))
        hosted = self.files.get(file_id)
        if hosted is None:
            return web.Response(status=403, text="bad signature")
        if redirects:
            self._redirect_to_presigned(request, file_id, redirects)
        return await self._send(request, hosted)

    async def _send(self, request: web.Request, hosted: HostedFile) -> web.StreamResponse:
        mimetype = str(hosted.info["mimetype"])
        if self.cut_download_after is None:
            if isinstance(hosted.content, Path):
                # Streamed from disk (sendfile), so a 1 GiB file is never held in memory.
                return web.FileResponse(hosted.content, headers={"Content-Type": mimetype})
            return web.Response(body=hosted.content, content_type=mimetype)
        response = web.StreamResponse(headers={"Content-Type": mimetype})
        response.content_length = hosted.length
        await response.prepare(request)
        remaining = self.cut_download_after
        async for chunk in _chunks(hosted.content):
            await response.write(chunk[:remaining])
            remaining -= min(len(chunk), remaining)
            if remaining == 0:
                break
        # Drop the connection mid-body, as a network failure would.
        assert request.transport is not None
        request.transport.close()
        return response

    # -- the API -----------------------------------------------------------------------------

    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            params.update(await request.json())
        elif request.can_read_body:
            params.update(dict(await request.post()))
        for key in ("view", "blocks", "metadata"):
            if isinstance(params.get(key), str):
                params[key] = json.loads(params[key])
        return params

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await self._params(request)
        self.calls.append(SlackCall(method, params))
        token = (request.headers.get("Authorization") or "").removeprefix("Bearer ")
        expected = APP_TOKEN if method in APP_TOKEN_METHODS else BOT_TOKEN
        if token != expected:
            # Slack tells a token of the wrong kind from an unknown one.
            wrong_kind = token.startswith("xapp-") != expected.startswith("xapp-")
            error = "not_allowed_token_type" if token and wrong_kind else "invalid_auth"
            return web.json_response({"ok": False, "error": error})
        pending = self.fail_next.get(method)
        if pending:
            error = pending.pop(0)
            if error == "ratelimited":
                return web.json_response(
                    {"ok": False, "error": error}, status=429, headers={"Retry-After": "0"}
                )
            if error == "http_500":
                return web.json_response({"ok": False, "error": "internal_error"}, status=500)
            if error == "posted_then_disconnect":  # done, but the connection drops unanswered
                getattr(self, "_" + method.replace(".", "_"))(params)
                assert request.transport is not None
                request.transport.close()
                return web.json_response({"ok": False, "error": "never_sent"}, status=500)
            return web.json_response({"ok": False, "error": error})
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"}, status=404)
        if method.startswith("chat.") and params.get("channel") in self.down_channels:
            return web.json_response({"ok": False, "error": "internal_error"}, status=500)
        hold = self.holds.get(method)
        if (
            hold is not None
            and not hold.released.is_set()
            and (hold.only is None or hold.only(params))
        ):
            if hold.record_first:
                handler(params)
            hold.waiting += 1
            await hold.released.wait()
            if not hold.then_answer:
                return web.json_response({"ok": False, "error": "internal_error"}, status=500)
        result: dict[str, Any] = handler(params)
        return web.json_response(result)

    def hold(
        self,
        method: str,
        *,
        record_first: bool = False,
        then_answer: bool = False,
        only: Callable[[dict[str, Any]], bool] | None = None,
    ) -> Hold:
        self.holds[method] = Hold(method, record_first, then_answer, only)
        return self.holds[method]

    def _next(self) -> int:
        self._count += 1
        return self._count

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "user_id": "UBOT",
            "bot_id": "BBOT",
            "team_id": "T1",
            "user": "bot",
            "team": "Acme",
            "url": "https://acme.slack.com/",
            "is_enterprise_install": False,
        }

    def _apps_connections_open(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.socket_mode.open_connection()

    def _views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        if len(params["view"].get("private_metadata", "")) > PRIVATE_METADATA_LIMIT:
            return {"ok": False, "error": "invalid_arguments"}
        view_id = f"V{self._next()}"
        self.views[view_id] = {**params["view"], "id": view_id, "hash": f"h{self._count}"}
        return {"ok": True, "view": self.views[view_id]}

    def _views_update(self, params: dict[str, Any]) -> dict[str, Any]:
        view_id = params.get("view_id")
        if view_id not in self.views:
            return {"ok": False, "error": "not_found"}
        # As Slack: the hash is optional, and a stale one refuses the update.
        if params.get("hash") and params["hash"] != self.views[view_id]["hash"]:
            return {"ok": False, "error": "hash_conflict"}
        if len(params["view"].get("private_metadata", "")) > PRIVATE_METADATA_LIMIT:
            return {"ok": False, "error": "invalid_arguments"}
        self.views[view_id] = {**params["view"], "id": view_id, "hash": f"h{self._next()}"}
        return {"ok": True, "view": self.views[view_id]}

    def _views_publish(self, params: dict[str, Any]) -> dict[str, Any]:
        """A user's App Home, replaced whole. Slack refuses a Home over 100 blocks."""
        user = str(params.get("user_id") or "")
        view = params.get("view") or {}
        if not user or view.get("type") != "home":
            return {"ok": False, "error": "invalid_arguments"}
        if len(view.get("blocks") or []) > HOME_BLOCK_LIMIT:
            return {"ok": False, "error": "invalid_blocks"}
        published = {**view, "id": f"VH{user}", "hash": f"h{self._next()}"}
        self.homes[user] = published
        return {"ok": True, "view": published}

    def home_publishes(self, user: str) -> int:
        """How many times `user`'s Home was published."""
        return sum(1 for call in self.calls_to("views.publish") if call.params["user_id"] == user)

    def _chat_postMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = str(params["channel"])
        if channel in self.private:
            return {"ok": False, "error": "channel_not_found"}
        if channel in self.not_member:
            return {"ok": False, "error": "not_in_channel"}
        if channel.startswith("U"):  # a user id posts to the app's DM with that user
            channel = "D" + channel  # (its D… id comes back in the answer)
        posted = self.post_as_user(channel, str(params.get("text") or ""), params.get("thread_ts"))
        posted.blocks = list(params.get("blocks") or [])
        posted.metadata = params.get("metadata")
        return {"ok": True, "channel": channel, "ts": posted.ts}

    def now(self) -> float:
        """Slack's clock."""
        return time.time() + self.clock_offset

    def post_as_user(self, channel: str, text: str, thread_ts: str | None = None) -> Posted:
        """A message someone posted (the bot's own posts come through here too)."""
        # Slack's clock: history searches by it.
        ts = f"{int(self.now())}.{self._next():06d}"
        posted = Posted(channel=channel, ts=ts, text=text, blocks=[], thread_ts=thread_ts)
        self.messages.append(posted)
        return posted

    async def _date_header(self, request: web.Request, response: web.StreamResponse) -> None:
        response.headers["Date"] = formatdate(self.now(), usegmt=True)

    async def _scopes_header(self, request: web.Request, response: web.StreamResponse) -> None:
        """Slack names the token's scopes in the answer to any Web API call made with it."""
        token = (request.headers.get("Authorization") or "").removeprefix("Bearer ")
        if request.path.startswith("/api/") and token == BOT_TOKEN:
            response.headers["x-oauth-scopes"] = ",".join(sorted(self.scopes))

    def _chat_postEphemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        self.ephemerals.append(
            Ephemeral(
                channel=str(params["channel"]),
                user=str(params["user"]),
                text=str(params.get("text") or ""),
                blocks=list(params.get("blocks") or []),
                thread_ts=params.get("thread_ts"),
            )
        )
        return {"ok": True, "message_ts": f"1700000000.{self._next():06d}"}

    def _history(self, params: dict[str, Any], thread_ts: str | None) -> dict[str, Any]:
        """A page of conversations.history (top-level messages, newest first) or .replies (the
        thread: its parent, then replies oldest first), as Slack serves them: at most
        `page_size` messages, `oldest`/`latest` exclusive unless `inclusive`, and a cursor
        to the next page."""
        channel = str(params["channel"])
        if channel in self.private or channel[:1] in ("U", "W"):  # history wants a D… id
            return {"ok": False, "error": "channel_not_found"}
        if channel in self.not_member:
            return {"ok": False, "error": "not_in_channel"}
        inclusive = str(params.get("inclusive", "")).lower() in ("1", "true")
        oldest = Decimal(str(params.get("oldest") or "0"))
        latest = Decimal(str(params["latest"])) if params.get("latest") else None
        newest_first = thread_ts is None
        found = sorted(
            (
                m
                for m in self.messages
                if m.channel == channel
                and (m.thread_ts is None if thread_ts is None else thread_ts in (m.ts, m.thread_ts))
                and (Decimal(m.ts) > oldest or (inclusive and Decimal(m.ts) == oldest))
                and (
                    latest is None
                    or Decimal(m.ts) < latest
                    or (inclusive and Decimal(m.ts) == latest)
                )
            ),
            key=lambda m: Decimal(m.ts),
            reverse=newest_first,
        )
        if thread_ts is not None and not any(
            m.channel == channel and m.ts == thread_ts for m in self.messages
        ):
            return {"ok": False, "error": "thread_not_found"}
        if params.get("cursor"):
            after = Decimal(
                base64.b64decode(str(params["cursor"])).decode().removeprefix("next_ts:")
            )
            found = [
                m
                for m in found
                if (Decimal(m.ts) < after if newest_first else Decimal(m.ts) > after)
            ]
        size = min(int(params.get("limit") or 100), self.page_size)
        page, more = found[:size], len(found) > size
        answer: dict[str, Any] = {
            "ok": True,
            "messages": [
                {"ts": m.ts, "text": m.text, "metadata": m.metadata, "thread_ts": m.thread_ts}
                for m in page
            ],
            "has_more": more,
        }
        if more:
            cursor = base64.b64encode(f"next_ts:{page[-1].ts}".encode()).decode()
            answer["response_metadata"] = {"next_cursor": cursor}
        return answer

    def _conversations_history(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._history(params, None)

    def _conversations_replies(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._history(params, str(params["ts"]))

    def _chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        for message in self.messages:
            if message.channel == params["channel"] and message.ts == params["ts"]:
                message.updates.append(params)
                message.text = str(params.get("text") or "")
                message.blocks = list(params.get("blocks") or [])
                return {"ok": True, "channel": message.channel, "ts": message.ts}
        return {"ok": False, "error": "message_not_found"}

    def _chat_getPermalink(self, params: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(params["channel"]), str(params["message_ts"])
        if not any(m.channel == channel and m.ts == ts for m in self.messages):
            return {"ok": False, "error": "message_not_found"}
        link = f"https://acme.slack.com/archives/{channel}/p{ts.replace('.', '')}"
        return {"ok": True, "channel": channel, "permalink": link}

    def _conversations_join(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = params["channel"]
        if channel in self.private:
            return {"ok": False, "error": "method_not_supported_for_channel_type"}
        self.not_member.discard(channel)
        return {"ok": True, "channel": {"id": channel}}

    def _users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user = params["user"]
        name = self.real_names.get(user, "")
        return {
            "ok": True,
            "user": {
                "id": user,
                "real_name": name,
                "profile": {"real_name": name},
                "is_bot": user in self.bots,
                "deleted": user in self.deactivated,
            },
        }

    def _usergroups_users_list(self, params: dict[str, Any]) -> dict[str, Any]:
        members = self.user_groups.get(str(params.get("usergroup")))
        if members is None:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": list(members)}

    async def _respond(self, request: web.Request) -> web.Response:
        self.responses.append(await request.json())
        return web.Response(text="ok")


async def _chunks(content: bytes | Path) -> AsyncIterator[bytes]:
    if isinstance(content, bytes):
        for start in range(0, len(content), DOWNLOAD_CHUNK):
            yield content[start : start + DOWNLOAD_CHUNK]
        return
    with content.open("rb") as file:
        while chunk := await asyncio.to_thread(file.read, DOWNLOAD_CHUNK):
            yield chunk
