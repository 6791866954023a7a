"""The poller: asks Tavus about every open request, soon after start-up and then every
POLL_INTERVAL_SECONDS, so a lost callback (or none at all, without PUBLIC_URL) loses nothing.

It is a door like the others: each round asks the workflow to move every open request on
(`ReplicaWorkflow.reconcile_request`), each on its own, then to resolve ambiguous creates.

A round is paced: the open requests are read and checked BATCH at a time, and after each batch
the round pauses as long as the batch took (as storage/retention.py does), so the event loop
and the database thread spend at most about half of a round's time on it. Slack's requests and
Tavus's callbacks that come meanwhile then mostly find both free, as does the outbox worker:
a round over 10,000 training replicas takes longer (0.6 -> 1.7 s in bench/polling.py), and
/replica answered during its checks is about as fast as when the bot is idle.
"""

from __future__ import annotations

import asyncio
import logging
import random
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from domain.record import ReplicaRecord
from domain.states import State
from replicas.metrics import Metrics
from replicas.workflow import ReplicaWorkflow
from tavus.errors import TavusAuthError, TavusError, TavusServerError, TavusUnreachableError
from tavus.listing import PageHook, ReplicaListing

logger = logging.getLogger(__name__)

FIRST_ROUND_SECONDS = 2.0  # soon after start-up, once Slack and Tavus checks have gone out
JITTER = 0.1  # ±10 %, so several bots (or restarts) do not poll in step
MAX_BACKOFF_SECONDS = 3600.0
MAX_SKIPPED_ROUNDS = 12  # a request that keeps failing is still tried about every hour
CONCURRENT_CHECKS = 8  # requests checked at once: GETs to confirm results, database writes
BATCH = 16  # requests read and checked per step. A batch's read holds the database thread
# (and with it the GIL, building records) and its checks hold the event loop for ~0.3 ms at
# this size, so a /replica that meets one waits about that long. In bench/polling.py, at 64
# (~1.1 ms each) /replica's p99 during the checks was 1.4-1.9x an idle bot's, at 16 1.0-1.25x;
# at 256 a batch held either for ~30 ms. A round never holds 10,000 tasks at once either.


def next_delay(interval: float, failures: int) -> float:
    """Seconds to the next round: the interval with jitter, doubled per failed round."""
    # 2.0 ** 30 bounds the float: weeks of failed rounds must not overflow and end the loop.
    delay = interval * 2.0 ** min(failures, 30)
    return min(max(delay, interval), max(MAX_BACKOFF_SECONDS, interval)) * random.uniform(
        1 - JITTER, 1 + JITTER
    )


class Reconciler:
    def __init__(
        self,
        workflow: ReplicaWorkflow,
        interval_seconds: float,
        first_round_seconds: float = FIRST_ROUND_SECONDS,
        metrics: Metrics | None = None,
        *,
        pause: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        cpu_clock: Callable[[], float] = time.thread_time,
    ) -> None:
        """`pause`, `clock` and `cpu_clock` pace a round (tests pass their own): after each
        batch, `pause(seconds the batch took, by clock)`; after each page of the listing,
        `pause(seconds of CPU the event loop's thread spent meanwhile, by cpu_clock)`."""
        self._workflow = workflow
        self._pause = pause
        self._clock = clock
        self._cpu_clock = cpu_clock
        self._metrics = metrics if metrics is not None else Metrics()
        self._interval = interval_seconds
        self._first = min(first_round_seconds, interval_seconds)
        self.rounds = 0  # completed rounds, for the health check and tests
        # Requests whose polling failed unexpectedly: failures so far, and rounds to skip.
        self._failures: dict[int, int] = {}
        self._skips: dict[int, int] = {}

    async def run(self) -> None:
        """Poll until cancelled. No error ends the loop: a failed round is logged and the
        next one comes later."""
        await asyncio.sleep(self._first)
        failures = 0
        while True:
            try:
                await self.round()
            except TavusError as error:
                failures += 1
                logger.warning("Tavus is unavailable for polling (%s); backing off", error)
            except Exception:
                failures += 1
                logger.exception("A polling round failed; backing off")
            else:
                failures = 0
            self.rounds += 1
            await asyncio.sleep(next_delay(self._interval, failures))

    async def round(self) -> None:
        """One round (`_round`), timed and counted."""
        with self._metrics.polling_round():
            await self._round()

    async def _round(self) -> None:
        """Every open request once, each on its own: one request's fault is logged with its
        traceback and that request is skipped for a growing number of rounds, while the
        others go on. Raises TavusError when Tavus was unavailable, so the loop backs off."""
        unavailable: TavusError | None = None
        consent = self._workflow.consent
        # First the deletions asked for (consent withdrawn): before a replica being deleted
        # could be announced as ready.
        for record in await consent.pending_deletions():
            if self._skipped(record.id):
                continue
            try:
                await consent.delete_at_tavus(record)
            except (TavusServerError, TavusUnreachableError, TavusAuthError) as error:
                unavailable = error
            except TavusError as error:
                logger.warning("Could not delete the replica of request %s: %s", record.id, error)
            except sqlite3.Error:
                raise
            except Exception:
                self._failed(record.id)
        # One listing of the account (a page per 100 replicas) instead of one GET per replica:
        # training still going on is read from it; results are confirmed one by one. Read
        # once, when the first request that needs it comes.
        listing: ReplicaListing | None = None
        asked = False
        limit = asyncio.Semaphore(CONCURRENT_CHECKS)

        async def reconcile(record: ReplicaRecord) -> TavusError | None:
            async with limit:
                # Read from the listing here, a batch at a time (tavus/listing.py).
                replica = listing.get(record.replica_id or "") if listing is not None else None
                try:
                    await self._workflow.reconcile_request(record, replica)
                except (TavusServerError, TavusUnreachableError, TavusAuthError) as error:
                    return error
                except TavusError as error:
                    logger.warning("Could not check request %s with Tavus: %s", record.id, error)
                except sqlite3.Error:
                    raise  # the database fails every request alike: the round backs off
                except Exception:
                    self._failed(record.id)
                else:
                    self._failures.pop(record.id, None)
                return None

        # A batch's time: from the end of the previous pause (its read of the database is in
        # _open_batches) to the end of its checks.
        started = self._clock()
        async for records in self._open_batches():
            if not asked and any(r.replica_id or r.state is State.UNCERTAIN for r in records):
                asked = True
                listing_began = self._clock()
                try:
                    listing = await self._workflow.list_replicas(self._page_pacer())
                except (TavusServerError, TavusUnreachableError, TavusAuthError):
                    raise  # Tavus is unavailable: the round backs off
                except TavusError as error:
                    logger.warning("Could not list replicas (%s); asking about each instead", error)
                # Paced page by page instead (_page_pacer), not as a batch.
                started += self._clock() - listing_began
            found = await asyncio.gather(*(reconcile(r) for r in records))
            unavailable = next((error for error in found if error is not None), unavailable)
            await self._pause(self._clock() - started)
            started = self._clock()
        await consent.expire_overdue()
        if unavailable is not None:
            raise unavailable
        await self._workflow.resolve_uncertain(listing, self._page_pacer())

    def _page_pacer(self) -> PageHook:
        """What the listing awaits after each page: a pause as long as the CPU time the event
        loop's thread spent since the last, not the wall time. Against the real API a page is
        mostly waiting for Tavus: a pause as long would idle a round for seconds, while this
        one is ~0.3 ms a page. Unpaced, the pages came back to back, and /replica answered
        meanwhile waited behind each: its p99 during the listing was 5.5 ms, 3.9-4.5 ms when
        paced, against 2.7-3.2 ms of an idle bot (bench/polling.py, 24 rounds). The CPU time
        counted is the thread's, other tasks' included: the busier the bot, the longer the
        listing gives way, up to about doubling its time."""
        began = self._cpu_clock()

        async def after_each_page() -> None:
            nonlocal began
            await self._pause(self._cpu_clock() - began)
            began = self._cpu_clock()

        return after_each_page

    async def _open_batches(self) -> AsyncIterator[list[ReplicaRecord]]:
        """The open requests not skipped this round, oldest first, BATCH at a time. The event
        loop runs other work between batches (each one's checks are gathered and awaited),
        so a round over 10,000 requests is many short steps, never one long one."""
        # Ids first (one short read of the state index), then each batch's records: every
        # storage job is short, so /healthz and Slack's requests never wait behind a round.
        ids = await self._workflow.open_request_ids()
        for start in range(0, len(ids), BATCH):
            wanted = [i for i in ids[start : start + BATCH] if not self._skipped(i)]
            if wanted and (batch := await self._workflow.open_requests_among(wanted)):
                yield batch

    def _skipped(self, request_id: int) -> bool:
        left = self._skips.get(request_id, 0)
        if left:
            self._skips[request_id] = left - 1
        return left > 0

    def _failed(self, request_id: int) -> None:
        failures = self._failures.get(request_id, 0) + 1
        self._failures[request_id] = failures
        skips = min(2 ** min(failures, 10) - 1, MAX_SKIPPED_ROUNDS)  # 1, 3, 7, then 12
        logger.exception(
            "Polling request %s failed (%d time(s)); skipping it for %d round(s)",
            request_id,
            failures,
            skips,
        )
        self._skips[request_id] = skips
