"""`GET /healthz` (liveness) and `GET /readyz` (readiness) for load balancers and operators."""

from __future__ import annotations

import sqlite3

import sqlite_utils
from aiohttp import web

from handlers.surface import Surface


def _ping(db: sqlite_utils.Database) -> None:
    db.execute("SELECT 1").fetchone()


def register(surface: Surface) -> None:
    storage, readiness = surface.storage, surface.readiness

    async def healthz(request: web.Request) -> web.Response:
        try:
            await storage.run(_ping)
        except sqlite3.Error as error:
            return web.json_response({"status": "error", "database": str(error)}, status=503)
        return web.json_response({"status": "ok", "database": "ok"})

    async def readyz(request: web.Request) -> web.Response:
        report = await readiness.report()
        return web.json_response(report.body, status=200 if report.ready else 503)

    surface.web_app.router.add_get("/healthz", healthz)
    surface.web_app.router.add_get("/readyz", readyz)
