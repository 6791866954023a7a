"""MediaRelay against the fake Slack over real HTTP, with a real SQLite file and media folder."""

from __future__ import annotations

import errno
import hashlib
import os
import secrets
import stat
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from slack_sdk.web.async_client import AsyncWebClient

import media_relay.spool
from domain.request import Mode, ReplicaRequest, SlackOrigin
from domain.states import State
from domain.training import TrainingResult
from media_relay.download import MAX_REDIRECTS
from media_relay.files import TOKEN_PATTERN, safe_file_name
from media_relay.relay import MediaRelay, RelayError
from slack_access.clients import SlackClients
from storage import media as media_store
from storage import replicas as store
from storage.database import Storage
from tests.fakes.fake_slack import FakeSlack

PUBLIC_URL = "https://replica-bot.example.test"
MB = 1000 * 1000


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_relay(
    media_dir: Path, storage: Storage, slack_client: AsyncWebClient, **overrides: Any
) -> MediaRelay:
    values: dict[str, Any] = {
        "media_dir": media_dir,
        "storage": storage,
        "slack": SlackClients(slack_client),
        "public_url": PUBLIC_URL,
        **overrides,
    }
    return MediaRelay(**values)


@pytest.fixture
async def relay(
    media_dir: Path, storage: Storage, slack_client: AsyncWebClient
) -> AsyncIterator[MediaRelay]:
    relay = make_relay(media_dir, storage, slack_client)
    yield relay
    await relay.aclose()


async def refused_video(
    relay: MediaRelay, fake_slack: FakeSlack, storage: Storage, content: bytes = b"video"
) -> RelayError:
    """Relay a small video shared in Slack through `relay` (closed after), which must refuse
    it: its refusal."""
    file = fake_slack.add_file("jane.mp4", "video/mp4", content)
    try:
        with pytest.raises(RelayError) as raised:
            await relay.relay(file["id"], await new_request(storage))
    finally:
        await relay.aclose()
    return raised.value


async def new_request(storage: Storage, view_id: str = "V1") -> int:
    request = ReplicaRequest(
        replica_name="Jane Doe", mode=Mode.VIDEO, slack_file_id="F1", slack_file_name="jane.mp4"
    )
    request_id = await storage.run(
        store.insert_request,
        view_id=view_id,
        request=request,
        origin=SlackOrigin(requester_id="U1", channel_id="C1", team_id="T1"),
        callback_token_hash=f"hash-{view_id}",
    )
    assert request_id is not None
    return request_id


async def finish(storage: Storage, request_id: int) -> None:
    assert await storage.run(store.mark_training, request_id, "r123", "started")
    assert await storage.run(
        store.finish_training,
        request_id,
        TrainingResult(status="ready"),
    )


class OtherFileToken(SlackClients):
    """Hands the downloads a token Slack's file server does not accept; the API calls still
    carry the client's own."""

    def token_for(self, team_id: str | None, enterprise_id: str | None) -> str:
        return "xoxb-not-for-files"


class RecordingClients(SlackClients):
    """The configured client and token, noting which workspace each was asked for."""

    def __init__(self, client: AsyncWebClient) -> None:
        super().__init__(client)
        self.asked: list[tuple[str, str | None, str | None]] = []

    def for_workspace(self, team_id: str | None, enterprise_id: str | None) -> AsyncWebClient:
        self.asked.append(("client", team_id, enterprise_id))
        return super().for_workspace(team_id, enterprise_id)

    def token_for(self, team_id: str | None, enterprise_id: str | None) -> str:
        self.asked.append(("token", team_id, enterprise_id))
        return super().token_for(team_id, enterprise_id)


@dataclass
class Stranger:
    """A server that is not Slack (another service, the bot's own port): it records what
    reaches it and would hand over a video, so a test sees any request the bot makes."""

    url: str = ""
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # path, Authorization

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((request.path, request.headers.get("Authorization")))
        return web.Response(body=b"not from Slack", content_type="video/mp4")


@pytest.fixture
async def stranger() -> AsyncIterator[Stranger]:
    found = Stranger()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", found.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    found.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield found
    await runner.cleanup()


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The usual umask, under which files are created readable by everyone (0644)."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def leftovers(media_dir: Path) -> list[str]:
    """Everything in the media folder, partial downloads included."""
    if not media_dir.exists():
        return []
    return sorted(
        str(path.relative_to(media_dir)) for path in media_dir.rglob("*") if path.is_file()
    )


# -- relaying ----------------------------------------------------------------------------------


async def test_relays_a_video_byte_for_byte(
    relay: MediaRelay, fake_slack: FakeSlack, storage: Storage, media_dir: Path
) -> None:
    data = secrets.token_bytes(3 * 1024 * 1024 + 17)  # several write buffers and a remainder
    file = fake_slack.add_file("Jane's take 2.MP4", "video/mp4", data)
    request_id = await new_request(storage)

    relayed = await relay.relay(file["id"], request_id)

    assert TOKEN_PATTERN.fullmatch(relayed.token)
    assert relayed.file_name == "Jane_s_take_2.mp4"
    assert relayed.content_type == "video/mp4"
    assert relayed.size == len(data)
    assert relayed.url == f"{PUBLIC_URL}/media/{relayed.token}/Jane_s_take_2.mp4"
    assert sha256((media_dir / relayed.token).read_bytes()) == sha256(data)
    assert leftovers(media_dir) == [relayed.token]
    row = await storage.run(media_store.get_media_file, relayed.token)
    assert row is not None
    assert (row.request_id, row.slack_file_id, row.file_name, row.content_type, row.size) == (
        request_id,
        file["id"],
        "Jane_s_take_2.mp4",
        "video/mp4",
        len(data),
    )
    assert datetime.fromisoformat(row.created_at) > datetime.now(UTC) - timedelta(minutes=1)
    [download] = fake_slack.download_requests
    assert download.authorized


async def test_the_sha256_of_the_bytes_relayed_comes_back_with_the_copy(
    relay: MediaRelay, fake_slack: FakeSlack, storage: Storage, media_dir: Path
) -> None:
    # Beyond one write buffer (4 MiB), so the hash spans several writes, in order.
    data = secrets.token_bytes(9 * 1024 * 1024 + 5)
    file = fake_slack.add_file("jane.mp4", "video/mp4", data)

    relayed = await relay.relay(file["id"], await new_request(storage))

    assert relayed.sha256 == sha256(data) == sha256((media_dir / relayed.token).read_bytes())


async def test_the_workspace_s_client_and_token_fetch_the_file(
    media_dir: Path, storage: Storage, slack_client: AsyncWebClient, fake_slack: FakeSlack
) -> None:
    clients = RecordingClients(slack_client)
    relay = make_relay(media_dir, storage, slack_client, slack=clients)
    file = fake_slack.add_file("jane.mp4", "video/mp4", b"video")
    try:
        await relay.relay(file["id"], await new_request(storage), team_id="T1", enterprise_id="E1")
    finally:
        await relay.aclose()

    # files.info with the workspace's client, the download with the workspace's token.
    assert clients.asked == [("client", "T1", "E1"), ("token", "T1", "E1")]
    [download] = fake_slack.download_requests
    assert download.authorized


async def test_each_relay_gets_its_own_token(
    relay: MediaRelay, fake_slack: FakeSlack, storage: Storage
) -> None:
    file = fake_slack.add_file("jane.png", "image/png", b"\x89PNG" + secrets.token_bytes(100))
    request_id = await new_request(storage)

    first = await relay.relay(file["id"], request_id)
    second = await relay.relay(file["id"], request_id)

    assert first.token != second.token
    assert first.content_type == "image/png"


async def test_slack_connect_stub_is_resolved_through_files_info(
    relay: MediaRelay, fake_slack: FakeSlack, storage: Storage, media_dir: Path
) -> None:
    data = secrets.token_bytes(5000)
    stub = fake_slack.add_file("jane.jpg", "image/jpeg", data, connect_stub=True)
    assert stub == {"id": stub["id"], "mode": "file_access", "file_access": "check_file_info"}

    relayed = await relay.relay(stub["id"], await new_request(storage))

    assert [call.params["file"] for call in fake_slack.calls_to("files.info")] == [stub["id"]]
    assert relayed.content_type == "image/jpeg"
    assert relayed.file_name == "jane.jpg"
    assert (media_dir / relayed.token).read_bytes() == data


async def test_redirect_to_a_presigned_url_is_followed(
    relay: MediaRelay, fake_slack: FakeSlack, storage: Storage, media_dir: Path
) -> None:
    fake_slack.redirect_downloads = 1
    data = secrets.token_bytes(200_000)
    file = fake_slack.add_file("jane.webm", "video/webm", data)

    relayed = await relay.relay(file["id"], await new_request(storage))

    assert sha256((media_dir / relayed.token).read_bytes()) == sha256(data)
    first, second = fake_slack.download_requests
    assert "/files-pri/" in first.path
    assert "/presigned/" in second.path
    assert first.authorized and second.authorized  # both hops are Slack's: the token goes


async def test_a_chain_of_redirects_within_the_limit_is_followed(
    relay: MediaRelay, fake_slack: FakeSlack, storage: Storage, media_dir: Path
) -> None:
    fake_slack.redirect_downloads = MAX_REDIRECTS
    file = fake_slack.add_file("jane.mp4", "video/mp4", b"video")

    relayed = await relay.relay(file["id"], await new_request(storage))

    assert (media_dir / relayed.token).read_bytes() == b"video"
    assert len(fake_slack.download_requests) == MAX_REDIRECTS + 1


async def test_a_redirect_loop_is_refused(
    relay: MediaRelay, fake_slack: FakeSlack, storage: Storage, media_dir: Path
) -> None:
    file = fake_slack.add_file("jane.mp4", "video/mp4", b"video")
    fake_slack.download_redirect_to = file["url_private_download"]  # back to itself

    with pytest.raises(RelayError) as raised:
        await relay.relay(file["id"], await new_request(storage))

    assert raised.value.user_message == (
        "Slack kept redirecting the bot's download of jane.mp4, so the bot gave up: try again "
        "in a few minutes, or share the file again."
    )
    assert f"after {MAX_REDIRECTS} redirects" in str(raised.value)
    assert len(fake_slack.download_requests) == MAX_REDIRECTS + 1
    assert leftovers(media_dir) == []
    assert await storage.run(media_store.media_tokens) == set()


LEAVES_SLACK = (
    "Slack's download link for jane.mp4 leads outside Slack, so the bot will not fetch it: "
    "share the file again, or paste a link to it instead."
)


async def test_a_redirect_to_another_host_name_is_refused(
    relay: MediaRelay, fake_slack: FakeSlack, storage: Storage, media_dir: Path
) -> None:
    # The same server under another name is another origin, and not a Slack host.
    fake_slack.redirect_downloads = 1
    fake_slack.presigned_origin = fake_slack.url.replace("127.0.0.1", "localhost")
    file = fake_slack.add_file("jane.mp4", "video/mp4", secrets.token_bytes(10_000))

    with pytest.raises(RelayError) as raised:
        await relay.relay(file["id"], await new_request(storage))

    assert raised.value.user_message == LEAVES_SLACK
    assert f"redirect 1 of the download leads to {fake_slack.presigned_origin}" in str(raised.value)
    [download] = fake_slack.download_requests  # the redirect was not followed
    assert download.authorized and "/files-pri/" in download.path
    assert leftovers(media_dir) == []
    assert await storage.run(media_store.media_tokens) == set()


async def test_a_download_link_outside_slack_is_not_fetched(
    relay: MediaRelay,
    fake_slack: FakeSlack,
    stranger: Stranger,
    storage: Storage,
    media_dir: Path,
) -> None:
    file = fake_slack.add_file("jane.mp4", "video/mp4", b"video")
    fake_slack.files[file["id"]].info["url_private_download"] = f"{stranger.url}/jane.mp4"

    with pytest.raises(RelayError) as raised:
        await relay.relay(file["id"], await new_request(storage))

    assert raised.value.user_message == LEAVES_SLACK
    assert f"download link leads to {stranger.url}, which is not a Slack" in str(raised.value)
    assert "/jane.mp4" not in str(raised.value)  # paths may hold presigned secrets
    assert stranger.requests == []
    assert fake_slack.download_requests == []
    assert leftovers(media_dir) == []


async def test_a_redirect_outside_slack_is_not_followed(
    relay: MediaRelay,
    fake_slack: FakeSlack,
    stranger: Stranger,
    storage: Storage,
    media_dir: Path,
) -> None:
    fake_slack.download_redirect_to = f"{stranger.url}/healthz"
    file = fake_slack.add_file("jane.mp4", "video/mp4", b"video")

    with pytest.raises(RelayError) as raised:
        await relay.relay(file["id"], await new_request(storage))

    assert raised.value.user_message == LEAVES_SLACK
    assert stranger.requests == []  # neither the token nor anything else went there
    [download] = fake_slack.download_requests
    assert download.authorized
    assert leftovers(media_dir) == []
    assert await storage.run(media_store.media_tokens) == set()


async def test_only_slack_api_url_s_origin_is_trusted_besides_slack(
    media_dir: Path, storage: Storage, slack_client: AsyncWebClient, fake_slack: FakeSlack
) -> None:
    # With SLACK_API_URL at slack.com, the fake's links (127.0.0.1) are nobody's to trust.
    relay = make_relay(media_dir, storage, slack_client, slack_api_url="https://slack.com/api/")
    refusal = await refused_video(relay, fake_slack, storage)

    assert refusal.user_message == LEAVES_SLACK
    assert fake_slack.download_requests == []


async def test_an_external_file_is_refused_before_downloading(
    relay: MediaRelay, fake_slack: FakeSlack, storage: Storage, media_dir: Path
) -> None:
    file = fake_slack.add_file("jane.mp4", "video/mp4", b"video", external=True)

    with pytest.raises(RelayError) as raised:
        await relay.relay(file["id"], await new_request(storage))

    assert raised.value.user_message.startswith("jane.mp4 is kept outside Slack")
    assert "upload the file itself to Slack" in raised.value.user_message
    assert fake_slack.download_requests == []
    assert leftovers(media_dir) == []


async def test_relayed_copies_are_readable_by_the_bot_s_user_only(
    umask_022: None, relay: MediaRelay, fake_slack: FakeSlack, storage: Storage, media_dir: Path
) -> None:
    file = fake_slack.add_file("jane.mp4", "video/mp4", b"video")

    relayed = await relay.relay(file["id"], await new_request(storage))

    assert mode(media_dir / relayed.token) == 0o600
    assert mode(media_dir) == 0o700
    assert mode(media_dir / ".partial") == 0o700


async def test_an_existing_media_dir_keeps_its_mode_and_the_copy_is_still_private(
    umask_022: None, relay: MediaRelay, fake_slack: FakeSlack, storage: Storage, media_dir: Path
) -> None:
    os.mkdir(media_dir, 0o750)  # the operator's choice
    file = fake_slack.add_file("jane.mp4", "video/mp4", b"video")

    relayed = await relay.relay(file["id"], await new_request(storage))

    assert mode(media_dir) == 0o750
    assert mode(media_dir / relayed.token) == 0o600


async def test_slack_login_page_is_an_error_and_leaves_nothing(
    media_dir: Path, storage: Storage, slack_client: AsyncWebClient, fake_slack: FakeSlack
) -> None:
    # A token Slack's file server does not accept: it answers 200 with its login page.
    relay = make_relay(media_dir, storage, slack_client, slack=OtherFileToken(slack_client))
    refusal = await refused_video(relay, fake_slack, storage, b"video bytes")

    assert "login page" in refusal.user_message
    assert "files:read" in refusal.user_message
    assert "text/html" in str(refusal)
    assert leftovers(media_dir) == []
    assert await storage.run(media_store.media_tokens) == set()


async def test_connection_dropped_midway_is_an_error_and_leaves_nothing(
    relay: MediaRelay, fake_slack: FakeSlack, storage: Storage, media_dir: Path
) -> None:
    fake_slack.cut_download_after = 1_500_000
    file = fake_slack.add_file("jane.mp4", "video/mp4", secrets.token_bytes(6 * 1024 * 1024))

    with pytest.raises(RelayError) as raised:
        await relay.relay(file["id"], await new_request(storage))

    assert "broke off" in raised.value.user_message
    assert leftovers(media_dir) == []
    assert await storage.run(media_store.media_tokens) == set()


async def test_an_http_error_from_slack_is_an_error(
    relay: MediaRelay, fake_slack: FakeSlack, storage: Storage, media_dir: Path
) -> None:
    file = fake_slack.add_file("jane.mp4", "video/mp4", b"video")
    info = fake_slack.files[file["id"]].info
    info["url_private_download"] = info["url_private_download"].replace(file["id"], "FGONE")

    with pytest.raises(RelayError) as raised:
        await relay.relay(file["id"], await new_request(storage))

    assert raised.value.user_message == (
        "Slack would not hand over jane.mp4: try again, or share the file again."
    )
    assert "HTTP 404" in str(raised.value)  # for the log; the requester never sees codes
    assert leftovers(media_dir) == []


async def test_unreachable_file_server_is_an_error(
    media_dir: Path, storage: Storage, slack_client: AsyncWebClient, fake_slack: FakeSlack
) -> None:
    # SLACK_API_URL's origin may serve files; here nothing listens there.
    relay = make_relay(media_dir, storage, slack_client, slack_api_url="http://127.0.0.1:1/api/")
    file = fake_slack.add_file("jane.mp4", "video/mp4", b"video")
    fake_slack.files[file["id"]].info["url_private_download"] = "http://127.0.0.1:1/jane.mp4"
    try:
        with pytest.raises(RelayError) as raised:
            await relay.relay(file["id"], await new_request(storage))
    finally:
        await relay.aclose()

    assert "could not reach Slack" in raised.value.user_message
    assert leftovers(media_dir) == []


async def test_full_disk_is_an_error_and_the_partial_file_goes(
    relay: MediaRelay,
    fake_slack: FakeSlack,
    storage: Storage,
    media_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_write = media_relay.spool._write_chunks
    writes: list[int] = []

    def write_until_full(file: Any, chunks: list[bytes]) -> None:
        if writes:
            raise OSError(errno.ENOSPC, "No space left on device")
        writes.append(1)
        real_write(file, chunks)

    monkeypatch.setattr(media_relay.spool, "_write_chunks", write_until_full)
    file = fake_slack.add_file("jane.mp4", "video/mp4", secrets.token_bytes(20 * 1024 * 1024))

    with pytest.raises(RelayError) as raised:
        await relay.relay(file["id"], await new_request(storage))

    assert writes  # the first buffer reached the disk before it filled up
    assert raised.value.user_message.startswith("The bot's disk is full")
    assert "No space left" in str(raised.value)
    assert leftovers(media_dir) == []
    assert await storage.run(media_store.media_tokens) == set()


async def test_oversized_video_is_refused_before_downloading(
    relay: MediaRelay, fake_slack: FakeSlack, storage: Storage, media_dir: Path
) -> None:
    file = fake_slack.add_file("long.mp4", "video/mp4", b"small really", size=800 * MB)

    with pytest.raises(RelayError) as raised:
        await relay.relay(file["id"], await new_request(storage))

    assert raised.value.user_message == (
        "long.mp4 is 800.0 MB. Tavus trains from .mp4, .webm or .mov videos up to 750 MB."
    )
    assert fake_slack.download_requests == []
    assert leftovers(media_dir) == []


async def test_no_size_limit_when_disabled(
    media_dir: Path, storage: Storage, slack_client: AsyncWebClient, fake_slack: FakeSlack
) -> None:
    relay = make_relay(media_dir, storage, slack_client, max_video_bytes=None)
    file = fake_slack.add_file("long.mp4", "video/mp4", b"small really", size=800 * MB)
    try:
        relayed = await relay.relay(file["id"], await new_request(storage))
    finally:
        await relay.aclose()

    assert relayed.size == len(b"small really")


async def test_size_limit_holds_while_streaming(
    media_dir: Path, storage: Storage, slack_client: AsyncWebClient, fake_slack: FakeSlack
) -> None:
    # Slack's files.info under-reports; the download's own length gives it away.
    relay = make_relay(media_dir, storage, slack_client, max_video_bytes=100_000)
    file = fake_slack.add_file("jane.mp4", "video/mp4", secrets.token_bytes(300_000), size=10)
    try:
        with pytest.raises(RelayError) as raised:
            await relay.relay(file["id"], await new_request(storage))
    finally:
        await relay.aclose()

    assert "jane.mp4 is 300.0 KB" in raised.value.user_message
    assert leftovers(media_dir) == []


@pytest.mark.parametrize(
    ("name", "mimetype", "requirement"),
    [
        ("wave.gif", "image/gif", "Tavus trains from JPG or PNG photos"),
        ("jane.avi", "video/x-msvideo", "Tavus trains from .mp4, .webm or .mov videos"),
        ("notes.pdf", "application/pdf", "neither a video nor a photo"),
    ],
)
async def test_types_tavus_refuses_are_not_downloaded(
    relay: MediaRelay,
    fake_slack: FakeSlack,
    storage: Storage,
    name: str,
    mimetype: str,
    requirement: str,
) -> None:
    file = fake_slack.add_file(name, mimetype, b"data")

    with pytest.raises(RelayError) as raised:
        await relay.relay(file["id"], await new_request(storage))

    assert raised.value.user_message.startswith(name)
    assert requirement in raised.value.user_message
    assert fake_slack.download_requests == []


async def test_missing_files_read_scope_is_explained(
    relay: MediaRelay, fake_slack: FakeSlack, storage: Storage
) -> None:
    file = fake_slack.add_file("jane.mp4", "video/mp4", b"data")
    fake_slack.fail_next["files.info"] = ["missing_scope"]

    with pytest.raises(RelayError) as raised:
        await relay.relay(file["id"], await new_request(storage))

    assert "files:read" in raised.value.user_message
    assert "missing_scope" in str(raised.value)
    assert fake_slack.download_requests == []


async def test_a_deleted_file_is_explained(relay: MediaRelay, storage: Storage) -> None:
    with pytest.raises(RelayError) as raised:
        await relay.relay("FGONE", await new_request(storage))

    assert "no longer in Slack" in raised.value.user_message
    assert "file_not_found" in str(raised.value)


async def test_without_public_url_nothing_is_fetched(
    media_dir: Path, storage: Storage, slack_client: AsyncWebClient, fake_slack: FakeSlack
) -> None:
    relay = make_relay(media_dir, storage, slack_client, public_url=None)
    refusal = await refused_video(relay, fake_slack, storage, b"data")

    assert "public address" in refusal.user_message
    assert "PUBLIC_URL" not in refusal.user_message  # words for users, not settings
    assert fake_slack.calls == []


@pytest.mark.parametrize(
    ("name", "content_type", "safe"),
    [
        ("jane.mp4", "video/mp4", "jane.mp4"),
        ("Jane Doe (final).MOV", "video/quicktime", "Jane_Doe_final_.mov"),
        ("clip", "video/webm", "clip.webm"),
        ("photo.jpeg", "image/jpeg", "photo.jpeg"),
        ("photo.png", "image/jpeg", "photo.png.jpg"),
        ("Видео.mp4", "video/mp4", "_.mp4"),
        ("../../etc/passwd", "video/mp4", "_.._etc_passwd.mp4"),
        ("..", "image/png", "file.png"),
        (".mp4", "video/mp4", "file.mp4"),
        ("", "video/mp4", "file.mp4"),
        ("a" * 300 + ".mp4", "video/mp4", "a" * 96 + ".mp4"),
    ],
)
def test_safe_file_names(name: str, content_type: str, safe: str) -> None:
    assert safe_file_name(name, content_type) == safe


# -- finding -----------------------------------------------------------------------------------


async def test_find_needs_the_token_and_the_exact_name(
    relay: MediaRelay, fake_slack: FakeSlack, storage: Storage, media_dir: Path
) -> None:
    file = fake_slack.add_file("jane.mp4", "video/mp4", b"video")
    relayed = await relay.relay(file["id"], await new_request(storage))

    assert await relay.find(relayed.token, "jane.mp4") == (
        media_dir / relayed.token,
        "video/mp4",
        5,
    )
    assert await relay.find(relayed.token, "other.mp4") is None
    assert await relay.find(secrets.token_urlsafe(32), "jane.mp4") is None
    assert await relay.find("../bot.db", "jane.mp4") is None
    (media_dir / relayed.token).unlink()
    assert await relay.find(relayed.token, "jane.mp4") is None


# -- sweeping ----------------------------------------------------------------------------------


async def test_files_of_open_requests_outlive_retention(
    relay: MediaRelay, fake_slack: FakeSlack, storage: Storage, media_dir: Path
) -> None:
    file = fake_slack.add_file("jane.mp4", "video/mp4", b"video")
    request_id = await new_request(storage)
    relayed = await relay.relay(file["id"], request_id)
    await storage.run(store.mark_training, request_id, "r123", "started")

    assert await relay.sweep(datetime.now(UTC) + timedelta(hours=72)) == 0

    assert (media_dir / relayed.token).exists()
    assert await relay.find(relayed.token, "jane.mp4") is not None


async def test_files_of_finished_requests_stay_48_hours(
    relay: MediaRelay, fake_slack: FakeSlack, storage: Storage, media_dir: Path
) -> None:
    file = fake_slack.add_file("jane.mp4", "video/mp4", b"video")
    request_id = await new_request(storage)
    relayed = await relay.relay(file["id"], request_id)
    await finish(storage, request_id)

    assert await relay.sweep(datetime.now(UTC) + timedelta(hours=47)) == 0
    assert (media_dir / relayed.token).exists()

    assert await relay.sweep(datetime.now(UTC) + timedelta(hours=49)) == 1
    assert not (media_dir / relayed.token).exists()
    assert await storage.run(media_store.get_media_file, relayed.token) is None
    assert await relay.find(relayed.token, "jane.mp4") is None
    assert leftovers(media_dir) == []


async def test_files_of_refused_or_missing_requests_go_after_retention(
    relay: MediaRelay, fake_slack: FakeSlack, storage: Storage, media_dir: Path
) -> None:
    file = fake_slack.add_file("jane.mp4", "video/mp4", b"video")
    refused = await new_request(storage, "V1")
    await storage.run(store.mark_create_failed, refused, State.NOT_CREATED, "bad name")
    first = await relay.relay(file["id"], refused)
    second = await relay.relay(file["id"], 9999)  # no such request

    assert await relay.sweep(datetime.now(UTC) + timedelta(hours=49)) == 2

    assert leftovers(media_dir) == []
    assert not {first.token, second.token} & await storage.run(media_store.media_tokens)


async def test_sweep_removes_a_crash_leftovers_and_nothing_else(
    relay: MediaRelay, fake_slack: FakeSlack, storage: Storage, media_dir: Path
) -> None:
    file = fake_slack.add_file("jane.mp4", "video/mp4", b"video")
    relayed = await relay.relay(file["id"], await new_request(storage))
    two_hours_ago = time.time() - 7200
    stale_part = media_dir / ".partial" / f"{secrets.token_urlsafe(32)}.part"
    fresh_part = media_dir / ".partial" / f"{secrets.token_urlsafe(32)}.part"
    orphan = media_dir / secrets.token_urlsafe(32)  # moved into place, row never written
    fresh_orphan = media_dir / secrets.token_urlsafe(32)  # may be a relay about to finish
    unrelated = media_dir / "README.txt"
    for path in (stale_part, fresh_part, orphan, fresh_orphan, unrelated):
        path.write_bytes(b"x")
    for path in (stale_part, orphan, unrelated):
        os.utime(path, (two_hours_ago, two_hours_ago))

    assert await relay.sweep() == 2

    assert not stale_part.exists()
    assert not orphan.exists()
    assert fresh_part.exists()
    assert fresh_orphan.exists()
    assert unrelated.exists()
    assert (media_dir / relayed.token).exists()


async def test_sweep_is_restart_safe(
    fake_slack: FakeSlack, tmp_path: Path, media_dir: Path, slack_client: AsyncWebClient
) -> None:
    storage = Storage(tmp_path / "bot.db")
    relay = make_relay(media_dir, storage, slack_client)
    file = fake_slack.add_file("jane.mp4", "video/mp4", b"video")
    request_id = await new_request(storage)
    relayed = await relay.relay(file["id"], request_id)
    await finish(storage, request_id)
    await relay.aclose()
    await storage.close()

    # A new process: a new connection and a new relay over the same folder.
    storage = Storage(tmp_path / "bot.db")
    relay = make_relay(media_dir, storage, slack_client)
    try:
        assert await relay.find(relayed.token, "jane.mp4") is not None
        assert await relay.sweep(datetime.now(UTC) + timedelta(hours=49)) == 1
        assert await relay.find(relayed.token, "jane.mp4") is None
        assert leftovers(media_dir) == []
    finally:
        await relay.aclose()
        await storage.close()


async def test_sweep_of_an_empty_setup_is_a_no_op(relay: MediaRelay, media_dir: Path) -> None:
    assert await relay.sweep() == 0
    assert leftovers(media_dir) == []
