"""A fake Slack Socket Mode server: WebSocket links on 127.0.0.1, hosted by FakeSlack.

`apps.connections.open` (checked against APP_TOKEN by FakeSlack) hands out a link URL. On
each link the fake says `hello`, sends envelopes the way Slack does, and records the acks.
Tests can ask the bot to reconnect (`disconnect`), close a link cleanly, drop it without a
close frame as a dead network would, or leave the bot's own close frame unanswered.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

APP_TOKEN = "xapp-1-A1-1234-test-app-token"
APP_ID = "A1"
LINK_PATH = "/link/"


@dataclass
class Link:
    """One WebSocket connection from the bot."""

    number: int
    socket: web.WebSocketResponse
    transport: asyncio.Transport | None
    dropped: bool = False
    received: list[dict[str, Any]] = field(default_factory=list)  # acks and anything else

    @property
    def open(self) -> bool:
        return not (self.dropped or self.socket.closed)


class FakeSocketMode:
    def __init__(self) -> None:
        self.links: list[Link] = []
        self.sent: list[dict[str, Any]] = []  # envelopes, in order
        self.acks: dict[str, dict[str, Any]] = {}  # envelope_id -> the ack
        self._tickets: set[str] = set()
        self._changed = asyncio.Condition()  # notified when a link opens or closes, or an ack
        self.answer_close = True  # False: ignore the bot's close frame, as a stuck peer would
        self._stopping = asyncio.Event()
        self._ids = itertools.count(1)
        self.url = ""  # FakeSlack's base URL, set once it listens

    def register(self, app: web.Application) -> None:
        app.router.add_get(LINK_PATH, self._link)

    # -- what tests read -----------------------------------------------------------------

    @property
    def open_links(self) -> list[Link]:
        return [link for link in self.links if link.open]

    async def connected(self, count: int = 1, seconds: float = 5.0) -> Link:
        """Wait until the bot has made `count` connections in all and one is open; the newest."""
        async with asyncio.timeout(seconds), self._changed:
            await self._changed.wait_for(lambda: len(self.links) >= count and self.open_links)
        return self.open_links[-1]

    # -- Slack's side of the protocol ----------------------------------------------------

    def open_connection(self) -> dict[str, Any]:
        """The answer to apps.connections.open: a fresh single-link URL."""
        ticket = secrets.token_hex(8)
        self._tickets.add(ticket)
        ws_url = self.url.replace("http://", "ws://", 1)
        return {"ok": True, "url": f"{ws_url}{LINK_PATH}?ticket={ticket}&app_id={APP_ID}"}

    async def send(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        accepts_response_payload: bool = False,
        retry_attempt: int = 0,
        retry_reason: str = "",
    ) -> str:
        """Send an envelope (`slash_commands`, `interactive`, `events_api`) on the newest
        open link; returns its envelope_id."""
        envelope_id = f"env-{next(self._ids)}"
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": accepts_response_payload,
        }
        if kind == "events_api":  # only events are retried, and carry the attempt (0 first)
            envelope |= {"retry_attempt": retry_attempt, "retry_reason": retry_reason}
        link = await self.connected()
        await link.socket.send_json(envelope)
        self.sent.append(envelope)
        return envelope_id

    async def ack(self, envelope_id: str, seconds: float = 5.0) -> dict[str, Any]:
        """The bot's ack of an envelope, once it arrives."""
        async with asyncio.timeout(seconds), self._changed:
            await self._changed.wait_for(lambda: envelope_id in self.acks)
        return self.acks[envelope_id]

    async def request(self, kind: str, payload: dict[str, Any], **options: Any) -> dict[str, Any]:
        """Send an envelope and return the bot's ack."""
        return await self.ack(await self.send(kind, payload, **options))

    async def disconnect(self, reason: str = "refresh_requested") -> None:
        """Ask the bot to reconnect, as Slack does before retiring a link."""
        link = await self.connected()
        await link.socket.send_json(
            {"type": "disconnect", "reason": reason, "debug_info": {"host": "fake-applink"}}
        )

    async def stop(self) -> None:
        """Close what is left, so that the server can shut down."""
        self._stopping.set()
        await self.close_links()

    async def close_links(self) -> None:
        """Close every open link with a close frame."""
        for link in self.open_links:
            await link.socket.close()

    def drop_links(self) -> None:
        """Cut every open link without a close frame, as a dead network would."""
        for link in self.open_links:
            link.dropped = True
            if link.transport is not None:
                link.transport.abort()

    async def _link(self, request: web.Request) -> web.StreamResponse:
        if request.query.get("ticket") not in self._tickets:
            return web.json_response({"error": "unknown ticket"}, status=401)
        # Answers the client's pings by itself; answers its close frame only if answer_close.
        socket = web.WebSocketResponse(autoclose=False)
        await socket.prepare(request)
        link = Link(number=len(self.links) + 1, socket=socket, transport=request.transport)
        self.links.append(link)
        await self._notify()
        await socket.send_json(
            {
                "type": "hello",
                "num_connections": len(self.open_links),
                "debug_info": {"host": "fake-applink", "approximate_connection_time": 3600},
                "connection_info": {"app_id": APP_ID},
            }
        )
        async for message in socket:
            if message.type != WSMsgType.TEXT:
                continue
            data: dict[str, Any] = json.loads(message.data)
            link.received.append(data)
            if "envelope_id" in data:
                self.acks[data["envelope_id"]] = data
                await self._notify()
        # The iteration ends at the bot's close frame (or a lost connection).
        if self.answer_close:
            await socket.close()
        else:
            await self._stopping.wait()
        await self._notify()  # the link is closed
        return socket

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()
