"""`GET /healthz`: liveness for load balancers and operators."""

from __future__ import annotations

import sqlite3

import sqlite_utils
from aiohttp import web

from storage.database import Storage


def _ping(db: sqlite_utils.Database) -> None:
    db.execute("SELECT 1").fetchone()


def register(web_app: web.Application, storage: Storage) -> None:
    async def healthz(request: web.Request) -> web.Response:
        try:
            await storage.run(_ping)
        except sqlite3.Error as error:
            return web.json_response({"status": "error", "database": str(error)}, status=503)
        return web.json_response({"status": "ok", "database": "ok"})

    web_app.router.add_get("/healthz", healthz)
