"""A small async client for the parts of the Tavus API the bot uses.

`create_replica` is sent exactly once and never retried: each call may start a paid training.
Reads (`get_replica`, `list_replicas`, `list_voices`), `rename_replica` and `delete_replica` are
safe to repeat and are retried briefly.

Tavus is renaming replicas "faces" (`face_id`, `face_name`); every answer is read with either
spelling. A replica id is always sent as one quoted path segment.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from net.aiohttp_transport import AiohttpTransport
from tavus.errors import (
    TavusAuthError,
    TavusError,
    TavusProtocolError,
    TavusRejectedError,
    TavusServerError,
    TavusUnreachableError,
)
from tavus.fields import first_str, replica_id_in, stripped, thumbnail_url
from tavus.listing import PageHook, ReplicaListing

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 30.0
CONNECT_TIMEOUT_SECONDS = 10.0
PAGE_SIZE = 100  # the documented maximum of /v2/voices; also used for /v2/replicas
MAX_PAGES = 200  # a bound in case the API ever stops reporting total_count
READ_RETRIES = 2
USER_AGENT = "replica-bot"

# Told of every request sent (each attempt): method, path, the answer's status (None: no
# answer) and the seconds until it came. Metrics use it; the client knows nothing of them.
CallObserver = Callable[[str, str, int | None, float], None]


@dataclass(frozen=True)
class CreatedReplica:
    replica_id: str
    status: str


@dataclass(frozen=True)
class ReplicaState:
    """A replica as `GET /v2/replicas/{id}` describes it.

    `finetune_status` is Phoenix-4.5's tuning stage (None/"training" while tuning, then
    "completed" or "errored"); with `status` "completed" and no finished tuning, the face is a
    usable watermarked preview. Other models leave it None."""

    replica_id: str
    status: str
    error_message: str | None
    training_progress: str | None
    thumbnail_video_url: str | None = None  # an http(s) URL, or None
    finetune_status: str | None = None
    model_name: str | None = None


@dataclass(frozen=True)
class Voice:
    name: str  # the slug sent as voice_name, e.g. "anna"
    tags: tuple[str, ...] = ()


def _replica_path(replica_id: str, suffix: str = "") -> str:
    """/v2/replicas/{id}{suffix}, the id quoted as one path segment so that no id, wherever it
    came from, can reach another path. An empty, "." or ".." id (which would still name another
    path) is refused as Tavus refuses an unknown id, without asking it."""
    if replica_id in ("", ".", ".."):
        raise TavusRejectedError(
            f"{replica_id!r} is not a replica id",
            body=json.dumps({"error": "Invalid replica_id"}),
        )
    return f"/v2/replicas/{quote(replica_id, safe='')}{suffix}"


class TavusClient:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        transport: httpx.AsyncBaseTransport | None = None,
        observe: CallObserver | None = None,
    ) -> None:
        self._observe = observe
        self._base_url = base_url.rstrip("/")
        # What httpx.AsyncClient sent by default besides ours: a name, and compressed answers.
        self._headers = {
            "x-api-key": api_key,
            "accept": "application/json",
            "accept-encoding": "gzip, deflate",
            "user-agent": USER_AGENT,
        }
        # Per operation, as httpx.AsyncClient handed them on (the transport reads connect and
        # read).
        self._timeouts = httpx.Timeout(
            timeout_seconds, connect=min(timeout_seconds, CONNECT_TIMEOUT_SECONDS)
        ).as_dict()
        # httpcore, httpx's default transport, scans its whole pool and looks for sniffio on
        # every request (about half the CPU of a confirming GET, bench/README.md); aiohttp,
        # which the bot runs on anyway, keeps connections alive as cheaply. A POST is never
        # resent on a dropped connection: aiohttp retries only idempotent methods.
        self._transport = transport or AiohttpTransport()

    async def aclose(self) -> None:
        await self._transport.aclose()

    async def create_replica(self, body: dict[str, Any]) -> CreatedReplica:
        """POST /v2/replicas once. Raises a TavusError subclass; see `may_have_taken_effect`."""
        data = await self._request("POST", "/v2/replicas", json_body=body)
        replica_id = replica_id_in(data)
        if replica_id is None:
            raise TavusProtocolError(
                "Tavus accepted the request but sent no replica_id",
                status_code=200,
                body=json.dumps(data),
            )
        return CreatedReplica(replica_id=replica_id, status=str(data.get("status") or "started"))

    async def check_key(self) -> None:
        """The cheapest authenticated call (one replica listed): raises TavusAuthError if the
        key is refused, another TavusError if Tavus cannot be asked."""
        await self._request("GET", "/v2/replicas", params={"limit": 1})

    async def get_replica(self, replica_id: str) -> ReplicaState:
        data = await self._read(_replica_path(replica_id))
        progress = data.get("training_progress")
        return ReplicaState(
            replica_id=replica_id_in(data) or replica_id,
            status=str(data.get("status") or ""),
            error_message=first_str(data, "error_message"),
            training_progress=str(progress) if progress is not None else None,
            thumbnail_video_url=thumbnail_url(data.get("thumbnail_video_url")),
            finetune_status=stripped(data.get("finetune_status")),
            model_name=stripped(data.get("model_name")),
        )

    async def rename_replica(self, replica_id: str, name: str) -> None:
        """PATCH /v2/replicas/{id}/name. Retried on 429, 5xx and network errors (a rename is
        idempotent); Tavus's 200 has no body schema. Raises a TavusError subclass otherwise,
        e.g. TavusRejectedError for 400 "Invalid replica_id"."""
        await self._retried(
            "PATCH", _replica_path(replica_id, "/name"), json_body={"replica_name": name}
        )

    async def delete_replica(self, replica_id: str, *, hard: bool) -> bool:
        """DELETE /v2/replicas/{id}: `hard` also deletes the training footage, irrevocably.
        Retried on 429, 5xx and network errors (a repeated delete does no harm). False if Tavus
        knows no such replica (already deleted: it answers 400 "Invalid replica_id", or 404)."""
        params = {"hard": "true"} if hard else None
        try:
            await self._retried("DELETE", _replica_path(replica_id), params=params)
        except TavusRejectedError as error:
            if error.status_code == 404 or (
                error.status_code == 400 and "invalid replica_id" in error.body_start.lower()
            ):
                return False
            raise
        return True

    async def list_replicas(self, after_each_page: PageHook | None = None) -> ReplicaListing:
        """Every replica of the account, all pages, awaiting `after_each_page` after each (the
        poller paces the listing with it). Each replica is read when asked for
        (tavus/listing.py): a page costs its parsing and an index by id."""
        listing = ReplicaListing()
        async for items in self._pages("/v2/replicas", {"replica_type": "user"}):
            for item in items:
                listing.add(item)
            if after_each_page is not None:
                await after_each_page()
        return listing

    async def list_voices(self) -> list[Voice]:
        """Every stock voice, all pages, in Tavus's order."""
        voices: list[Voice] = []
        async for items in self._pages("/v2/voices"):
            for item in items:
                # Item shapes vary between sources; skip anything without a voice_name.
                if isinstance(item, dict) and (name := first_str(item, "voice_name")):
                    tags = tuple(
                        str(t["tag_name"])
                        for t in item.get("tags") or []
                        if isinstance(t, dict) and t.get("tag_name")
                    )
                    voices.append(Voice(name=name.lower(), tags=tags))
        return voices

    async def _pages(
        self, path: str, params: dict[str, Any] | None = None
    ) -> AsyncIterator[list[Any]]:
        """The `data` arrays of a listing, pages 1, 2, … until a short page or total_count."""
        seen = 0
        for page in range(1, MAX_PAGES + 1):
            data = await self._read(
                path, params={**(params or {}), "limit": PAGE_SIZE, "page": page}
            )
            items = data.get("data")
            if not isinstance(items, list):
                raise TavusProtocolError(
                    f"Tavus listing {path} has no data array",
                    status_code=200,
                    body=json.dumps(data),
                )
            yield items
            seen += len(items)
            total = data.get("total_count")
            if len(items) < PAGE_SIZE or (isinstance(total, int) and seen >= total):
                return

    async def _read(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """A GET, retried on 429, 5xx and network errors: reads are safe to repeat."""
        return await self._retried("GET", path, params=params)

    async def _retried(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        *,
        json_body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A call that is safe to repeat (GET, PATCH, DELETE), retried on 429, 5xx and network
        errors. A PATCH's or DELETE's answer may have no JSON body: it reads as {}."""
        for attempt in range(READ_RETRIES + 1):
            retryable: TavusError
            try:
                return await self._request(
                    method, path, json_body=json_body, params=params, empty_ok=method != "GET"
                )
            except (TavusServerError, TavusUnreachableError) as error:
                retryable = error
            except TavusRejectedError as error:
                if error.status_code != 429:
                    raise
                retryable = error
            if attempt == READ_RETRIES:
                raise retryable
            await asyncio.sleep(0.5 * 2**attempt)
        raise AssertionError("unreachable")

    async def _request(
        self,
        method: str,
        path: str,
        *,
        json_body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        empty_ok: bool = False,
    ) -> dict[str, Any]:
        """One call; a TavusError subclass for every failure. `empty_ok`: a 2xx answer need
        not be a JSON object (PATCH's and DELETE's have no body schema)."""
        try:
            response = await self._send(method, path, json_body=json_body, params=params)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
            raise TavusUnreachableError(
                f"could not connect to Tavus: {error!r}", request_sent=False
            ) from error
        except httpx.TransportError as error:
            # The request may have reached Tavus before the connection failed or timed out.
            raise TavusUnreachableError(
                f"no answer from Tavus: {error!r}", request_sent=True
            ) from error
        status = response.status_code
        # The answer's text only for what is told (an error's body): a good one is parsed as
        # bytes.
        if status == 401:
            raise TavusAuthError(
                "Tavus rejected the API key", status_code=status, body=response.text
            )
        if 400 <= status < 500:
            raise TavusRejectedError(
                f"Tavus refused {method} {path}", status_code=status, body=response.text
            )
        if status >= 500:
            raise TavusServerError(
                f"Tavus failed on {method} {path}", status_code=status, body=response.text
            )
        try:
            data = response.json()
        except ValueError as error:
            if empty_ok:
                return {}
            raise TavusProtocolError(
                f"Tavus sent non-JSON for {method} {path}", status_code=status, body=response.text
            ) from error
        if not isinstance(data, dict):
            if empty_ok:
                return {}
            raise TavusProtocolError(
                f"Tavus sent unexpected JSON for {method} {path}",
                status_code=status,
                body=response.text,
            )
        return data

    async def _send(
        self,
        method: str,
        path: str,
        *,
        json_body: dict[str, Any] | None,
        params: dict[str, Any] | None,
    ) -> httpx.Response:
        """One HTTP request, told to `observe` (a cancelled one is not)."""
        started = time.monotonic()
        # Straight to the transport: httpx.AsyncClient's own work per request (merging URLs,
        # a cookie jar, auth and redirect machinery) was about half of a confirming GET's CPU
        # (bench/callbacks.py), and none of it applies to Tavus: one origin, no cookies, a key
        # in a header, and redirects were never followed.
        request = httpx.Request(
            method,
            self._base_url + path,
            params=params,
            json=json_body,
            headers=self._headers,
            extensions={"timeout": self._timeouts},
        )
        try:
            response = await self._transport.handle_async_request(request)
            try:
                await response.aread()
            finally:
                await response.aclose()
        except Exception:
            if self._observe is not None:
                self._observe(method, path, None, time.monotonic() - started)
            raise
        if self._observe is not None:
            self._observe(method, path, response.status_code, time.monotonic() - started)
        return response


__all__ = [
    "CreatedReplica",
    "ReplicaListing",
    "ReplicaState",
    "TavusClient",
    "TavusError",
    "Voice",
]
