"""A fake Tavus API on 127.0.0.1: records replica creates and serves voices and replica status."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

API_KEY = "tavus-test-key"


@dataclass
class CannedAnswer:
    status: int
    body: Any  # JSON-serialisable, or a str sent as-is
    delay: float = 0.0
    creates: bool = False  # the replica is created even though this answer is returned


@dataclass
class FakeTavus:
    voices: list[dict[str, Any]] = field(
        default_factory=lambda: [
            {"voice_name": name, "replica_id": f"r-{name}", "tags": []}
            for name in ("anna", "benjamin", "ivy", "james", "julia", "liam")
        ]
    )
    creates: list[dict[str, Any]] = field(default_factory=list)  # bodies of POST /v2/replicas
    create_answers: list[CannedAnswer] = field(default_factory=list)  # used first, in order
    replicas: dict[str, dict[str, Any]] = field(default_factory=dict)
    voice_requests: int = 0
    gets: list[str] = field(default_factory=list)  # replica ids asked for by GET
    list_requests: int = 0
    fail_reads: int = 0  # answer this many GETs with 503
    deletes: list[tuple[str, bool]] = field(default_factory=list)  # (replica id, hard)
    fail_deletes: int = 0  # answer this many DELETEs with 503
    url: str = ""
    _runner: web.AppRunner | None = None

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/v2/replicas", self._create)
        app.router.add_get("/v2/replicas", self._list)
        app.router.add_get("/v2/replicas/{replica_id}", self._get)
        app.router.add_delete("/v2/replicas/{replica_id}", self._delete)
        app.router.add_get("/v2/voices", self._voices)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def answer_next_create(
        self, status: int, body: Any, delay: float = 0.0, *, creates: bool = False
    ) -> None:
        self.create_answers.append(CannedAnswer(status, body, delay, creates))

    def set_status(self, replica_id: str, status: str, error_message: str | None = None) -> None:
        """What GET (and the list) will say about a replica from now on."""
        self.replicas[replica_id].update(
            status=status,
            error_message=error_message,
            training_progress="100/100" if status in ("completed", "ready") else "42/100",
        )

    def add_replica(self, replica_id: str, name: str, created_at: datetime) -> None:
        """A replica the bot did not create (another tool, or an older one of the same name)."""
        self.replicas[replica_id] = {
            "replica_id": replica_id,
            "replica_name": name,
            "status": "completed",
            "training_progress": "100/100",
            "created_at": created_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }

    def _new_replica(self, body: dict[str, Any]) -> str:
        replica_id = f"r{len(self.creates):04d}"
        self.replicas[replica_id] = {
            "replica_id": replica_id,
            "replica_name": body.get("replica_name"),
            "status": "started",
            "training_progress": "0/100",
            "created_at": datetime.now(UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
        }
        return replica_id

    @staticmethod
    def _reply(status: int, body: Any) -> web.Response:
        if isinstance(body, str):
            return web.Response(status=status, text=body, content_type="text/plain")
        return web.json_response(body, status=status)

    def _authorised(self, request: web.Request) -> bool:
        return request.headers.get("x-api-key") == API_KEY

    async def _create(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.json_response({"message": "Invalid access token"}, status=401)
        body = await request.json()
        self.creates.append(body)
        if self.create_answers:
            answer = self.create_answers.pop(0)
            if answer.creates:
                self._new_replica(body)
            await asyncio.sleep(answer.delay)
            return self._reply(answer.status, answer.body)
        replica_id = self._new_replica(body)
        return web.json_response({"replica_id": replica_id, "status": "started"})

    async def _get(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.json_response({"message": "Invalid access token"}, status=401)
        self.gets.append(request.match_info["replica_id"])
        if self.fail_reads > 0:
            self.fail_reads -= 1
            return web.json_response({"error": "unavailable"}, status=503)
        replica = self.replicas.get(request.match_info["replica_id"])
        if replica is None:
            return web.json_response({"error": "Invalid replica_id"}, status=400)
        return web.json_response(replica)

    async def _delete(self, request: web.Request) -> web.Response:
        """As Tavus documents it: 200 with no body schema (here: none), 400 for an unknown id."""
        if not self._authorised(request):
            return web.json_response({"message": "Invalid access token"}, status=401)
        replica_id = request.match_info["replica_id"]
        if self.fail_deletes > 0:
            self.fail_deletes -= 1
            return web.json_response({"error": "unavailable"}, status=503)
        self.deletes.append((replica_id, request.query.get("hard") == "true"))
        if self.replicas.pop(replica_id, None) is None:
            return web.json_response({"error": "Invalid replica_id"}, status=400)
        return web.Response(status=200)

    async def _list(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.json_response({"message": "Invalid access token"}, status=401)
        self.list_requests += 1
        limit = int(request.query.get("limit", 10))
        page = int(request.query.get("page", 1))
        items = list(self.replicas.values())[(page - 1) * limit : page * limit]
        return web.json_response({"data": items, "total_count": len(self.replicas)})

    async def _voices(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.json_response({"message": "Invalid access token"}, status=401)
        self.voice_requests += 1
        limit = int(request.query.get("limit", 10))
        page = int(request.query.get("page", 1))
        items = self.voices[(page - 1) * limit : page * limit]
        return web.json_response(
            {"data": items, "total_count": len(self.voices), "page": page, "limit": limit}
        )
