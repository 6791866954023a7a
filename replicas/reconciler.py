"""The poller: asks Tavus about every open request, soon after start-up and then every
POLL_INTERVAL_SECONDS, so a lost callback (or none at all, without PUBLIC_URL) loses nothing.

It is a door like the others: each round asks the workflow to move every open request on
(`ReplicaWorkflow.reconcile_request`), each on its own, then to resolve ambiguous creates.
"""

from __future__ import annotations

import asyncio
import logging
import random
import sqlite3
from collections.abc import AsyncIterator

from domain.record import ReplicaRecord
from domain.states import State
from replicas.metrics import Metrics
from replicas.workflow import ReplicaWorkflow
from tavus.client import ListedReplica
from tavus.errors import TavusAuthError, TavusError, TavusServerError, TavusUnreachableError

logger = logging.getLogger(__name__)

FIRST_ROUND_SECONDS = 2.0  # soon after start-up, once Slack and Tavus checks have gone out
JITTER = 0.1  # ±10 %, so several bots (or restarts) do not poll in step
MAX_BACKOFF_SECONDS = 3600.0
MAX_SKIPPED_ROUNDS = 12  # a request that keeps failing is still tried about every hour
CONCURRENT_CHECKS = 8  # requests checked at once: GETs to confirm results, database writes
BATCH = 64  # requests per gather: a round of 10,000 never holds 10,000 tasks at once, and
# never runs more than a batch's worth of work on the event loop (or the database thread)
# without yielding; at 256 a batch held either for ~30 ms (bench/polling.py)


async def _by_replica_id(listing: list[ListedReplica]) -> dict[str, ListedReplica]:
    """The listing by replica id, built BATCH entries at a time with a yield between: an
    account with tens of thousands of replicas is not indexed in one step of the loop."""
    listed: dict[str, ListedReplica] = {}
    for start in range(0, len(listing), BATCH):
        if start:
            await asyncio.sleep(0)
        listed.update((replica.replica_id, replica) for replica in listing[start : start + BATCH])
    return listed


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
    ) -> None:
        self._workflow = workflow
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
        listing: list[ListedReplica] | None = None
        listed: dict[str, ListedReplica] = {}
        asked = False
        limit = asyncio.Semaphore(CONCURRENT_CHECKS)

        async def reconcile(record: ReplicaRecord) -> TavusError | None:
            async with limit:
                replica = listed.get(record.replica_id or "") if listing is not None else None
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

        async for records in self._open_batches():
            if not asked and any(r.replica_id or r.state is State.UNCERTAIN for r in records):
                asked = True
                try:
                    listing = await self._workflow.list_replicas()
                except (TavusServerError, TavusUnreachableError, TavusAuthError):
                    raise  # Tavus is unavailable: the round backs off
                except TavusError as error:
                    logger.warning("Could not list replicas (%s); asking about each instead", error)
                listed = await _by_replica_id(listing or [])
            found = await asyncio.gather(*(reconcile(r) for r in records))
            unavailable = next((error for error in found if error is not None), unavailable)
        await consent.expire_overdue()
        if unavailable is not None:
            raise unavailable
        await self._workflow.resolve_uncertain(listing)

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
