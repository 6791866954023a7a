"""Delivers the outbox: every Slack message the workflow owes, retried until Slack takes it.

- 429 waits for Retry-After (slack_sdk's RateLimitErrorRetryHandler sleeps it out first);
  5xx and network errors back off exponentially, for up to two days, across restarts.
- A post whose outcome is unknown (5xx, timeout, crash before recording) is "in doubt": before
  posting again, the channel is searched for a message carrying the row's key in its metadata,
  so a result is delivered at most once whenever Slack lets us check.
- Channels the bot cannot post in send the message to the requester's DM (SlackNotifier).
- Rows of one request go in order; one request's trouble never holds up another's.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError

from blocks import Message
from blocks.messages import status_message
from replicas.notifier import Posted, SlackNotifier
from replicas.record import ReplicaRecord
from storage import outbox as store
from storage import replicas as requests
from storage.database import Storage

logger = logging.getLogger(__name__)
T = TypeVar("T")

RETRY_BASE_SECONDS = 2.0
RETRY_MAX_SECONDS = 600.0
GIVE_UP_AFTER = timedelta(hours=48)
IDLE_CHECK_SECONDS = 30.0
# Errors an operator can fix (a new token, a reinstall): keep the message until then.
OPERATOR_ERRORS = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "token_revoked",
        "token_expired",
        "account_inactive",
        "missing_scope",
        "ratelimited",
        "internal_error",
        "fatal_error",
        "service_unavailable",
        "request_timeout",
    }
)


class _Retry(Exception):
    def __init__(self, reason: str, *, in_doubt: bool, after: float | None = None) -> None:
        super().__init__(reason)
        self.in_doubt = in_doubt
        self.after = after


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


class OutboxWorker:
    def __init__(self, storage: Storage, notifier: SlackNotifier) -> None:
        self._storage = storage
        self._notifier = notifier
        self._wake = asyncio.Event()
        self._busy: dict[int, asyncio.Task[None]] = {}  # request id -> its delivery

    def wake(self) -> None:
        """New rows were written: look now rather than at the next check."""
        self._wake.set()

    async def run(self) -> None:
        """Deliver due rows until cancelled."""
        try:
            while True:
                self._wake.clear()
                later = await self._start_due()
                delay = IDLE_CHECK_SECONDS
                if later is not None:
                    delay = min(delay, max(0.0, _epoch(later) - datetime.now(UTC).timestamp()))
                # asyncio.timeout, not wait_for: on 3.11, wait_for can swallow the
                # cancellation that shutdown sends when the event is set at the same moment.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._wake.wait()
        finally:
            await self._stop_deliveries()

    async def idle(self) -> None:
        """Wait until nothing is due and nothing is being delivered (tests, shutdown)."""
        while True:
            if self._busy:
                await asyncio.gather(*self._busy.values(), return_exceptions=True)
                continue
            rows, _ = await self._storage.run(store.due, datetime.now(UTC), frozenset())
            if not rows:
                return
            self.wake()
            await asyncio.sleep(0.01)

    async def _start_due(self) -> str | None:
        rows, later = await self._storage.run(store.due, datetime.now(UTC), frozenset(self._busy))
        for row in rows:
            task = asyncio.create_task(self._deliver(row), name=f"deliver {row.key}")
            self._busy[row.request_id] = task
            task.add_done_callback(functools.partial(self._done, row.request_id))
        return later

    def _done(self, request_id: int, _: asyncio.Task[None]) -> None:
        task = self._busy.pop(request_id, None)
        if task is not None and not task.cancelled() and (error := task.exception()):
            logger.error("Delivering a message of request %s failed", request_id, exc_info=error)
        self.wake()  # the request's next row may be due

    async def _stop_deliveries(self) -> None:
        """Shutdown: what is in flight stays recorded as in doubt and resumes next start."""
        tasks = list(self._busy.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- one row -------------------------------------------------------------------------------

    async def _deliver(self, row: store.OutboxRow) -> None:
        record = await self._storage.run(requests.get_request, row.request_id)
        in_doubt = row.state == "sending"
        await self._storage.run(store.claim, row.id)
        try:
            posted = await self._send(row, record, in_doubt)
        except _Retry as retry:
            await self._retry(row, retry)
            return
        except SlackApiError as error:
            reason = str(error.response.get("error") or error.response.status_code)
            logger.error(
                "Slack refused %s for request %s (%s); giving up on it",
                row.key,
                row.request_id,
                reason,
            )
            await self._storage.run(store.mark_failed, row.id, reason)
            return
        except Exception as error:
            # The worker's boundary: a bug in one message must neither spin this loop nor
            # stop the others. Keep the row (in doubt) and try again later.
            logger.exception("Unexpected error delivering %s", row.key)
            await self._retry(row, _Retry(repr(error), in_doubt=True))
            return
        await self._storage.run(self._record_sent, row, record, posted)

    @staticmethod
    def _record_sent(db: Any, row: store.OutboxRow, record: ReplicaRecord, posted: Posted) -> None:
        with db.atomic():
            store.mark_sent(db, row, posted.channel_id, posted.ts)
            if row.kind == store.STATUS and record.message_ts is None:
                requests.set_root_message(db, record.id, posted.channel_id, posted.ts)

    async def _retry(self, row: store.OutboxRow, retry: _Retry) -> None:
        age = datetime.now(UTC) - datetime.fromisoformat(row.created_at)
        if age > GIVE_UP_AFTER:
            logger.error(
                "Giving up on %s for request %s after %s: %s", row.key, row.request_id, age, retry
            )
            await self._storage.run(store.mark_failed, row.id, str(retry))
            return
        delay = retry.after
        if delay is None:
            delay = min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2 ** max(0, row.attempts))
            delay *= random.uniform(0.8, 1.2)
        logger.warning(
            "Could not deliver %s for request %s (%s); retrying in %.1f s",
            row.key,
            row.request_id,
            retry,
            delay,
        )
        at = datetime.now(UTC) + timedelta(seconds=delay)
        await self._storage.run(store.retry_later, row.id, at, str(retry), in_doubt=retry.in_doubt)

    async def _send(self, row: store.OutboxRow, record: ReplicaRecord, in_doubt: bool) -> Posted:
        if row.kind == store.STATUS and record.message_ts and record.message_channel_id:
            # An edit is safe to repeat: no doubt to resolve.
            await self._call(
                self._notifier.update(
                    record.message_channel_id, record.message_ts, status_message(record)
                ),
                in_doubt=False,
            )
            return Posted(record.message_channel_id, record.message_ts)
        if row.kind == store.STATUS:
            channel, thread, message = (
                record.origin.channel_id,
                record.origin.thread_ts,
                status_message(record),
            )
        else:
            assert row.payload is not None
            channel = record.message_channel_id or record.origin.channel_id
            thread = record.reply_thread_ts
            message = Message.from_kwargs(row.payload)
        if in_doubt:
            found = await self._find(channel, thread, row)
            if found is not None:
                logger.info("%s was already posted (%s); not posting it again", row.key, found.ts)
                return found
        return await self._call(
            self._notifier.post(
                channel, record.origin.requester_id, message, thread_ts=thread, key=row.key
            ),
            in_doubt=True,
        )

    async def _find(self, channel: str, thread: str | None, row: store.OutboxRow) -> Posted | None:
        """Was this row posted by an attempt whose answer was lost?"""
        since = _epoch(row.created_at) - 1
        try:
            return await self._call(
                self._notifier.find(channel, thread, row.key, since), in_doubt=True
            )
        except SlackApiError as error:
            # Slack will not let us look (e.g. the bot left the channel): post rather than lose.
            logger.warning(
                "Could not check whether %s was posted (%s); posting it",
                row.key,
                error.response.get("error"),
            )
            return None

    @staticmethod
    async def _call(call: Awaitable[T], *, in_doubt: bool) -> T:
        """Await a Slack call, turning transient failures into _Retry."""
        try:
            return await call
        except SlackApiError as error:
            status = error.response.status_code
            reason = error.response.get("error")
            if status == 429 or reason == "ratelimited":
                after = float(error.response.headers.get("Retry-After", 1) or 1)
                raise _Retry("rate limited", in_doubt=False, after=after) from error
            if status >= 500 or reason in OPERATOR_ERRORS:
                if reason in ("invalid_auth", "token_revoked", "missing_scope"):
                    logger.error(
                        "Slack refused the bot's token: %s (check SLACK_BOT_TOKEN)", reason
                    )
                raise _Retry(f"Slack answered {status} {reason}", in_doubt=in_doubt) from error
            raise
        except (aiohttp.ClientError, TimeoutError, SlackClientError) as error:
            raise _Retry(f"no answer from Slack: {error!r}", in_doubt=in_doubt) from error
