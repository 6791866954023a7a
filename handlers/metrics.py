"""`GET /metrics`: the bot's metrics in Prometheus's text format (replicas/metrics.py), in HTTP
and Socket Mode alike. For the operator's scraper only: the reverse proxy in front of the bot
should not serve it outside (deploy/Caddyfile answers 404)."""

from __future__ import annotations

from aiohttp import web

from handlers.surface import Surface
from replicas.metrics import METRICS

PATH = "/metrics"


def register(surface: Surface) -> None:
    metrics = surface.web_app[METRICS]

    async def scrape(request: web.Request) -> web.Response:
        body, content_type = await metrics.exposition(request.headers.get("Accept"))
        return web.Response(body=body, headers={"Content-Type": content_type})

    surface.web_app.router.add_get(PATH, scrape)
