"""Copies in an S3-compatible bucket (MEDIA_STORE=s3): AWS S3, Cloudflare R2, MinIO…

For a bot that Tavus cannot reach (no PUBLIC_URL, e.g. Socket Mode behind a firewall). The
download streams into a multipart upload: each part (`part_bytes`, 8 MiB) is uploaded as soon
as it fills, on the copy's own thread while the next one fills, so at most two parts are in
memory whatever the file's size; all parts but the last have the same size (R2 requires it).
The object is `<prefix><token>/<file name>`, with the file's Content-Type, and Tavus gets a
presigned GET link valid for `link_lifetime` (48 h: Tavus needs a day or more, the local copies
are kept as long, and SigV4 allows 7 days at most).

A failed or cancelled upload is aborted, so no parts are left behind (and the sweep aborts, an
hour on, any that a crash left). The sweep deletes expired objects by the bucket and key
recorded in their row.

boto3 is synchronous: its calls run on threads, never on the event loop. Credentials come from
boto3's usual chain (environment, shared files, instance or task role), read when the first
file is relayed. A presigned link stops working when the credentials that signed it expire, so
temporary credentials (a role's session) are warned about: they may not last the 48 h.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Set
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from media_relay.download import STORE_FAILED, RelayError
from media_relay.files import TOKEN_PATTERN
from media_relay.stores import LEFTOVER_AGE
from storage import media as media_store
from storage.database import Storage
from storage.media import MediaRow

logger = logging.getLogger(__name__)

T = TypeVar("T")

PART_BYTES = 8 * 1024 * 1024
# S3's limits: every part but the last at least 5 MiB, at most 10,000 parts.
MIN_PART_BYTES = 5 * 1024 * 1024
MAX_PARTS = 10_000
LINK_LIFETIME = timedelta(hours=48)
MAX_LINK_LIFETIME = timedelta(days=7)  # SigV4's limit for presigned URLs
CONNECT_TIMEOUT_SECONDS = 10.0
READ_TIMEOUT_SECONDS = 60.0
UNREACHABLE = (
    "The bot could not reach its file storage to store the file: try again in a few minutes, "
    "or paste a link to the file instead."
)


def storage_error(action: str, where: str, error: Exception) -> RelayError:
    """What the requester is told when the bucket fails; the detail (bucket, key, S3's error
    code) is for the log."""
    user_message = (
        UNREACHABLE if isinstance(error, BotoConnectionError | HTTPClientError) else STORE_FAILED
    )
    return RelayError(user_message, f"S3 could not {action} {where}: {error}")


class S3Store:
    def __init__(
        self,
        *,
        bucket: str,
        prefix: str = "replica-bot/",
        endpoint_url: str | None = None,
        part_bytes: int = PART_BYTES,
        link_lifetime: timedelta = LINK_LIFETIME,
        max_attempts: int = 3,
    ) -> None:
        """`prefix` comes before every key (a "/" is added if missing; "" for none);
        `endpoint_url`: R2's, MinIO's… (None: AWS S3, in the region boto3 is configured for).
        `max_attempts`: per S3 call, with boto3's standard back-off."""
        if part_bytes < MIN_PART_BYTES:
            raise ValueError(f"part_bytes must be at least {MIN_PART_BYTES} (S3's minimum)")
        if not timedelta(hours=24) <= link_lifetime <= MAX_LINK_LIFETIME:
            raise ValueError("link_lifetime must be between 24 hours (Tavus) and 7 days (SigV4)")
        self.bucket = bucket
        prefix = prefix.strip("/")
        self.prefix = f"{prefix}/" if prefix else ""
        self._endpoint_url = endpoint_url
        self.part_bytes = part_bytes
        self._link_seconds = int(link_lifetime.total_seconds())
        self._max_attempts = max_attempts
        self._client: Any = None
        self._client_lock = asyncio.Lock()

    @property
    def where(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def key(self, token: str, name: str) -> str:
        return f"{self.prefix}{token}/{name}"

    def token_of(self, key: str) -> str | None:
        """The token in one of this store's keys, or None if `key` is not of that shape."""
        if not key.startswith(self.prefix):
            return None
        token, slash, name = key.removeprefix(self.prefix).partition("/")
        if not slash or not name or "/" in name or not TOKEN_PATTERN.fullmatch(token):
            return None
        return token

    async def client(self) -> Any:
        """boto3's S3 client, made on first use on a thread (reading credentials may ask the
        instance metadata service)."""
        async with self._client_lock:
            if self._client is None:
                try:
                    self._client = await asyncio.to_thread(self._make_client)
                except BotoCoreError as error:
                    raise storage_error("set up a client for", self.where, error) from error
        return self._client

    def _make_client(self) -> Any:
        session = boto3.session.Session()
        options: dict[str, Any] = {}
        if self._endpoint_url is not None:
            # MinIO and other self-hosted stores need path-style URLs; R2 takes both.
            options["s3"] = {"addressing_style": "path"}
        config = Config(
            signature_version="s3v4",  # presigned links carry X-Amz-Expires
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            read_timeout=READ_TIMEOUT_SECONDS,
            retries={"mode": "standard", "max_attempts": self._max_attempts},
            # Checksums only where S3 requires them: S3-compatible stores differ in what they
            # accept, and the relay hashes the bytes itself (sha256, for the consent record).
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            **options,
        )
        client = session.client("s3", endpoint_url=self._endpoint_url, config=config)
        credentials = session.get_credentials()
        if credentials is not None and credentials.token is not None:
            logger.warning(
                "MEDIA_STORE=s3 signs links with temporary AWS credentials (a role's session): "
                "a presigned link stops working when they expire, possibly before Tavus "
                "downloads the file; give the bot a long-lived access key for the bucket"
            )
        if self._endpoint_url is None and session.region_name is None:
            logger.warning(
                "MEDIA_STORE=s3 without a region (AWS_REGION): links to a bucket outside "
                "us-east-1 will not work"
            )
        return client

    def check(self) -> None:
        pass  # settings require a bucket; the bucket itself answers at the first upload

    def begin(self, token: str, name: str, content_type: str) -> S3Copy:
        return S3Copy(self, self.key(token, name), content_type)

    async def link(self, token: str, name: str) -> str:
        client = await self.client()
        key = self.key(token, name)
        try:
            url: str = await asyncio.to_thread(
                client.generate_presigned_url,
                "get_object",
                Params={"Bucket": self.bucket, "Key": key},
                ExpiresIn=self._link_seconds,
            )
        except (BotoCoreError, ClientError) as error:
            raise storage_error("sign a link to", f"s3://{self.bucket}/{key}", error) from error
        return url

    def holds(self, row: MediaRow) -> bool:
        return row.object_key is not None

    async def delete(self, storage: Storage, row: MediaRow) -> bool:
        # The object goes first: its presigned link works without a row, so the row is what
        # the sweep deletes it by. Deleting a missing object succeeds (S3 deletes are
        # idempotent), so a crash in between only repeats the delete.
        bucket, key = row.bucket or self.bucket, row.object_key
        try:
            client = await self.client()
            await asyncio.to_thread(client.delete_object, Bucket=bucket, Key=key)
        except (BotoCoreError, ClientError, RelayError) as error:
            logger.warning(
                "could not delete relayed file s3://%s/%s (the next sweep tries again): %s",
                bucket,
                key,
                error,
            )
            return False
        await storage.run(media_store.delete_media_file, row.token)
        return True

    async def remove_leftovers(self, storage: Storage, active: Set[str], now: datetime) -> int:
        """Abort multipart uploads under the prefix that a crash left (older than an hour and
        not in progress here); they would otherwise be kept, and billed, for ever."""
        # The live set, read as each upload is looked at: a copy begun after this sweep
        # started is spared too (its token is added before its upload is created).
        keep = active
        oldest = now - LEFTOVER_AGE

        def abort_stale(client: Any) -> int:
            aborted = 0
            pages = client.get_paginator("list_multipart_uploads").paginate(
                Bucket=self.bucket, Prefix=self.prefix
            )
            for page in pages:
                for upload in page.get("Uploads", []):
                    token = self.token_of(upload["Key"])
                    if token is None or token in keep or upload["Initiated"] >= oldest:
                        continue
                    client.abort_multipart_upload(
                        Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                    )
                    aborted += 1
            return aborted

        try:
            aborted = await asyncio.to_thread(abort_stale, await self.client())
        except (BotoCoreError, ClientError, RelayError) as error:
            logger.warning("could not look for unfinished uploads in %s: %s", self.where, error)
            return 0
        if aborted:
            logger.info("aborted %d unfinished upload(s) in %s", aborted, self.where)
        return aborted

    async def aclose(self) -> None:
        if self._client is not None:
            await asyncio.to_thread(self._client.close)
            self._client = None


class S3Copy:
    """One multipart upload. Its S3 calls run in order on its own thread, so an abort always
    comes after the part upload in flight."""

    def __init__(self, store: S3Store, key: str, content_type: str) -> None:
        self._store = store
        self.bucket: str | None = store.bucket
        self.object_key: str | None = key
        self._content_type = content_type
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="media-upload")
        self._client: Any = None
        # Written on the copy's thread only.
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._completed = False
        # The event loop's side.
        self._buffer = bytearray()
        self._next_part = 1
        self._uploading: asyncio.Future[None] | None = None
        self._completing = False

    @property
    def _where(self) -> str:
        return f"s3://{self.bucket}/{self.object_key}"

    def _run(self, fn: Callable[[], T]) -> asyncio.Future[T]:
        return asyncio.get_running_loop().run_in_executor(self._thread, fn)

    async def _call(self, action: str, future: asyncio.Future[T]) -> T:
        try:
            return await future
        except (BotoCoreError, ClientError) as error:
            raise storage_error(action, self._where, error) from error

    async def open(self) -> None:
        client = self._client = await self._store.client()

        def create() -> None:
            response = client.create_multipart_upload(
                Bucket=self.bucket,
                Key=self.object_key,
                ContentType=self._content_type,
                # A secret link: no shared cache should keep the file.
                CacheControl="private, no-store",
            )
            self._upload_id = response["UploadId"]

        await self._call("start an upload to", self._run(create))

    async def write(self, chunks: list[bytes]) -> None:
        for chunk in chunks:
            self._buffer += chunk
        size = self._store.part_bytes
        while len(self._buffer) >= size:
            with memoryview(self._buffer) as view:
                part = bytes(view[:size])
            del self._buffer[:size]
            await self._send(part)

    async def _send(self, part: bytes) -> None:
        """Wait for the part in flight (its error surfaces here), then start this one."""
        await self._settle()
        number = self._next_part
        if number > MAX_PARTS:
            raise RelayError(STORE_FAILED, f"{self._where} needs more than {MAX_PARTS} parts")
        self._next_part += 1
        client = self._client

        def upload() -> None:
            response = client.upload_part(
                Bucket=self.bucket,
                Key=self.object_key,
                UploadId=self._upload_id,
                PartNumber=number,
                Body=part,
            )
            self._parts.append({"ETag": response["ETag"], "PartNumber": number})

        self._uploading = self._run(upload)

    async def _settle(self) -> None:
        uploading, self._uploading = self._uploading, None
        if uploading is not None:
            await self._call("upload a part to", uploading)

    async def finish(self) -> None:
        if self._buffer or self._next_part == 1:  # the last part, which may be smaller
            part, self._buffer = bytes(self._buffer), bytearray()
            await self._send(part)
        await self._settle()

    async def publish(self) -> None:
        client = self._client
        self._completing = True

        def complete() -> None:
            client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=self.object_key,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": sorted(self._parts, key=lambda p: p["PartNumber"])},
            )
            self._completed = True

        await self._call("complete the upload to", self._run(complete))

    async def discard(self) -> None:
        """Abort the upload (after any part still in flight), and delete the object if a
        completion may have gone through. Failures are logged: the sweep aborts a stale upload
        within hours."""
        uploading, client = self._uploading, self._client
        if uploading is not None:
            # Its error, if any, is the one already being handled.
            uploading.add_done_callback(lambda done: done.cancelled() or done.exception())
        if client is None:
            return  # nothing was asked of S3
        completing = self._completing

        def abort() -> None:
            if self._upload_id is not None and not self._completed:
                try:
                    client.abort_multipart_upload(
                        Bucket=self.bucket, Key=self.object_key, UploadId=self._upload_id
                    )
                except ClientError as error:
                    if error.response.get("Error", {}).get("Code") != "NoSuchUpload":
                        logger.warning("could not abort the upload to %s: %s", self._where, error)
                except BotoCoreError as error:
                    logger.warning("could not abort the upload to %s: %s", self._where, error)
            if completing:  # its answer may have been lost after S3 completed it
                try:
                    client.delete_object(Bucket=self.bucket, Key=self.object_key)
                except (BotoCoreError, ClientError) as error:
                    logger.warning("could not delete %s: %s", self._where, error)

        await asyncio.shield(self._run(abort))

    def shutdown(self) -> None:
        self._thread.shutdown(wait=False)
