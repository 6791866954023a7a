"""MEDIA_STORE=s3 in the running bot, with no public address: a file shared in Slack goes to
a real S3 API (moto's server) in parts, Tavus gets a presigned link to it, the sweep deletes
it, and a failed download leaves no upload behind."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

from domain.consent import ConsentEventKind
from domain.states import State
from media_relay.s3_store import PART_BYTES
from settings import MediaStore
from storage import consent as consent_store
from storage import replicas as store
from tests.conftest import Bot, BotFactory
from tests.handlers.test_file_shares import UPLOAD_TS, open_from_prompt, prompted
from tests.media_relay.conftest import Bucket
from tests.media_relay.test_relay import leftovers


async def s3_bot(make_bot: BotFactory, bucket: Bucket) -> Bot:
    return await make_bot(
        media_store=MediaStore.S3,
        media_s3_bucket=bucket.name,
        media_s3_endpoint_url=bucket.endpoint_url,
        public_url=None,
    )


async def share_and_submit(bot: Bot, data: bytes) -> None:
    file = bot.slack.add_file("jane intro.mp4", "video/mp4", data)
    view_id, view = await open_from_prompt(bot, await prompted(bot, [file]))
    await bot.submit(
        view_id, view, {"slack_file": file["id"], "intended_use": "Sales demos", "consent": True}
    )
    await bot.settle()


async def test_a_shared_video_reaches_tavus_through_a_presigned_link(
    make_bot: BotFactory, bucket: Bucket
) -> None:
    bot = await s3_bot(make_bot, bucket)
    data = secrets.token_bytes(PART_BYTES + 1024 * 1024)  # a full 8 MiB part and a short one

    await share_and_submit(bot, data)

    [create] = bot.tavus.creates
    url = create["train_video_url"]
    assert "callback_url" not in create  # no public address: results are polled
    [key] = bucket.keys()
    assert key.startswith("replica-bot/") and key.endswith("/jane_intro.mp4")
    assert url.startswith(f"{bucket.endpoint_url}/{bucket.name}/{key}?")
    query = parse_qs(urlsplit(url).query)
    assert int(query["X-Amz-Expires"][0]) >= 24 * 3600  # Tavus needs a day or more
    # Anyone holding the link (Tavus) gets exactly the bytes that were shared.
    fetched = await bot.http.get(url)
    assert fetched.status_code == 200 and fetched.content == data
    assert fetched.headers["content-type"] == "video/mp4"
    # Uploaded in parts as it arrived, not buffered whole.
    head = bucket.client.head_object(Bucket=bucket.name, Key=key, PartNumber=1)
    assert head["PartsCount"] == 2 and head["ContentLength"] == PART_BYTES
    assert bucket.uploads() == []
    # The consent record holds the sha256 of those bytes; nothing went to MEDIA_DIR.
    events = await bot.services.storage.run(consent_store.events_for, 1)
    [relayed] = [e for e in events if e.kind is ConsentEventKind.MEDIA_RELAYED]
    assert relayed.details["sha256"] == hashlib.sha256(data).hexdigest()
    assert leftovers(bot.settings.media_dir) == []
    # The bot's own /media route serves no bucket copy.
    token = key.split("/")[1]
    assert (await bot.http.get(f"{bot.url}/media/{token}/jane_intro.mp4")).status_code == 404

    # Training ends; 48 hours on, the sweep deletes the object.
    bot.tavus.set_status("r0001", "completed")
    await bot.services.reconciler.round()
    await bot.settle()
    assert (await bot.services.storage.run(store.get_request, 1)).state is State.SUCCEEDED
    assert await bot.services.relay.sweep(now=datetime.now(UTC)) == 0  # under 48 h: kept
    assert await bot.services.relay.sweep(now=datetime.now(UTC) + timedelta(hours=49)) == 1
    assert bucket.keys() == []
    assert (await bot.http.get(url)).status_code == 404


async def test_a_failed_download_aborts_the_upload_and_tells_the_requester(
    make_bot: BotFactory, bucket: Bucket
) -> None:
    bot = await s3_bot(make_bot, bucket)
    # The first 8 MiB part goes up, then the connection to Slack drops.
    bot.slack.cut_download_after = PART_BYTES + 512 * 1024

    await share_and_submit(bot, secrets.token_bytes(PART_BYTES + 2 * 1024 * 1024))

    assert bot.tavus.creates == []
    assert bucket.uploads() == []
    assert bucket.keys() == []
    record = await bot.services.storage.run(store.get_request, 1)
    assert record.state is State.NOT_CREATED
    reply = bot.slack.messages_in("C1")[-1]
    assert reply.thread_ts == UPLOAD_TS
    assert "broke off" in reply.text and "Nothing was sent to Tavus" in reply.text


async def test_a_missing_bucket_is_explained_to_the_requester(
    make_bot: BotFactory, bucket: Bucket
) -> None:
    bot = await make_bot(
        media_store=MediaStore.S3,
        media_s3_bucket="no-such-bucket-here",
        media_s3_endpoint_url=bucket.endpoint_url,
        public_url=None,
    )

    await share_and_submit(bot, b"video")

    assert bot.tavus.creates == []
    reply = bot.slack.messages_in("C1")[-1]
    assert "could not store the file" in reply.text and "check its log" in reply.text
