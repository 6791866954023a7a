"""`GET /media/{token}/{name}`: relayed Slack files, for Tavus to download.

Anyone with the URL may fetch the file (Tavus sends no credentials), so the 256-bit token is
the only secret. Unknown tokens and wrong names are 404s; the file on disk is chosen by the
validated token alone, so no path can reach anything else. HEAD and Range come with
aiohttp's FileResponse.
"""

from __future__ import annotations

from aiohttp import web

from handlers.surface import Surface
from media_relay import MEDIA_PATH

__all__ = ["MEDIA_PATH", "register"]


def register(surface: Surface) -> None:
    relay = surface.relay

    async def serve_media(request: web.Request) -> web.StreamResponse:
        found = await relay.find(request.match_info["token"], request.match_info["name"])
        if found is None:
            raise web.HTTPNotFound()
        path, content_type, _ = found
        return web.FileResponse(
            path,
            headers={
                "Content-Type": content_type,
                # A secret URL: no shared cache should keep the file.
                "Cache-Control": "private, no-store",
                "X-Content-Type-Options": "nosniff",
            },
        )

    surface.web_app.router.add_get(MEDIA_PATH + "{token}/{name}", serve_media)
