"""The relay's S3 store against a real S3 API (moto's server over HTTP), with the fake Slack,
a real SQLite file and boto3 as the bot uses it: multipart uploads, presigned links, aborts,
the sweep."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from slack_sdk.web.async_client import AsyncWebClient

from media_relay.download import STORE_FAILED
from media_relay.files import TOKEN_PATTERN
from media_relay.relay import MediaRelay, RelayError
from media_relay.s3_store import MIN_PART_BYTES, UNREACHABLE, S3Store
from slack_access.clients import SlackClients
from storage import media as media_store
from storage.database import Storage
from tests.fakes.fake_slack import FakeSlack
from tests.media_relay.conftest import Bucket
from tests.media_relay.test_relay import (
    PUBLIC_URL,
    finish,
    leftovers,
    new_request,
    refused_video,
    sha256,
)

MiB = 1024 * 1024
PART = MIN_PART_BYTES  # the smallest part S3 takes, so a few MiB make several parts


def make_store(on: Bucket, **overrides: Any) -> S3Store:
    """A store for bucket `on` (`bucket=` names another), with the smallest parts S3 takes."""
    values: dict[str, Any] = {
        "bucket": on.name,
        "endpoint_url": on.endpoint_url,
        "part_bytes": PART,
        **overrides,
    }
    return S3Store(**values)


def make_relay(
    media_dir: Path,
    storage: Storage,
    slack_client: AsyncWebClient,
    store: S3Store,
    *,
    public_url: str | None = None,
) -> MediaRelay:
    return MediaRelay(
        media_dir=media_dir,
        storage=storage,
        slack=SlackClients(slack_client),
        public_url=public_url,
        store=store,
    )


@pytest.fixture
async def store(bucket: Bucket) -> AsyncIterator[S3Store]:
    store = make_store(bucket)
    yield store
    await store.aclose()


@pytest.fixture
async def relay(
    media_dir: Path, storage: Storage, slack_client: AsyncWebClient, store: S3Store
) -> AsyncIterator[MediaRelay]:
    relay = make_relay(media_dir, storage, slack_client, store)
    yield relay
    await relay.aclose()


def expires_seconds(url: str) -> int:
    return int(parse_qs(urlsplit(url).query)["X-Amz-Expires"][0])


def parts_count(bucket: Bucket, key: str) -> int:
    head = bucket.client.head_object(Bucket=bucket.name, Key=key, PartNumber=1)
    return int(head.get("PartsCount", 1))


# -- relaying ----------------------------------------------------------------------------------


async def test_relays_a_video_in_parts_and_links_it_for_48_hours(
    relay: MediaRelay, bucket: Bucket, fake_slack: FakeSlack, storage: Storage, media_dir: Path
) -> None:
    data = secrets.token_bytes(2 * PART + 123)  # two full parts and a short last one
    file = fake_slack.add_file("Jane's take 2.MP4", "video/mp4", data)
    request_id = await new_request(storage)

    relayed = await relay.relay(file["id"], request_id)

    key = f"replica-bot/{relayed.token}/Jane_s_take_2.mp4"
    assert TOKEN_PATTERN.fullmatch(relayed.token)
    assert bucket.keys() == [key]
    assert bucket.get(key) == data
    assert parts_count(bucket, key) == 3
    assert bucket.uploads() == []
    head = bucket.client.head_object(Bucket=bucket.name, Key=key)
    assert head["ContentType"] == "video/mp4"
    assert head["ContentLength"] == len(data)
    assert relayed.sha256 == sha256(data) and relayed.size == len(data)
    # Tavus gets a presigned link to the object, on the store's endpoint, valid for 48 h.
    assert relayed.url.startswith(f"{bucket.endpoint_url}/{bucket.name}/{key}?")
    assert expires_seconds(relayed.url) == 48 * 3600
    async with httpx.AsyncClient() as http:
        fetched = await http.get(relayed.url)
    assert fetched.status_code == 200 and fetched.content == data
    # The row says where the object is; nothing went to MEDIA_DIR.
    row = await storage.run(media_store.get_media_file, relayed.token)
    assert row is not None
    assert (row.bucket, row.object_key, row.size, row.request_id) == (
        bucket.name,
        key,
        len(data),
        request_id,
    )
    assert leftovers(media_dir) == []
    # A copy in a bucket is never served by the bot's /media route.
    assert await relay.find(relayed.token, "Jane_s_take_2.mp4") is None


async def test_a_file_smaller_than_a_part_is_one_part(
    relay: MediaRelay, bucket: Bucket, fake_slack: FakeSlack, storage: Storage
) -> None:
    file = fake_slack.add_file("jane.png", "image/png", b"\x89PNG" + secrets.token_bytes(1000))

    relayed = await relay.relay(file["id"], await new_request(storage))

    [key] = bucket.keys()
    assert key == f"replica-bot/{relayed.token}/jane.png"
    assert bucket.get(key) == fake_slack.files[file["id"]].content
    assert bucket.client.head_object(Bucket=bucket.name, Key=key)["ContentType"] == "image/png"


async def test_no_public_url_is_needed(
    relay: MediaRelay, bucket: Bucket, fake_slack: FakeSlack, storage: Storage
) -> None:
    file = fake_slack.add_file("jane.mp4", "video/mp4", b"video")
    relayed = await relay.relay(file["id"], await new_request(storage))
    assert relayed.url.startswith(bucket.endpoint_url)


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [("", ""), ("media", "media/"), ("/a/b/", "a/b/"), ("replica-bot/", "replica-bot/")],
)
async def test_keys_are_prefix_token_and_name(
    bucket: Bucket,
    fake_slack: FakeSlack,
    storage: Storage,
    media_dir: Path,
    slack_client: AsyncWebClient,
    prefix: str,
    expected: str,
) -> None:
    store = make_store(bucket, prefix=prefix)
    relay = make_relay(media_dir, storage, slack_client, store)
    file = fake_slack.add_file("jane.mp4", "video/mp4", b"video")
    try:
        relayed = await relay.relay(file["id"], await new_request(storage))
    finally:
        await relay.aclose()
    assert bucket.keys() == [f"{expected}{relayed.token}/jane.mp4"]
    assert store.token_of(f"{expected}{relayed.token}/jane.mp4") == relayed.token
    assert store.token_of(f"{expected}{relayed.token}/a/jane.mp4") is None
    assert store.token_of(f"{expected}not-a-token/jane.mp4") is None


async def test_parts_go_up_while_the_file_is_still_arriving(store: S3Store, bucket: Bucket) -> None:
    """No whole-file buffering: a part is uploaded as soon as it fills, one at a time."""
    token = secrets.token_urlsafe(32)
    copy = store.begin(token, "jane.mp4", "video/mp4")
    first, second, rest = (secrets.token_bytes(n) for n in (PART + 1, PART, 100))
    try:
        await copy.open()
        await copy.write([first])  # part 1 starts uploading; 1 byte waits for part 2
        await copy.write([second])  # waits for part 1, then part 2 starts
        [upload] = bucket.uploads()
        listed = bucket.client.list_parts(
            Bucket=bucket.name, Key=upload["Key"], UploadId=upload["UploadId"]
        )
        assert [part["PartNumber"] for part in listed["Parts"]] == [1]
        assert bucket.keys() == []  # nothing is an object until the upload completes
        await copy.write([rest])
        await copy.finish()
        await copy.publish()
    finally:
        copy.shutdown()
    key = f"replica-bot/{token}/jane.mp4"
    assert bucket.get(key) == first + second + rest
    assert parts_count(bucket, key) == 3
    # Every part but the last has the same size (R2 requires it).
    sizes = [
        bucket.client.head_object(Bucket=bucket.name, Key=key, PartNumber=n)["ContentLength"]
        for n in (1, 2, 3)
    ]
    assert sizes == [PART, PART, 101]


async def test_discarding_aborts_the_upload_with_its_parts(store: S3Store, bucket: Bucket) -> None:
    copy = store.begin(secrets.token_urlsafe(32), "jane.mp4", "video/mp4")
    try:
        await copy.open()
        await copy.write([secrets.token_bytes(2 * PART)])  # part 1 done, part 2 in flight
        assert len(bucket.uploads()) == 1
        await copy.discard()
    finally:
        copy.shutdown()
    assert bucket.uploads() == []
    assert bucket.keys() == []


async def test_a_download_that_breaks_off_aborts_the_upload(
    relay: MediaRelay, bucket: Bucket, fake_slack: FakeSlack, storage: Storage
) -> None:
    fake_slack.cut_download_after = PART + MiB  # one part uploaded, then the network fails
    file = fake_slack.add_file("jane.mp4", "video/mp4", secrets.token_bytes(3 * PART))

    with pytest.raises(RelayError) as raised:
        await relay.relay(file["id"], await new_request(storage))

    assert "broke off" in raised.value.user_message
    assert bucket.uploads() == []
    assert bucket.keys() == []
    assert await storage.run(media_store.media_tokens) == set()


async def test_a_file_tavus_would_refuse_never_starts_an_upload(
    relay: MediaRelay, bucket: Bucket, fake_slack: FakeSlack, storage: Storage
) -> None:
    fake_slack.login_page_downloads = True
    file = fake_slack.add_file("jane.mp4", "video/mp4", b"video")

    with pytest.raises(RelayError) as raised:
        await relay.relay(file["id"], await new_request(storage))

    assert "login page" in raised.value.user_message
    assert bucket.uploads() == [] and bucket.keys() == []


async def test_a_cancelled_relay_aborts_its_upload(
    relay: MediaRelay, bucket: Bucket, fake_slack: FakeSlack, storage: Storage
) -> None:
    """Shutdown cancels work in flight: the upload is aborted all the same."""
    file = fake_slack.add_file("jane.mp4", "video/mp4", secrets.token_bytes(40 * MiB))
    request_id = await new_request(storage)
    task = asyncio.create_task(relay.relay(file["id"], request_id))
    for _ in range(500):
        if await asyncio.to_thread(bucket.uploads):
            break
        await asyncio.sleep(0.01)
    assert not task.done(), "the relay finished before it could be cancelled"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(200):  # the abort runs on the copy's thread, after the part in flight
        if not await asyncio.to_thread(bucket.uploads):
            break
        await asyncio.sleep(0.02)
    assert bucket.uploads() == []
    assert bucket.keys() == []


async def test_a_missing_bucket_is_an_error_for_the_operator(
    bucket: Bucket,
    fake_slack: FakeSlack,
    storage: Storage,
    media_dir: Path,
    slack_client: AsyncWebClient,
) -> None:
    relay = make_relay(
        media_dir, storage, slack_client, make_store(bucket, bucket="no-such-bucket-here")
    )
    refusal = await refused_video(relay, fake_slack, storage)

    # The same sentence as when the disk fails; S3's reason goes to the log.
    assert refusal.user_message == STORE_FAILED
    assert "NoSuchBucket" in str(refusal) and "no-such-bucket-here" in str(refusal)
    assert await storage.run(media_store.media_tokens) == set()


async def test_missing_credentials_are_an_error_for_the_operator(
    bucket: Bucket,
    fake_slack: FakeSlack,
    storage: Storage,
    media_dir: Path,
    slack_client: AsyncWebClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    relay = make_relay(media_dir, storage, slack_client, make_store(bucket))
    refusal = await refused_video(relay, fake_slack, storage)

    assert refusal.user_message == STORE_FAILED
    assert "credentials" in str(refusal)


async def test_an_unreachable_store_says_to_try_again(
    bucket: Bucket,
    fake_slack: FakeSlack,
    storage: Storage,
    media_dir: Path,
    slack_client: AsyncWebClient,
) -> None:
    store = make_store(bucket, endpoint_url="http://127.0.0.1:1", max_attempts=1)
    relay = make_relay(media_dir, storage, slack_client, store)
    refusal = await refused_video(relay, fake_slack, storage)

    assert refusal.user_message == UNREACHABLE
    assert "127.0.0.1:1" in str(refusal)


async def test_temporary_credentials_are_warned_about(
    store: S3Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("AWS_SESSION_TOKEN", "a-role-session")
    await store.client()
    assert any("temporary AWS credentials" in r.getMessage() for r in caplog.records)


def test_part_size_and_link_lifetime_stay_within_s3_and_tavus_limits(bucket: Bucket) -> None:
    with pytest.raises(ValueError, match="part_bytes"):
        make_store(bucket, part_bytes=MIN_PART_BYTES - 1)
    with pytest.raises(ValueError, match="24 hours"):
        make_store(bucket, link_lifetime=timedelta(hours=23))
    with pytest.raises(ValueError, match="7 days"):
        make_store(bucket, link_lifetime=timedelta(days=8))


# -- sweeping ----------------------------------------------------------------------------------


async def test_expired_objects_are_deleted_by_the_sweep(
    relay: MediaRelay, bucket: Bucket, fake_slack: FakeSlack, storage: Storage
) -> None:
    file = fake_slack.add_file("jane.mp4", "video/mp4", b"video")
    request_id = await new_request(storage)
    relayed = await relay.relay(file["id"], request_id)
    later = datetime.now(UTC) + timedelta(hours=49)

    assert await relay.sweep(later) == 0  # its request is still open: kept
    await finish(storage, request_id)
    assert await relay.sweep(datetime.now(UTC) + timedelta(hours=47)) == 0  # under 48 h
    assert bucket.keys() == [f"replica-bot/{relayed.token}/jane.mp4"]

    assert await relay.sweep(later) == 1

    assert bucket.keys() == []
    assert await storage.run(media_store.get_media_file, relayed.token) is None
    async with httpx.AsyncClient() as http:
        assert (await http.get(relayed.url)).status_code == 404


async def test_the_sweep_deletes_by_the_recorded_key_whatever_the_prefix_now(
    bucket: Bucket,
    fake_slack: FakeSlack,
    storage: Storage,
    media_dir: Path,
    slack_client: AsyncWebClient,
) -> None:
    before = make_relay(media_dir, storage, slack_client, make_store(bucket, prefix="old"))
    file = fake_slack.add_file("jane.mp4", "video/mp4", b"video")
    try:
        await before.relay(file["id"], 9999)  # no such request: it goes after retention
    finally:
        await before.aclose()
    after = make_relay(media_dir, storage, slack_client, make_store(bucket, prefix="new"))
    try:
        assert await after.sweep(datetime.now(UTC) + timedelta(hours=49)) == 1
    finally:
        await after.aclose()
    assert bucket.keys() == []


async def test_an_object_the_sweep_cannot_delete_keeps_its_row(
    bucket: Bucket,
    fake_slack: FakeSlack,
    storage: Storage,
    media_dir: Path,
    slack_client: AsyncWebClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    relay = make_relay(media_dir, storage, slack_client, make_store(bucket))
    file = fake_slack.add_file("jane.mp4", "video/mp4", b"video")
    try:
        relayed = await relay.relay(file["id"], 9999)
    finally:
        await relay.aclose()
    down = make_store(bucket, endpoint_url="http://127.0.0.1:1", max_attempts=1)
    relay = make_relay(media_dir, storage, slack_client, down)
    try:
        assert await relay.sweep(datetime.now(UTC) + timedelta(hours=49)) == 0
    finally:
        await relay.aclose()
    assert await storage.run(media_store.get_media_file, relayed.token) is not None
    assert any("next sweep tries again" in r.getMessage() for r in caplog.records)


async def test_the_sweep_aborts_uploads_a_crash_left_and_nothing_else(
    relay: MediaRelay, bucket: Bucket
) -> None:
    def start(key: str) -> None:
        bucket.client.create_multipart_upload(Bucket=bucket.name, Key=key)

    crashed = f"replica-bot/{secrets.token_urlsafe(32)}/jane.mp4"
    outside = f"other-app/{secrets.token_urlsafe(32)}/jane.mp4"
    not_ours = "replica-bot/notes.txt"
    for key in (crashed, outside, not_ours):
        start(key)

    # (moto dates every upload 2010, so "an hour old" cannot be shown here.)
    assert await relay.sweep(datetime.now(UTC) + timedelta(hours=2)) == 1

    assert sorted(upload["Key"] for upload in bucket.uploads()) == sorted([outside, not_ours])


async def test_uploads_in_progress_are_spared(
    store: S3Store, bucket: Bucket, storage: Storage
) -> None:
    in_progress, crashed = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    for token in (in_progress, crashed):
        bucket.client.create_multipart_upload(Bucket=bucket.name, Key=store.key(token, "a.mp4"))

    now = datetime.now(UTC) + timedelta(hours=2)
    assert await store.remove_leftovers(storage, {in_progress}, now) == 1

    assert [upload["Key"] for upload in bucket.uploads()] == [store.key(in_progress, "a.mp4")]


async def test_local_copies_are_still_served_and_swept_after_a_switch_to_s3(
    bucket: Bucket,
    fake_slack: FakeSlack,
    storage: Storage,
    media_dir: Path,
    slack_client: AsyncWebClient,
) -> None:
    local = MediaRelay(
        media_dir=media_dir,
        storage=storage,
        slack=SlackClients(slack_client),
        public_url=PUBLIC_URL,
    )
    file = fake_slack.add_file("jane.mp4", "video/mp4", b"video")
    try:
        on_disk = await local.relay(file["id"], 9999)
    finally:
        await local.aclose()

    relay = make_relay(media_dir, storage, slack_client, make_store(bucket), public_url=PUBLIC_URL)
    try:
        in_bucket = await relay.relay(file["id"], 9999)
        assert await relay.find(on_disk.token, "jane.mp4") is not None
        assert await relay.find(in_bucket.token, "jane.mp4") is None
        assert await relay.sweep(datetime.now(UTC) + timedelta(hours=49)) == 2
    finally:
        await relay.aclose()
    assert leftovers(media_dir) == []
    assert bucket.keys() == []


async def test_objects_left_in_s3_after_a_switch_back_stay_recorded(
    bucket: Bucket,
    fake_slack: FakeSlack,
    storage: Storage,
    media_dir: Path,
    slack_client: AsyncWebClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    relay = make_relay(media_dir, storage, slack_client, make_store(bucket))
    file = fake_slack.add_file("jane.mp4", "video/mp4", b"video")
    try:
        relayed = await relay.relay(file["id"], 9999)
    finally:
        await relay.aclose()

    local = MediaRelay(
        media_dir=media_dir,
        storage=storage,
        slack=SlackClients(slack_client),
        public_url=PUBLIC_URL,
    )
    try:
        assert await local.sweep(datetime.now(UTC) + timedelta(hours=49)) == 0
    finally:
        await local.aclose()
    assert await storage.run(media_store.get_media_file, relayed.token) is not None
    assert len(bucket.keys()) == 1
    assert any("MEDIA_STORE is no longer s3" in r.getMessage() for r in caplog.records)
