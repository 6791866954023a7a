"""`GET /healthz` (liveness) and `GET /readyz` (readiness) for load balancers and operators."""

from __future__ import annotations

import sqlite3
from typing import Any, Protocol

import sqlite_utils
from aiohttp import web

from storage.database import Storage


class ReadinessReport(Protocol):
    """What readiness found (server/readiness.py builds it; this route only serves it)."""

    @property
    def ready(self) -> bool: ...

    @property
    def body(self) -> dict[str, Any]: ...


class Readiness(Protocol):
    async def report(self) -> ReadinessReport: ...


def _ping(db: sqlite_utils.Database) -> None:
    db.execute("SELECT 1").fetchone()


def register(web_app: web.Application, storage: Storage, readiness: Readiness) -> None:
    async def healthz(request: web.Request) -> web.Response:
        try:
            await storage.run(_ping)
        except sqlite3.Error as error:
            return web.json_response({"status": "error", "database": str(error)}, status=503)
        return web.json_response({"status": "ok", "database": "ok"})

    async def readyz(request: web.Request) -> web.Response:
        report = await readiness.report()
        return web.json_response(report.body, status=200 if report.ready else 503)

    web_app.router.add_get("/healthz", healthz)
    web_app.router.add_get("/readyz", readyz)
