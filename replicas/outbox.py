"""Delivers the outbox: every Slack message the workflow owes, posted at most once and retried
until Slack takes it (or refuses that one message for good).

- At most once. Before each chat.postMessage the row records where it goes (channel, thread,
  the metadata key the message carries) and a ts the message must be newer than, in Slack's
  own clock. Until Slack's answer is recorded the row is in doubt, and nothing more is posted
  for it until an answer settles the doubt: the message found there, or a complete read of
  where it can only be (every page of its thread; or every page of the channel since that ts)
  that does not hold it. A look that fails (429, 5xx, no answer, any other refusal) keeps the
  doubt and is tried again later.
- 429 waits for Retry-After (slack_sdk's RateLimitErrorRetryHandler sleeps it out first);
  5xx and network errors back off exponentially, for up to two days, across restarts.
- A channel the bot cannot post in (not a member and cannot join; archived) sends the message
  to the requester's DM, after a notice there saying why.
- Storage failures (a full disk) cannot be recorded in the database: the lane is held back
  in memory instead (doubling, capped), and the loop itself never ends (`storage_error`).
- Rows of one lane (storage.outbox.Lane: a request's, or a user's DM) go in order; one lane's
  trouble never holds up another's.
- Messages are rendered when delivered: a request's root message and replies from the request
  as it is then (a reply keeps the state it announces); other lanes' rows carry their message.
- The root message's permalink goes in the request's consent record (POSTED), looked up beside
  the lanes, never in one: see `_record_permalink`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

import sqlite_utils
from slack_sdk.errors import SlackApiError
from slack_sdk.models.views import View

from blocks import Message, with_dry_run_note
from blocks.messages import moved_to_dm_notice, reply_message, status_message
from domain.consent import ConsentEventKind
from domain.consent import posted as posted_event
from domain.record import ReplicaRecord
from replicas.metrics import Metrics
from replicas.notifier import Posted, SlackNotifier
from slack_access.errors import (
    CANNOT_POST_HERE,
    CREDENTIAL_ERRORS,
    NOT_A_MEMBER,
    SLACK_ERRORS,
    SLACK_TROUBLE,
)
from storage import consent
from storage import outbox as store
from storage import replicas as requests
from storage.database import Storage

logger = logging.getLogger(__name__)
T = TypeVar("T")
P = ParamSpec("P")

RETRY_BASE_SECONDS = 2.0
RETRY_MAX_SECONDS = 600.0
GIVE_UP_AFTER = timedelta(hours=48)
IDLE_CHECK_SECONDS = 30.0
# Lanes delivered at once. Each delivery is a few storage jobs and a Slack call; unbounded, a
# polling round that moved 10,000 replicas' progress started 10,000 deliveries together, and
# their storage jobs held /healthz up for seconds. Slack's rate limits allow far fewer anyway.
MAX_DELIVERIES = 16
# A failing database (full disk) is retried sooner than Slack: an operator freeing space
# expects the backlog to move within a minute.
STORAGE_RETRY_BASE_SECONDS = 1.0
STORAGE_RETRY_MAX_SECONDS = 60.0
# How far below Slack's clock (as read from its Date headers) an attempt's ts floor is set:
# Date is whole seconds, and the server stamping a message's ts need not be the one that
# wrote the Date. A wider window only costs reading a few more messages.
FLOOR_MARGIN_SECONDS = 30.0
# Rows put in doubt before attempts were recorded (older versions) are looked for in their
# own channel, this far back from when they were owed (the bot's clock: all there is).
LEGACY_FLOOR_SECONDS = 3600.0


class _Retry(Exception):
    """Try the row again later. `settled`: Slack's answer showed that the row's latest post
    attempt posted nothing, so the row leaves doubt; otherwise any recorded doubt stays."""

    def __init__(self, reason: str, *, settled: bool = False, after: float | None = None) -> None:
        super().__init__(reason)
        self.settled = settled
        self.after = after


class _CannotPostHere(Exception):
    """Slack answered that the bot may not post in, or read, this conversation."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Unrecorded(Exception):
    """A retry the database could not record; it is held in memory for at least `delay`."""

    def __init__(self, delay: float) -> None:
        super().__init__(f"retry in {delay:.1f} s not recorded")
        self.delay = delay


class _Unsettleable(Exception):
    """An attempt in doubt that no answer can settle: posting again could say it twice."""


class _Unreadable:
    """Slack will never let the bot look in that channel (see `_settle`)."""


UNREADABLE = _Unreadable()


@dataclass(frozen=True)
class _Place:
    channel_id: str
    thread_ts: str | None


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


def _backoff(base: float, cap: float, failures: int) -> float:
    """Exponential back-off with ±20 % jitter, so that held rows do not retry in step."""
    return min(cap, base * 2.0 ** min(failures, 30)) * random.uniform(0.8, 1.2)


def _storage_backoff(failures: int) -> float:
    return _backoff(STORAGE_RETRY_BASE_SECONDS, STORAGE_RETRY_MAX_SECONDS, failures)


def _reason(error: SlackApiError) -> str:
    return str(error.response.get("error") or error.response.status_code)


def _retry_after(error: SlackApiError) -> float:
    headers = error.response.headers or {}
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    try:
        return max(0.0, float(str(value)))
    except ValueError:
        return 1.0


def _is_dm(channel_id: str) -> bool:
    return channel_id.startswith("D")


def _is_user(channel_id: str) -> bool:
    return channel_id[:1] in ("U", "W")


def _notice_key(row: store.OutboxRow) -> str:
    return f"{row.key}:moved"


class HomeScreens(Protocol):
    """What a user's App Home shows now (replicas/home.py)."""

    async def view(self, user_id: str) -> View: ...


class OutboxWorker:
    def __init__(
        self,
        storage: Storage,
        notifier: SlackNotifier,
        homes: HomeScreens | None = None,
        *,
        dry_run: bool = False,
        metrics: Metrics | None = None,
    ) -> None:
        self._storage = storage
        self._metrics = metrics if metrics is not None else Metrics()
        self._notifier = notifier
        self._homes = homes
        # TAVUS_DRY_RUN: every message posted or edited carries the dry run's marker.
        self._dry_run = dry_run
        self._wake = asyncio.Event()
        self._busy: dict[store.Lane, asyncio.Task[None]] = {}  # lane -> its delivery
        # Lanes whose last delivery failed in a way the database could not record (it was
        # failing too): lane -> time.monotonic() before which they are left alone, and how
        # many times in a row that happened (the back-off doubles with it).
        self._held: dict[store.Lane, float] = {}
        self._failures: dict[store.Lane, int] = {}
        self._storage_error: str | None = None
        self._storage_error_on_write = False
        # Permalink lookups for the consent record (`_record_permalink`): at most one per
        # request at a time, each beside the lanes, so none holds up a delivery.
        self._permalinks: dict[int, asyncio.Task[None]] = {}

    @property
    def storage_error(self) -> str | None:
        """The last storage error while storage is failing; None once it works again."""
        return self._storage_error

    def wake(self) -> None:
        """New rows were written: look now rather than at the next check."""
        self._wake.set()

    async def run(self) -> None:
        """Deliver due rows until cancelled. Nothing else ends it: a database that cannot be
        read is logged and waited out."""
        failures = 0
        try:
            while True:
                self._wake.clear()
                try:
                    later = await self._start_due()
                except Exception as error:
                    delay = _storage_backoff(failures)
                    failures += 1
                    logger.error(
                        "Could not read the outbox; trying again in %.1f s", delay, exc_info=error
                    )
                    # A plain sleep: wake() (every finished delivery calls it) must not cut
                    # the back-off short, or a failing database would spin this loop.
                    await asyncio.sleep(delay)
                    continue
                failures = 0
                # asyncio.timeout, not wait_for: on 3.11, wait_for can swallow the
                # cancellation that shutdown sends when the event is set at the same moment.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._next_check(later)):
                        await self._wake.wait()
        finally:
            await self._stop_deliveries()

    async def idle(self) -> None:
        """Wait until nothing is due and nothing is being delivered (tests, shutdown)."""
        while True:
            if self._busy or self._permalinks:
                tasks = [*self._busy.values(), *self._permalinks.values()]
                await asyncio.gather(*tasks, return_exceptions=True)
                continue
            rows, _ = await self._read(store.due, datetime.now(UTC), frozenset(), limit=1)
            if not rows:
                return
            self.wake()
            await asyncio.sleep(0.01)

    async def _start_due(self) -> str | None:
        now = time.monotonic()
        for lane in [lane for lane, until in self._held.items() if until <= now]:
            del self._held[lane]
        room = MAX_DELIVERIES - len(self._busy)
        if room <= 0:
            return None  # each delivery that ends wakes the loop to start the next
        skip = frozenset(self._busy) | frozenset(self._held)
        rows, later = await self._read(store.due, datetime.now(UTC), skip, limit=room)
        for row in rows:
            task = asyncio.create_task(self._deliver(row), name=f"deliver {row.key}")
            self._busy[row.lane] = task
            task.add_done_callback(functools.partial(self._done, row.lane))
        return later

    def _next_check(self, later: str | None) -> float:
        """Seconds until a row becomes due, or a held lane may be tried again."""
        delay = IDLE_CHECK_SECONDS
        if later is not None:
            delay = min(delay, max(0.0, _epoch(later) - datetime.now(UTC).timestamp()))
        if self._held:
            delay = min(delay, max(0.0, min(self._held.values()) - time.monotonic()))
        return delay

    def _done(self, lane: store.Lane, task: asyncio.Task[None]) -> None:
        self._busy.pop(lane, None)
        if not task.cancelled() and (error := task.exception()):
            # _deliver lets nothing through; should something still, hold the lane back
            # rather than pick it again at once.
            self._hold(lane, f"lane {lane}", error)
        self.wake()  # the lane's next row may be due

    async def _stop_deliveries(self) -> None:
        """Shutdown: what is in flight stays recorded as in doubt and resumes next start. A
        permalink lookup cut off is tried again at the status message's next delivery."""
        tasks = [*self._busy.values(), *self._permalinks.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- storage, with its failures tracked ---------------------------------------------------

    async def _read(
        self,
        fn: Callable[Concatenate[sqlite_utils.Database, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        return await self._db(False, fn, *args, **kwargs)

    async def _write(
        self,
        fn: Callable[Concatenate[sqlite_utils.Database, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        return await self._db(True, fn, *args, **kwargs)

    async def _db(
        self,
        write: bool,
        fn: Callable[Concatenate[sqlite_utils.Database, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        try:
            result = await self._storage.run(fn, *args, **kwargs)
        except sqlite3.Error as error:
            self._storage_error = str(error) or type(error).__name__
            self._storage_error_on_write = write
            raise
        # Reads still work on a full disk: only a write shows that a failed write is over.
        if write or not self._storage_error_on_write:
            self._storage_error = None
        return result

    # -- one row -------------------------------------------------------------------------------

    async def _deliver(self, row: store.OutboxRow) -> None:
        """One row, inside the boundary that keeps rows apart: whatever goes wrong is logged
        with its traceback and backed off, and neither stops nor spins the loop."""
        try:
            try:
                await self._deliver_row(row)
            except (sqlite3.Error, _Unrecorded):
                raise
            except Exception as error:
                # A bug met by one message: keep it, and any doubt recorded about it, for later.
                logger.exception("Unexpected error delivering %s", row.key)
                await self._retry(row, _Retry(repr(error)))
        except Exception as error:
            # The database could not record what happened: hold the lane back here.
            at_least = error.delay if isinstance(error, _Unrecorded) else 0.0
            self._hold(row.lane, row.key, error, at_least=at_least)
        else:
            self._held.pop(row.lane, None)
            self._failures.pop(row.lane, None)

    def _hold(self, lane: store.Lane, what: str, error: BaseException, at_least: float = 0) -> None:
        failures = self._failures.get(lane, 0)
        self._failures[lane] = failures + 1
        delay = max(at_least, _storage_backoff(failures))
        self._held[lane] = time.monotonic() + delay
        logger.error(
            "Could not deliver or record %s (lane %s); trying again in %.1f s",
            what,
            lane,
            delay,
            exc_info=(error.__cause__ or error) if isinstance(error, _Unrecorded) else error,
        )

    async def _deliver_row(self, row: store.OutboxRow) -> None:
        # A request's rows are rendered from it, a Home from the requests it lists; other
        # lanes' rows carry their message.
        request_id = row.lane.request_id
        record = None
        if request_id is not None:
            record = await self._read(requests.get_request, request_id)
        try:
            if row.lane.kind == store.LaneKind.HOME:
                posted = await self._publish_home(row.lane.owner)
            elif record is not None:
                posted = await self._send(row, record)
            else:
                posted = await self._send_to_user(row)
        except _Retry as retry:
            await self._retry(row, retry)
            return
        except (_CannotPostHere, SlackApiError) as error:
            # Slack will never take this one message (msg_too_long, invalid_blocks, an
            # archived channel to edit in, a DM that is gone…): drop it, and only it.
            reason = _reason(error) if isinstance(error, SlackApiError) else str(error)
            logger.error("Slack refused %s (%s); giving up on it", row.key, reason)
            await self._write(store.mark_failed, row.id, reason)
            self._metrics.delivery("failed")
            return
        except _Unsettleable as error:
            logger.error("Giving up on %s: %s", row.key, error)
            await self._write(store.mark_failed, row.id, str(error))
            self._metrics.delivery("failed")
            return
        await self._write(self._record_sent, row, record, posted)
        self._metrics.delivery("sent")
        if record is not None and row.kind == store.STATUS:
            self._start_permalink(record.id, posted)

    async def _publish_home(self, user_id: str) -> Posted:
        """views.publish: the whole tab, as it is now. Repeating it does no harm, so nothing
        is in doubt."""
        if self._homes is None:
            raise RuntimeError("App Home rows, but no Home renderer")
        view = await self._homes.view(user_id)
        await self._call(self._notifier.publish_home(user_id, view))
        return Posted(user_id, "")

    @staticmethod
    def _record_sent(
        db: Any, row: store.OutboxRow, record: ReplicaRecord | None, posted: Posted
    ) -> None:
        with db.atomic():
            # A post to a user (a DM lane, or a request started from Home, whose channel is
            # the requester's id) is answered with the DM's D… id: later posts there can be
            # checked.
            to_user = row.lane.kind == store.LaneKind.DM or (
                record is not None and _is_user(record.origin.channel_id)
            )
            dm = posted.channel_id if to_user and _is_dm(posted.channel_id) else None
            store.mark_sent(db, row, posted.channel_id, posted.ts, dm_channel_id=dm)
            if record is not None and row.kind == store.STATUS and record.message_ts is None:
                requests.set_root_message(db, record.id, posted.channel_id, posted.ts)

    # -- the root message's permalink, for the consent record ---------------------------------

    def _start_permalink(self, request_id: int, root: Posted) -> None:
        if request_id in self._permalinks:
            return  # one lookup at a time per request: never two POSTED attempts at once
        task = asyncio.create_task(
            self._record_permalink(request_id, root), name=f"permalink of request {request_id}"
        )
        self._permalinks[request_id] = task
        task.add_done_callback(functools.partial(self._permalink_done, request_id))

    def _permalink_done(self, request_id: int, task: asyncio.Task[None]) -> None:
        self._permalinks.pop(request_id, None)
        if not task.cancelled() and (error := task.exception()):
            # Storage failing, most likely: the next delivery of the status message retries.
            logger.error("Could not record the permalink of request %s", request_id, exc_info=error)

    async def _record_permalink(self, request_id: int, root: Posted) -> None:
        """Put the root status message's permalink (chat.getPermalink) in the request's
        consent record, once.

        Asked after each delivery of the status message (its first post, then each edit, one
        per state change) until it is recorded, so a lookup that fails (logged) is tried
        again at the next change, and skipped for good once the request has changed for the
        last time. It runs beside the lanes, after the delivery is recorded: a slow, failing
        or rate-limited lookup never holds up or repeats a message, and `append_once` keeps
        a second lookup from recording a second POSTED."""
        if await self._read(consent.has_event, request_id, ConsentEventKind.POSTED):
            return
        try:
            link = await self._notifier.permalink(root.channel_id, root.ts)
        except SLACK_ERRORS as error:
            reason = _reason(error) if isinstance(error, SlackApiError) else repr(error)
            logger.warning(
                "Could not get the permalink of request %s's status message (%s); trying "
                "again when it next changes",
                request_id,
                reason,
            )
            return
        event = posted_event(
            request_id, requests.utc_now(), channel_id=root.channel_id, ts=root.ts, permalink=link
        )
        await self._write(consent.append_once, event)

    async def _retry(self, row: store.OutboxRow, retry: _Retry) -> None:
        age = datetime.now(UTC) - datetime.fromisoformat(row.created_at)
        if age > GIVE_UP_AFTER:
            logger.error("Giving up on %s after %s: %s", row.key, age, retry)
            await self._write(store.mark_failed, row.id, str(retry))
            self._metrics.delivery("failed")
            return
        delay = retry.after
        if delay is None:
            delay = _backoff(RETRY_BASE_SECONDS, RETRY_MAX_SECONDS, row.attempts)
        logger.warning(
            "Could not deliver %s (%s); retrying in %.1f s",
            row.key,
            retry,
            delay,
        )
        at = datetime.now(UTC) + timedelta(seconds=delay)
        self._metrics.delivery("retried")
        try:
            await self._write(store.retry_later, row.id, at, str(retry), settled=retry.settled)
        except Exception as error:
            # Slack's back-off still applies, now from memory.
            raise _Unrecorded(delay) from error

    async def _send(self, row: store.OutboxRow, record: ReplicaRecord) -> Posted:
        if row.kind == store.STATUS and record.message_ts and record.message_channel_id:
            # An edit is safe to repeat: no doubt to resolve.
            await self._call(
                self._notifier.update(
                    record.message_channel_id,
                    record.message_ts,
                    with_dry_run_note(status_message(record), self._dry_run),
                )
            )
            return Posted(record.message_channel_id, record.message_ts)
        if row.kind == store.STATUS:
            home = _Place(record.origin.channel_id, record.origin.thread_ts)
            message = status_message(record)
        else:
            channel = record.message_channel_id or record.origin.channel_id
            home = _Place(channel, record.reply_thread_ts)
            message = self._reply(row, record)
        return await self._post(row, record, home, message)

    @staticmethod
    def _reply(row: store.OutboxRow, record: ReplicaRecord) -> Message:
        """A reply rendered now, from the request as it is now, telling the state (and its
        reason) that it was owed for: the request may have moved on since."""
        if row.kind == store.REPLY:  # written before lanes, rendered then
            if row.payload is None:
                raise ValueError(f"{row.key}: a reply without its message")
            return Message.from_kwargs(row.payload)
        announced = row.announced()
        if announced is not None:
            record = replace(record, state=announced.state, error_message=announced.error_message)
        return reply_message(row.kind, record)

    async def _send_to_user(self, row: store.OutboxRow) -> Posted:
        """A row of a user's DM lane: posted to the DM's D… id once an earlier answer told it
        (there a doubt can be settled), else to the user id, whose answer tells it."""
        if row.lane.kind != store.LaneKind.DM:
            # A lane a newer version wrote: backed off and kept, like any row not delivered.
            raise RuntimeError(f"{row.key}: no way to deliver lane {row.lane}")
        if row.payload is None:
            raise ValueError(f"{row.key}: a message without its text")
        message = Message.from_kwargs(row.payload)
        user_id = row.lane.owner
        if row.state == "sending":
            target = row.target
            if target is None or _is_user(target.channel_id):
                # Its answer, the one thing that would tell the DM's id, was lost; the DM can
                # only be read by that id (conversations.open would need im:write). Posting
                # again might say it twice: at most once wins, logged.
                raise _Unsettleable(
                    f"cannot check whether it reached {user_id} (the DM's id is not known); "
                    "not posting it twice"
                )
            found = await self._settle(target)
            if isinstance(found, _Unreadable):
                raise _Unsettleable(f"cannot read {target.channel_id}; not posting it twice")
            if found is not None:
                logger.info("%s was already posted (%s); not posting it again", row.key, found.ts)
                return found
        dm = row.dm_channel_id or await self._read(store.known_dm, user_id)
        return await self._attempt(row, _Place(dm or user_id, None), row.key, message)

    async def _post(
        self, row: store.OutboxRow, record: ReplicaRecord, home: _Place, message: Message
    ) -> Posted:
        """Post the row's message at most once: first settle any doubt an earlier attempt
        left, then post at home, or in the requester's DM if home will not take it."""
        moved_from, dm, notice_ts = row.moved_from, row.dm_channel_id, row.notice_ts
        if row.state == "sending":
            target = row.target or self._legacy_target(row, home)
            found = await self._settle(target)
            if isinstance(found, _Unreadable):
                # The bot was removed from the channel (private, or it cannot rejoin), so it
                # cannot look there, and cannot post there either. The lost attempt may be
                # there (it was a member then), so the message goes to the requester's DM:
                # at worst once in each place, never twice in one, and never lost.
                logger.warning(
                    "Cannot check %s for %s any more; sending it to %s's DM instead",
                    target.channel_id,
                    row.key,
                    record.origin.requester_id,
                )
                await self._write(store.move_to_dm, row.id, target.channel_id)
                moved_from = target.channel_id
            elif found is not None and target.key == row.key:
                logger.info("%s was already posted (%s); not posting it again", row.key, found.ts)
                return found
            elif found is not None:  # the DM notice made it; the message is next
                await self._write(store.notice_posted, row, found.channel_id, found.ts)
                dm, notice_ts = found.channel_id, found.ts
            # None: a complete look shows it was not posted; it is posted anew below.
        if moved_from is None:
            joined = False
            while True:
                try:
                    return await self._attempt(row, home, row.key, message)
                except _CannotPostHere as refusal:
                    if _is_dm(home.channel_id):
                        raise  # the requester's DM already: there is nowhere else to go
                    reason = refusal.reason
                if joined or reason not in NOT_A_MEMBER:
                    break
                # The refusal already showed that nothing was posted.
                if not await self._call(self._notifier.join(home.channel_id), settled=True):
                    break
                joined = True
            logger.warning(
                "Cannot post in %s (%s); moving to a DM with %s",
                home.channel_id,
                reason,
                record.origin.requester_id,
            )
            await self._write(store.move_to_dm, row.id, home.channel_id)
            moved_from = home.channel_id
        if notice_ts is None:
            # The DM's D… id (which conversations.history needs to settle a doubt there)
            # comes from the answer to a post in it: conversations.open would need im:write,
            # which the app does not ask for. So the notice goes first, to the DM's id when
            # an earlier answer told it, else to the user id; only if that first answer is
            # lost can the notice be said twice (`_settle`). The message itself always goes
            # to the D… id, where a doubt about it can be settled.
            dm = dm or await self._read(store.known_dm, record.origin.requester_id)
            notice = await self._attempt(
                row,
                _Place(dm or record.origin.requester_id, None),
                _notice_key(row),
                moved_to_dm_notice(moved_from),
            )
            await self._write(store.notice_posted, row, notice.channel_id, notice.ts)
            dm = notice.channel_id
        if dm is None:
            raise RuntimeError(f"{row.key}: DM notice recorded without the DM's id")
        return await self._attempt(row, _Place(dm, None), row.key, message)

    async def _attempt(
        self, row: store.OutboxRow, place: _Place, key: str, message: Message
    ) -> Posted:
        """One chat.postMessage, recorded before it is made (where it goes, and a ts the
        message will be newer than, in Slack's clock): until its answer is recorded, the row
        is in doubt. Only called once no earlier attempt is in doubt."""
        try:
            floor = await self._call(self._notifier.slack_now()) - FLOOR_MARGIN_SECONDS
        except SlackApiError as error:  # auth.test refused: no reason to drop this message
            raise _Retry(f"could not read Slack's clock: {_reason(error)}") from error
        target = store.Target(place.channel_id, place.thread_ts, key, f"{floor:.6f}")
        await self._write(store.claim, row.id, target)
        message = with_dry_run_note(message, self._dry_run)
        return await self._call(
            self._notifier.post(place.channel_id, message, thread_ts=place.thread_ts, key=key),
            posts=True,
        )

    async def _settle(self, target: store.Target) -> Posted | _Unreadable | None:
        """Look for the message of an attempt in doubt: Posted if it is there, None when a
        complete read shows it is not, UNREADABLE when Slack will never let the bot look in
        that channel. Anything else (429, 5xx, no answer, another refusal) raises _Retry,
        and the doubt stays."""
        if _is_user(target.channel_id):
            # A request's row posts only its DM notice to a user id (see _post; a DM lane's
            # own posts never get here, _send_to_user), and its lost answer was the one way
            # to learn the DM's id: post the notice again.
            logger.warning(
                "Cannot check whether %s reached %s (no DM id yet); saying it again",
                target.key,
                target.channel_id,
            )
            return None
        try:
            return await self._find(target)
        except _CannotPostHere as refusal:
            if _is_dm(target.channel_id):
                raise  # the DM itself is gone: nothing can be delivered there
            reason = refusal.reason
        # Removed from a public channel: joining lets the bot look (and post) again.
        if reason in NOT_A_MEMBER and await self._call(self._notifier.join(target.channel_id)):
            with contextlib.suppress(_CannotPostHere):
                return await self._find(target)
        return UNREADABLE

    async def _find(self, target: store.Target) -> Posted | None:
        try:
            return await self._call(
                self._notifier.find(target.channel_id, target.thread_ts, target.key, target.floor)
            )
        except SlackApiError as error:
            # No answer that settles it (e.g. invalid_cursor, thread_not_found): keep the doubt.
            reason = _reason(error)
            raise _Retry(f"could not check whether {target.key} was posted: {reason}") from error

    @staticmethod
    def _legacy_target(row: store.OutboxRow, home: _Place) -> store.Target:
        """The attempt of a row put in doubt by a version that did not record attempts."""
        floor = _epoch(row.created_at) - LEGACY_FLOOR_SECONDS
        return store.Target(home.channel_id, home.thread_ts, row.key, f"{floor:.6f}")

    @staticmethod
    async def _call(call: Awaitable[T], *, posts: bool = False, settled: bool = False) -> T:
        """Await a Slack call, turning failures worth another try into _Retry.

        `posts`: the call is the row's latest post, so an error answer (Slack did not take
        it) settles that nothing was posted, while no answer or a 5xx never does.
        `settled`: the row is out of doubt whatever this call does."""
        try:
            return await call
        except SlackApiError as error:
            status = error.response.status_code
            reason = _reason(error)
            if status == 429 or reason == "ratelimited":
                raise _Retry(
                    "rate limited", settled=settled or posts, after=_retry_after(error)
                ) from error
            if status >= 500 or reason in SLACK_TROUBLE:
                raise _Retry(f"Slack answered {status} {reason}", settled=settled) from error
            # An operator can fix it (a new token, a reinstall): keep the message until then.
            if reason in CREDENTIAL_ERRORS:
                logger.error(
                    "Slack refused the bot's token or scopes: %s (check SLACK_BOT_TOKEN and "
                    "the app's installation)",
                    reason,
                )
                raise _Retry(f"Slack answered {reason}", settled=settled or posts) from error
            if reason in CANNOT_POST_HERE:
                raise _CannotPostHere(reason) from error
            raise
        except SLACK_ERRORS as error:  # no answer (or no usable one) from Slack
            raise _Retry(f"no answer from Slack: {error!r}", settled=settled) from error
