"""The floors the issue-13 benches compare the bot with, each the least a server must do for
the same request. Started by bench/_harness.py as child processes, not by hand:

- `callback`: a bare aiohttp handler for POST /tavus/callback/{token} that INSERTs the body
  into SQLite and commits (WAL, PRAGMA synchronous=FULL), once per request, then answers 202;
- `bolt`: a bare Bolt AsyncApp whose /replica listener acks and opens a static modal.

Both serve GET /healthz (200, no work) so start-up can be timed the same way as the bot's.
"""

from __future__ import annotations

import argparse
import hashlib
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

STATIC_MODAL: dict[str, Any] = {
    "type": "modal",
    "callback_id": "floor",
    "title": {"type": "plain_text", "text": "Create a replica"},
    "submit": {"type": "plain_text", "text": "Create"},
    "close": {"type": "plain_text", "text": "Cancel"},
    "blocks": [
        {
            "type": "input",
            "block_id": "replica_name",
            "label": {"type": "plain_text", "text": "Replica name"},
            "element": {"type": "plain_text_input", "action_id": "replica_name"},
        },
        {
            "type": "input",
            "block_id": "train_video_url",
            "label": {"type": "plain_text", "text": "Training video link"},
            "element": {"type": "url_text_input", "action_id": "train_video_url"},
        },
    ],
}


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def callback_app(database: Path) -> web.Application:
    db = sqlite3.connect(database, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = FULL")
    db.execute(
        """CREATE TABLE IF NOT EXISTS callbacks (id INTEGER PRIMARY KEY, token_hash TEXT,
           received_at TEXT, raw_body TEXT)"""
    )

    async def on_callback(request: web.Request) -> web.Response:
        body = await request.read()
        token_hash = hashlib.sha256(request.match_info["token"].encode()).hexdigest()
        db.execute("BEGIN")
        db.execute(
            "INSERT INTO callbacks (token_hash, received_at, raw_body) VALUES (?, ?, ?)",
            [token_hash, datetime.now(UTC).isoformat(), body.decode("utf-8", "replace")],
        )
        db.execute("COMMIT")
        return web.json_response({"result": "confirming"}, status=202)

    app = web.Application()
    app.router.add_post("/tavus/callback/{token}", on_callback)
    app.router.add_get("/healthz", healthz)
    return app


def bolt_app(token: str, signing_secret: str, slack_api_url: str) -> web.Application:
    from slack_bolt.async_app import AsyncAck, AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient

    bolt = AsyncApp(token=token, signing_secret=signing_secret)
    bolt.client.base_url = slack_api_url

    @bolt.command("/replica")
    async def on_command(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await client.views_open(trigger_id=body["trigger_id"], view=STATIC_MODAL)

    app = bolt.web_app(path="/slack/events")
    app.router.add_get("/healthz", healthz)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["callback", "bolt"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--slack-api-url", required=True)
    parser.add_argument("--signing-secret", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--database", type=Path, required=True)
    args = parser.parse_args()
    if args.kind == "callback":
        app = callback_app(args.database)
    else:
        app = bolt_app(args.token, args.signing_secret, args.slack_api_url)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
