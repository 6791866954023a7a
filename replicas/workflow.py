"""The replica workflow: submit → record → announce. Every entry point calls into here.

Slack listeners, the Tavus callback route (and later the poller and App Home) are thin
adapters; the state machine, the Tavus call and the Slack messages about a request live here.

Rules this module keeps:
- SQLite first: a request is recorded before Tavus is called, and a result is committed
  before the callback is answered.
- POST /v2/replicas is sent once per request and never re-sent automatically.
- Every state change is conditional, so duplicate deliveries change and post nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import secrets
from collections.abc import Coroutine
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

import sqlite_utils

from blocks.messages import outcome_reply, status_message
from replicas.notifier import SLACK_ERRORS, SlackNotifier
from replicas.record import ReplicaRecord
from replicas.request import ReplicaRequest, SlackOrigin, State
from settings import Settings
from storage import replicas as store
from storage.database import Storage
from tavus.client import TavusClient
from tavus.errors import TavusAuthError, TavusError, TavusProtocolError, TavusRejectedError

logger = logging.getLogger(__name__)

SUCCESS_STATUSES = frozenset({"ready", "completed", "success"})
FAILURE_STATUSES = frozenset({"error", "errored", "failed"})


class CallbackVerdict(StrEnum):
    """What became of a Tavus callback; the HTTP route maps each to a status code."""

    APPLIED = "applied"  # a result, recorded now
    DUPLICATE = "duplicate"  # a result already recorded
    IN_PROGRESS = "in_progress"  # not a final status; nothing to announce
    DEFERRED = "deferred"  # arrived before the create's answer; applied once it is known
    UNKNOWN_TOKEN = "unknown_token"
    MALFORMED = "malformed"
    REPLICA_MISMATCH = "replica_mismatch"


@dataclass(frozen=True)
class Accepted:
    """A recorded request waiting to be sent. The callback token lives only in memory: the
    database keeps its hash."""

    request_id: int
    callback_token: str


@dataclass(frozen=True)
class TrainingResult:
    """A replica status as Tavus reported it (by callback or GET)."""

    status: str
    error_message: str | None = None

    @property
    def final_state(self) -> State | None:
        """SUCCEEDED or FAILED, or None while training goes on (any unknown status)."""
        status = self.status.strip().lower()
        if status in SUCCESS_STATUSES:
            return State.SUCCEEDED
        if status in FAILURE_STATUSES:
            return State.FAILED
        return None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _parse_callback(raw_body: bytes) -> tuple[str, TrainingResult] | None:
    """(replica_id, result) from a callback body, or None if it is not a replica callback."""
    try:
        body = json.loads(raw_body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(body, dict):
        return None
    replica_id = body.get("replica_id") or body.get("face_id")
    status = body.get("status")
    error_message = body.get("error_message")
    if not isinstance(replica_id, str) or not replica_id or not isinstance(status, str):
        return None
    if error_message is not None and not isinstance(error_message, str):
        return None
    return replica_id, TrainingResult(status=status, error_message=error_message)


class ReplicaWorkflow:
    def __init__(
        self,
        *,
        settings: Settings,
        storage: Storage,
        tavus: TavusClient,
        notifier: SlackNotifier,
    ) -> None:
        self._settings = settings
        self._storage = storage
        self._tavus = tavus
        self._notifier = notifier
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- background work -------------------------------------------------------------------

    def spawn(self, work: Coroutine[Any, Any, Any], what: str) -> None:
        """Run work after Slack or Tavus has been answered; its failure is logged, not lost."""
        task = asyncio.get_running_loop().create_task(work, name=what)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            logger.error("%s failed", task.get_name(), exc_info=error)

    async def idle(self) -> None:
        """Wait until no background work is left (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def close(self, grace_seconds: float = 5.0) -> None:
        """Give running work `grace_seconds`, then cancel it."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=grace_seconds)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    # -- door: a submitted request form ----------------------------------------------------

    async def accept(
        self, view_id: str, request: ReplicaRequest, origin: SlackOrigin
    ) -> Accepted | None:
        """Record a validated request, before Slack is answered. None if this view was
        already accepted (a repeated submission)."""
        token = secrets.token_urlsafe(32)
        request_id = await self._storage.run(
            store.insert_request,
            view_id=view_id,
            request=request,
            origin=origin,
            callback_token_hash=hash_token(token),
        )
        if request_id is None:
            logger.info("View %s was already submitted; ignoring the repeat", view_id)
            return None
        return Accepted(request_id=request_id, callback_token=token)

    def start_submission(self, accepted: Accepted) -> None:
        self.spawn(self.submit(accepted), f"submit request {accepted.request_id}")

    async def submit(self, accepted: Accepted) -> None:
        """Post the root message, send the request to Tavus once, record and show the answer."""
        request_id = accepted.request_id
        record = await self._storage.run(store.get_request, request_id)
        await self._post_root(record)
        try:
            created = await self._tavus.create_replica(
                record.request.tavus_body(self._settings.callback_url(accepted.callback_token))
            )
        except TavusError as error:
            await self._create_failed(request_id, error)
            return

        logger.info("Request %s: Tavus is training replica %s", request_id, created.replica_id)
        await self._storage.run(store.mark_training, request_id, created.replica_id, created.status)
        await self._refresh_root(request_id)
        await self._apply_deferred_callbacks(request_id, created.replica_id)

    async def _create_failed(self, request_id: int, error: TavusError) -> None:
        if isinstance(error, TavusAuthError):
            logger.error(
                "Tavus rejected TAVUS_API_KEY (HTTP %s): %s", error.status_code, error.body
            )
            state, reason = (
                State.NOT_CREATED,
                "Tavus rejected this bot's API key. Ask whoever runs the bot to check "
                "TAVUS_API_KEY. Nothing was created.",
            )
        elif isinstance(error, TavusRejectedError):
            logger.warning(
                "Tavus refused request %s: HTTP %s %s", request_id, error.status_code, error.body
            )
            state, reason = State.NOT_CREATED, f"Tavus said: {error.reason}"
        elif error.may_have_taken_effect:
            logger.error("Create for request %s is ambiguous: %s %s", request_id, error, error.body)
            if isinstance(error, TavusProtocolError):
                what = "its answer could not be read"
            elif error.status_code:
                what = f"it failed with HTTP {error.status_code}"
            else:
                what = "no answer came back"
            state, reason = State.UNCERTAIN, f"Tavus got the request but {what}"
        else:
            logger.error("Create for request %s never reached Tavus: %s", request_id, error)
            state, reason = (
                State.NOT_CREATED,
                "I could not reach Tavus, so nothing was created and nothing was charged. "
                "Try again in a few minutes.",
            )
        if await self._storage.run(store.mark_create_failed, request_id, state, reason):
            await self.announce(request_id)

    # -- door: Tavus callback --------------------------------------------------------------

    async def handle_callback(self, token: str, raw_body: bytes) -> CallbackVerdict:
        """Check a callback against its request and record it; durable before it returns."""
        token_hash = hash_token(token)
        record = await self._storage.run(store.find_by_token_hash, token_hash)
        if record is None:
            return CallbackVerdict.UNKNOWN_TOKEN
        raw = raw_body.decode("utf-8", errors="replace")
        parsed = _parse_callback(raw_body)
        if parsed is None:
            await self._audit(record.id, None, None, CallbackVerdict.MALFORMED, raw)
            return CallbackVerdict.MALFORMED
        replica_id, result = parsed
        if record.replica_id is None and record.state in (State.SUBMITTING, State.UNCERTAIN):
            # Tavus answered before the create's response was recorded: keep it for later.
            await self._audit(record.id, replica_id, result.status, CallbackVerdict.DEFERRED, raw)
            return CallbackVerdict.DEFERRED
        if record.replica_id != replica_id:
            logger.warning(
                "Callback for request %s names replica %s, not %s",
                record.id,
                replica_id,
                record.replica_id,
            )
            await self._audit(
                record.id, replica_id, result.status, CallbackVerdict.REPLICA_MISMATCH, raw
            )
            return CallbackVerdict.REPLICA_MISMATCH
        return await self.record_result(record.id, result, audit_body=raw)

    async def _audit(
        self,
        request_id: int,
        replica_id: str | None,
        status: str | None,
        verdict: CallbackVerdict,
        raw_body: str,
    ) -> None:
        await self._storage.run(
            store.record_callback,
            request_id,
            replica_id=replica_id,
            status=status,
            outcome=verdict.value,
            raw_body=raw_body,
        )

    async def _apply_deferred_callbacks(self, request_id: int, replica_id: str) -> None:
        callbacks = await self._storage.run(store.callbacks_for, request_id)
        for callback in callbacks:
            if callback["outcome"] != CallbackVerdict.DEFERRED:
                continue
            parsed = _parse_callback(callback["raw_body"].encode())
            if parsed is not None and parsed[0] == replica_id:
                await self.record_result(request_id, parsed[1])

    # -- shared: a training result, whichever door it came through -------------------------

    async def record_result(
        self, request_id: int, result: TrainingResult, *, audit_body: str | None = None
    ) -> CallbackVerdict:
        """Commit a reported status; announce it once if it is a final one."""
        final = result.final_state

        def commit(db: sqlite_utils.Database) -> CallbackVerdict:
            with db.atomic():
                if final is None:
                    store.note_tavus_status(db, request_id, result.status)
                    verdict = CallbackVerdict.IN_PROGRESS
                elif store.finish_training(
                    db,
                    request_id,
                    succeeded=final is State.SUCCEEDED,
                    tavus_status=result.status,
                    error_message=result.error_message,
                ):
                    verdict = CallbackVerdict.APPLIED
                else:
                    verdict = CallbackVerdict.DUPLICATE
                if audit_body is not None:
                    record = store.get_request(db, request_id)
                    store.record_callback(
                        db,
                        request_id,
                        replica_id=record.replica_id,
                        status=result.status,
                        outcome=verdict.value,
                        raw_body=audit_body,
                    )
            return verdict

        verdict = await self._storage.run(commit)
        if verdict is CallbackVerdict.APPLIED:
            self.spawn(self.announce(request_id), f"announce request {request_id}")
        return verdict

    # -- Slack messages ----------------------------------------------------------------------

    async def announce(self, request_id: int) -> None:
        """Show a finished request's outcome: root message edited, a reply mentioning the
        requester in its thread."""
        record = await self._refresh_root(request_id)
        if record.message_channel_id is None:
            return  # Slack refused even a new root message; already logged
        try:
            await self._notifier.post(
                record.message_channel_id,
                record.origin.requester_id,
                outcome_reply(record),
                thread_ts=record.reply_thread_ts,
            )
        except SLACK_ERRORS:
            logger.exception("Could not post the outcome of request %s", request_id)

    async def _post_root(self, record: ReplicaRecord) -> ReplicaRecord:
        """Post the root status message; returns the record with where it went."""
        try:
            posted = await self._notifier.post(
                record.origin.channel_id,
                record.origin.requester_id,
                status_message(record),
                thread_ts=record.origin.thread_ts,
            )
        except SLACK_ERRORS:
            logger.exception("Could not post the status message of request %s", record.id)
            return record
        await self._storage.run(store.set_root_message, record.id, posted.channel_id, posted.ts)
        return replace(record, message_channel_id=posted.channel_id, message_ts=posted.ts)

    async def _refresh_root(self, request_id: int) -> ReplicaRecord:
        """Bring the root message up to date with the stored state (posting it if missing)."""
        record = await self._storage.run(store.get_request, request_id)
        if record.message_channel_id is None or record.message_ts is None:
            return await self._post_root(record)
        try:
            await self._notifier.update(
                record.message_channel_id, record.message_ts, status_message(record)
            )
        except SLACK_ERRORS:
            logger.exception("Could not update the status message of request %s", request_id)
        return record
