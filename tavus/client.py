"""A small async client for the parts of the Tavus API the bot uses.

`create_replica` is sent exactly once and never retried: each call may start a paid training.
Reads (`get_replica`, `list_voices`) are safe to retry and are retried briefly.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

import httpx

from tavus.errors import (
    TavusAuthError,
    TavusError,
    TavusProtocolError,
    TavusRejectedError,
    TavusServerError,
    TavusUnreachableError,
)

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
VOICES_PAGE_SIZE = 100  # the documented maximum
MAX_VOICE_PAGES = 50  # a bound in case the API ever stops reporting total_count
READ_RETRIES = 2


@dataclass(frozen=True)
class CreatedReplica:
    replica_id: str
    status: str


@dataclass(frozen=True)
class ReplicaState:
    replica_id: str
    status: str
    error_message: str | None
    training_progress: str | None


@dataclass(frozen=True)
class Voice:
    name: str  # the slug sent as voice_name, e.g. "anna"
    tags: tuple[str, ...] = ()


def _first_str(item: dict[str, Any], *keys: str) -> str | None:
    """The first non-empty string among keys; Tavus is renaming replica_* fields to face_*."""
    for key in keys:
        found = item.get(key)
        if isinstance(found, str) and found:
            return found
    return None


class TavusClient:
    def __init__(
        self, base_url: str, api_key: str, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url,
            headers={"x-api-key": api_key, "accept": "application/json"},
            timeout=DEFAULT_TIMEOUT,
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def create_replica(self, body: dict[str, Any]) -> CreatedReplica:
        """POST /v2/replicas once. Raises a TavusError subclass; see `may_have_taken_effect`."""
        data = await self._request("POST", "/v2/replicas", json_body=body)
        replica_id = _first_str(data, "replica_id", "face_id")
        if replica_id is None:
            raise TavusProtocolError(
                "Tavus accepted the request but sent no replica_id",
                status_code=200,
                body=json.dumps(data),
            )
        return CreatedReplica(replica_id=replica_id, status=str(data.get("status") or "started"))

    async def get_replica(self, replica_id: str) -> ReplicaState:
        data = await self._read(f"/v2/replicas/{replica_id}")
        progress = data.get("training_progress")
        return ReplicaState(
            replica_id=_first_str(data, "replica_id", "face_id") or replica_id,
            status=str(data.get("status") or ""),
            error_message=_first_str(data, "error_message"),
            training_progress=str(progress) if progress is not None else None,
        )

    async def list_voices(self) -> list[Voice]:
        """Every stock voice, all pages (1-based), in Tavus's order."""
        voices: list[Voice] = []
        for page in range(1, MAX_VOICE_PAGES + 1):
            data = await self._read("/v2/voices", params={"limit": VOICES_PAGE_SIZE, "page": page})
            items = data.get("data")
            if not isinstance(items, list):
                raise TavusProtocolError(
                    "Tavus voice list has no data array", status_code=200, body=json.dumps(data)
                )
            for item in items:
                # Item shapes vary between sources; skip anything without a voice_name.
                if isinstance(item, dict) and (name := _first_str(item, "voice_name")):
                    tags = tuple(
                        str(t["tag_name"])
                        for t in item.get("tags") or []
                        if isinstance(t, dict) and t.get("tag_name")
                    )
                    voices.append(Voice(name=name.lower(), tags=tags))
            total = data.get("total_count")
            if len(items) < VOICES_PAGE_SIZE or (isinstance(total, int) and len(voices) >= total):
                break
        return voices

    async def _read(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """A GET, retried on 429, 5xx and network errors: reads are safe to repeat."""
        for attempt in range(READ_RETRIES + 1):
            retryable: TavusError
            try:
                return await self._request("GET", path, params=params)
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
    ) -> dict[str, Any]:
        try:
            response = await self._http.request(method, path, json=json_body, params=params)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
            raise TavusUnreachableError(
                f"could not connect to Tavus: {error!r}", request_sent=False
            ) from error
        except httpx.TransportError as error:
            # The request may have reached Tavus before the connection failed or timed out.
            raise TavusUnreachableError(
                f"no answer from Tavus: {error!r}", request_sent=True
            ) from error
        body = response.text
        status = response.status_code
        if status == 401:
            raise TavusAuthError("Tavus rejected the API key", status_code=status, body=body)
        if 400 <= status < 500:
            raise TavusRejectedError(
                f"Tavus refused {method} {path}", status_code=status, body=body
            )
        if status >= 500:
            raise TavusServerError(
                f"Tavus failed on {method} {path}", status_code=status, body=body
            )
        try:
            data = response.json()
        except ValueError as error:
            raise TavusProtocolError(
                f"Tavus sent non-JSON for {method} {path}", status_code=status, body=body
            ) from error
        if not isinstance(data, dict):
            raise TavusProtocolError(
                f"Tavus sent unexpected JSON for {method} {path}", status_code=status, body=body
            )
        return data


__all__ = ["CreatedReplica", "ReplicaState", "TavusClient", "TavusError", "Voice"]
