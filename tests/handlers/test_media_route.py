"""GET /media/{token}/{name} in the running bot, serving a file its relay fetched from the fake
Slack."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from domain.request import Mode, ReplicaRequest, SlackOrigin
from media_relay.relay import RelayedFile
from storage import replicas as store
from tests.conftest import Bot
from tests.fakes.fake_slack import FakeSlack

DATA = secrets.token_bytes(1024 * 1024 + 123)


@dataclass
class Served:
    url: str
    file: RelayedFile
    media_dir: Path
    http: httpx.AsyncClient

    @property
    def path(self) -> str:
        return f"/media/{self.file.token}/{self.file.file_name}"

    async def raw_status(self, path: str) -> int:
        """The status for `path` sent exactly as written: no client normalises it first."""
        host, port = self.url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            await writer.drain()
            status_line = await reader.readline()
            await reader.read()
        finally:
            writer.close()
            await writer.wait_closed()
        return int(status_line.split()[1])


@pytest.fixture
async def served(bot: Bot, fake_slack: FakeSlack) -> AsyncIterator[Served]:
    # The route as the bot wires it (handlers/media.py's register), behind its access log.
    storage, relay = bot.services.storage, bot.services.relay
    request_id = await storage.run(
        store.insert_request,
        view_id="V1",
        request=ReplicaRequest(replica_name="Jane Doe", mode=Mode.VIDEO),
        origin=SlackOrigin(requester_id="U1", channel_id="C1"),
        callback_token_hash="hash-V1",
    )
    assert request_id is not None
    slack_file = fake_slack.add_file("Jane Doe.mp4", "video/mp4", DATA)
    relayed = await relay.relay(slack_file["id"], request_id)

    async with httpx.AsyncClient(base_url=bot.url, timeout=10) as http:
        yield Served(url=bot.url, file=relayed, media_dir=bot.settings.media_dir, http=http)


async def test_anyone_with_the_url_gets_the_file(served: Served) -> None:
    assert served.path == f"/media/{served.file.token}/Jane_Doe.mp4"

    response = await served.http.get(served.path)

    assert response.status_code == 200
    assert hashlib.sha256(response.content).digest() == hashlib.sha256(DATA).digest()
    assert response.headers["content-type"] == "video/mp4"
    assert response.headers["content-length"] == str(len(DATA))
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["cache-control"] == "private, no-store"
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_head_has_the_headers_and_no_body(served: Served) -> None:
    response = await served.http.head(served.path)

    assert response.status_code == 200
    assert response.headers["content-type"] == "video/mp4"
    assert response.headers["content-length"] == str(len(DATA))
    assert response.content == b""


async def test_range_request_gets_206(served: Served) -> None:
    response = await served.http.get(served.path, headers={"Range": "bytes=0-99"})

    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes 0-99/{len(DATA)}"
    assert response.headers["content-length"] == "100"
    assert response.content == DATA[:100]


async def test_suffix_and_open_ranges(served: Served) -> None:
    tail = await served.http.get(served.path, headers={"Range": "bytes=-100"})
    rest = await served.http.get(served.path, headers={"Range": f"bytes={len(DATA) - 10}-"})

    assert tail.status_code == 206
    assert tail.content == DATA[-100:]
    assert tail.headers["content-range"] == f"bytes {len(DATA) - 100}-{len(DATA) - 1}/{len(DATA)}"
    assert rest.status_code == 206
    assert rest.content == DATA[-10:]


async def test_unsatisfiable_range_is_416(served: Served) -> None:
    response = await served.http.get(served.path, headers={"Range": f"bytes={len(DATA)}-"})

    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{len(DATA)}"


async def test_unknown_token_is_404(served: Served) -> None:
    response = await served.http.get(f"/media/{secrets.token_urlsafe(32)}/Jane_Doe.mp4")

    assert response.status_code == 404


async def test_wrong_name_is_404(served: Served) -> None:
    for name in ("jane_doe.mp4", "Jane_Doe.mov", "Jane%20Doe.mp4", "x"):
        response = await served.http.get(f"/media/{served.file.token}/{name}")
        assert response.status_code == 404, name


async def test_deleted_file_is_404(served: Served) -> None:
    (served.media_dir / served.file.token).unlink()

    response = await served.http.get(served.path)

    assert response.status_code == 404


async def test_nothing_else_is_reachable(served: Served, tmp_path: Path) -> None:
    token = served.file.token
    (served.media_dir / "notes.txt").write_text("not for Tavus")
    stray = secrets.token_urlsafe(32)  # a token-named file without a row
    (served.media_dir / stray).write_text("not relayed")
    attempts = [
        "/media/",
        f"/media/{token}",
        f"/media/{token}/",
        f"/media/{stray}/{stray}",
        "/media/notes.txt/notes.txt",
        "/media/../bot.db",
        "/media/%2e%2e/bot.db",
        "/media/%2e%2e%2fbot.db/x",
        f"/media/{token}/..%2f..%2fbot.db",
        f"/media/{token}/%2e%2e%2f%2e%2e%2fbot.db",
        f"/media/{token}/..",
        f"/media/{token}/%2e%2e",
        f"/media/{token}%2f..%2f..%2fbot.db/Jane_Doe.mp4",
        f"/media/..%2f{token}/Jane_Doe.mp4",
        f"/media/{token}/Jane_Doe.mp4%00",
        f"/media/{token}/Jane_Doe.mp4/..",
        f"/media/.partial/{token}.part",
        "/media/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd/passwd",
    ]
    for path in attempts:
        assert await served.raw_status(path) == 404, path
    assert await served.raw_status(served.path) == 200


async def test_post_is_not_allowed(served: Served) -> None:
    response = await served.http.post(served.path, content=b"x")

    assert response.status_code == 405


async def test_access_log_hides_the_token(served: Served, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="aiohttp.access"):
        await served.http.get(served.path)

    assert '"GET /media/<token>/Jane_Doe.mp4" 200' in caplog.text
    assert served.file.token not in caplog.text
