"""A fake Tavus API on 127.0.0.1: records replica creates, renames and deletes, and serves
voices and replica status (including Phoenix-4.5's finetune_status and thumbnail videos)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from aiohttp import web

API_KEY = "tavus-test-key"
DONE_STATUSES = ("completed", "ready")


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
    fail_reads: int = 0  # answer this many GETs (of a replica, or the list) with 503
    garble_list: bool = False  # answer the list with JSON that has no data array
    deletes: list[tuple[str, bool]] = field(default_factory=list)  # (replica id, hard)
    fail_deletes: int = 0  # answer this many DELETEs with 503
    renames: list[tuple[str, str]] = field(default_factory=list)  # (replica id, name sent)
    fail_renames: int = 0  # answer this many PATCH …/name with 503
    # Answer GET and the list with face_id/face_name, as Tavus's newest docs name the fields.
    faces_field_names: bool = False
    url: str = ""
    _runner: web.AppRunner | None = None

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/v2/replicas", self._create)
        app.router.add_get("/v2/replicas", self._list)
        app.router.add_get("/v2/replicas/{replica_id}", self._get)
        app.router.add_delete("/v2/replicas/{replica_id}", self._delete)
        app.router.add_patch("/v2/replicas/{replica_id}/name", self._rename)
        app.router.add_get("/thumbnails/{replica_id}.mp4", self._thumbnail)
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
            training_progress="100/100" if status in DONE_STATUSES else "42/100",
        )

    def set_progress(self, replica_id: str, progress: str) -> None:
        """Training under way: status "training" (an undocumented in-progress value Tavus has
        been seen to send) with this `training_progress`, e.g. "42/100"."""
        self.replicas[replica_id].update(status="training", training_progress=progress)

    def set_finetune(self, replica_id: str, finetune_status: str | None) -> None:
        """Phoenix-4.5: status "completed" with this finetune_status. None or "training": the
        watermarked preview is usable, tuning goes on; "completed": the tuned face is ready;
        "errored": tuning failed, the preview stays usable."""
        self.replicas[replica_id].update(
            status="completed",
            error_message=None,
            training_progress="100/100",
            finetune_status=finetune_status,
        )

    def add_replica(
        self, replica_id: str, name: str, created_at: datetime, *, model_name: str | None = None
    ) -> None:
        """A replica the bot did not create (another tool, or an older one of the same name)."""
        self.replicas[replica_id] = {
            "replica_id": replica_id,
            "replica_name": name,
            "status": "completed",
            "training_progress": "100/100",
            "model_name": model_name,
            "finetune_status": None,
            "created_at": created_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }

    def thumbnail_url(self, replica_id: str) -> str:
        return f"{self.url}/thumbnails/{quote(replica_id, safe='')}.mp4"

    def _new_replica(self, body: dict[str, Any]) -> str:
        replica_id = f"r{len(self.creates):04d}"
        self.replicas[replica_id] = {
            "replica_id": replica_id,
            "replica_name": body.get("replica_name"),
            "status": "started",
            "training_progress": "0/100",
            "model_name": body.get("model_name"),
            "finetune_status": None,
            "created_at": datetime.now(UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
        }
        return replica_id

    def _view(self, replica_id: str, replica: dict[str, Any]) -> dict[str, Any]:
        """A replica as GET and the list show it: with a thumbnail once done (unless a test
        stored its own), and face_* field names if asked for."""
        shown = dict(replica)
        shown.setdefault("replica_id", replica_id)
        shown.setdefault("finetune_status", None)
        if "thumbnail_video_url" not in shown:
            done = shown.get("status") in DONE_STATUSES
            shown["thumbnail_video_url"] = self.thumbnail_url(replica_id) if done else None
        if self.faces_field_names:
            shown["face_id"] = shown.pop("replica_id")
            if "replica_name" in shown:
                shown["face_name"] = shown.pop("replica_name")
        return shown

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
        replica_id = request.match_info["replica_id"]
        replica = self.replicas.get(replica_id)
        if replica is None:
            return web.json_response({"error": "Invalid replica_id"}, status=400)
        return web.json_response(self._view(replica_id, replica))

    async def _rename(self, request: web.Request) -> web.Response:
        """PATCH /v2/replicas/{id}/name with {"replica_name": …}: 200 with no body (Tavus
        documents no body schema), 400 for an unknown id or a missing or blank name."""
        if not self._authorised(request):
            return web.json_response({"message": "Invalid access token"}, status=401)
        replica_id = request.match_info["replica_id"]
        if self.fail_renames > 0:
            self.fail_renames -= 1
            return web.json_response({"error": "unavailable"}, status=503)
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return web.json_response({"error": "Invalid request body"}, status=400)
        name = body.get("replica_name")
        self.renames.append((replica_id, name if isinstance(name, str) else ""))
        replica = self.replicas.get(replica_id)
        if replica is None:
            return web.json_response({"error": "Invalid replica_id"}, status=400)
        if not isinstance(name, str) or not name.strip():
            return web.json_response({"error": "replica_name is required"}, status=400)
        replica["replica_name"] = name
        if "face_name" in replica:
            replica["face_name"] = name
        return web.Response(status=200)

    async def _thumbnail(self, request: web.Request) -> web.Response:
        """The thumbnail video of a finished replica (a few bytes standing in for an mp4)."""
        replica = self.replicas.get(request.match_info["replica_id"])
        if replica is None or replica.get("status") not in DONE_STATUSES:
            return web.Response(status=404)
        return web.Response(body=b"\x00\x00\x00\x18ftypmp42", content_type="video/mp4")

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
        if self.garble_list:
            return web.json_response({"no": "data"})
        if self.fail_reads > 0:
            self.fail_reads -= 1
            return web.json_response({"error": "unavailable"}, status=503)
        limit = int(request.query.get("limit", 10))
        page = int(request.query.get("page", 1))
        chunk = list(self.replicas.items())[(page - 1) * limit : page * limit]
        items = [self._view(replica_id, replica) for replica_id, replica in chunk]
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
