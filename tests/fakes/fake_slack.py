"""A fake Slack Web API on 127.0.0.1: records every call and answers like Slack would.

Failure modes are set per test: channels the bot is not in, private channels it cannot join,
and one-off errors for the next call to a method. It also hosts the fake Socket Mode server
(`socket_mode`), whose links `apps.connections.open` hands out for the app-level token.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.fake_socket_mode import APP_TOKEN, FakeSocketMode

BOT_TOKEN = "xoxb-test-token"
# Methods called with the app-level token rather than the bot token.
APP_TOKEN_METHODS = frozenset({"apps.connections.open"})


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


class FakeSlack:
    def __init__(self) -> None:
        self.calls: list[SlackCall] = []
        self.views: dict[str, dict[str, Any]] = {}  # view id -> the last view sent
        self.messages: list[Posted] = []
        self.not_member: set[str] = set()  # public channels the bot has not joined
        self.private: set[str] = set()  # channels the bot cannot see or join
        self.real_names: dict[str, str] = {}
        self.fail_next: dict[str, list[str]] = {}  # method -> errors for its next calls
        self.responses: list[dict[str, Any]] = []  # bodies POSTed to response_url
        self.socket_mode = FakeSocketMode()
        self._count = 0
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)
        app.router.add_post("/respond/{id}", self._respond)
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

    # -- the API -----------------------------------------------------------------------------

    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            params.update(await request.json())
        elif request.can_read_body:
            params.update(dict(await request.post()))
        for key in ("view", "blocks"):
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
            return web.json_response({"ok": False, "error": error})
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"}, status=404)
        result: dict[str, Any] = handler(params)
        return web.json_response(result)

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
        }

    def _apps_connections_open(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.socket_mode.open_connection()

    def _views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        view_id = f"V{self._next()}"
        self.views[view_id] = {**params["view"], "id": view_id, "hash": f"h{self._count}"}
        return {"ok": True, "view": self.views[view_id]}

    def _views_update(self, params: dict[str, Any]) -> dict[str, Any]:
        view_id = params.get("view_id")
        if view_id not in self.views:
            return {"ok": False, "error": "not_found"}
        if params.get("hash") and params["hash"] != self.views[view_id]["hash"]:
            return {"ok": False, "error": "hash_conflict"}
        self.views[view_id] = {**params["view"], "id": view_id, "hash": f"h{self._next()}"}
        return {"ok": True, "view": self.views[view_id]}

    def _chat_postMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = str(params["channel"])
        if channel in self.private:
            return {"ok": False, "error": "channel_not_found"}
        if channel in self.not_member:
            return {"ok": False, "error": "not_in_channel"}
        if channel.startswith("U"):  # a user id posts to the app's DM with that user
            channel = "D" + channel
        ts = f"1700000000.{self._next():06d}"
        self.messages.append(
            Posted(
                channel=channel,
                ts=ts,
                text=str(params.get("text") or ""),
                blocks=list(params.get("blocks") or []),
                thread_ts=params.get("thread_ts"),
            )
        )
        return {"ok": True, "channel": channel, "ts": ts}

    def _chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        for message in self.messages:
            if message.channel == params["channel"] and message.ts == params["ts"]:
                message.updates.append(params)
                message.text = str(params.get("text") or "")
                message.blocks = list(params.get("blocks") or [])
                return {"ok": True, "channel": message.channel, "ts": message.ts}
        return {"ok": False, "error": "message_not_found"}

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
            "user": {"id": user, "real_name": name, "profile": {"real_name": name}},
        }

    async def _respond(self, request: web.Request) -> web.Response:
        self.responses.append(await request.json())
        return web.Response(text="ok")
