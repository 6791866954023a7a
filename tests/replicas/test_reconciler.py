from __future__ import annotations

import asyncio
from typing import cast

import pytest

from domain.record import ReplicaRecord
from domain.request import Mode, ReplicaRequest, SlackOrigin
from domain.states import State
from replicas.reconciler import BATCH, MAX_BACKOFF_SECONDS, Reconciler, next_delay
from replicas.workflow import ReplicaWorkflow
from tavus.listing import ListedReplica, PageHook, ReplicaListing


@pytest.mark.parametrize("failures", [0, 1, 3, 20])
def test_next_delay_jitters_and_backs_off(failures: int) -> None:
    delays = [next_delay(300, failures) for _ in range(200)]
    base = min(300 * 2**failures, MAX_BACKOFF_SECONDS)
    assert all(base * 0.9 <= d <= base * 1.1 for d in delays)
    assert len(set(delays)) > 1  # jitter: bots polling together drift apart


def test_an_interval_longer_than_the_cap_is_kept() -> None:
    assert next_delay(7200, 3) >= 7200 * 0.9


def test_weeks_of_failed_rounds_never_overflow_the_delay() -> None:
    # 2 ** 1100 as a float overflows: the poller would end instead of backing off.
    assert next_delay(300, 1100) <= MAX_BACKOFF_SECONDS * 1.1


class _Clock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# Seconds each step of a round takes by a _Clock: reading the open ids, reading a batch of
# records, listing the account's replicas, checking one request.
COSTS = {"ids": 0.5, "batch": 3.0, "listing": 100.0, "check": 0.01}
# The listing's pages, and the CPU time (by a _Clock of its own) the event loop's thread
# spends on each.
PAGES = 3
CPU_PER_PAGE = 0.002


class _Workflow:
    """Just what a round asks of the workflow: many requests training, nothing to do. With a
    clock, each step takes the seconds in COSTS."""

    def __init__(
        self,
        count: int,
        ticks: list[int],
        clock: _Clock | None = None,
        cpu_clock: _Clock | None = None,
    ) -> None:
        self.records = [_training(n) for n in range(1, count + 1)]
        self._cpu_clock = cpu_clock
        self.resolving_paced = False
        self.consent = self
        self.seen: list[tuple[int, int, bool]] = []  # request, tick, listed
        self._ticks = ticks
        self._clock = clock

    def _takes(self, step: str) -> None:
        if self._clock is not None:
            self._clock.now += COSTS[step]

    async def pending_deletions(self) -> list[ReplicaRecord]:
        return []

    async def expire_overdue(self) -> None:
        return None

    async def open_requests(self) -> list[ReplicaRecord]:
        return list(self.records)

    # The same, a batch at a time (the read proposed for the reconciler in issue 13).
    async def open_request_ids(self) -> list[int]:
        self._takes("ids")
        return [record.id for record in self.records]

    async def open_requests_among(self, ids: list[int]) -> list[ReplicaRecord]:
        self._takes("batch")
        wanted = set(ids)
        return [record for record in self.records if record.id in wanted]

    async def list_replicas(self, after_each_page: PageHook | None = None) -> ReplicaListing:
        for _ in range(PAGES):
            self._takes("listing")
            if self._cpu_clock is not None:
                self._cpu_clock.now += CPU_PER_PAGE
            if after_each_page is not None:
                await after_each_page()
        return ReplicaListing.of(_listed(record.replica_id or "") for record in self.records)

    async def reconcile_request(self, record: ReplicaRecord, listed: ListedReplica | None) -> None:
        self._takes("check")
        self.seen.append((record.id, self._ticks[0], listed is not None))

    async def resolve_uncertain(
        self, listing: ReplicaListing | None, after_each_page: PageHook | None = None
    ) -> None:
        # A listing it reads itself (the round's failed) is paced as the round's would be.
        self.resolving_paced = after_each_page is not None


def _training(request_id: int) -> ReplicaRecord:
    return ReplicaRecord(
        id=request_id,
        state=State.TRAINING,
        request=ReplicaRequest(
            replica_name=f"Replica {request_id}",
            mode=Mode.VIDEO,
            train_video_url="https://media.example/jane.mp4",
        ),
        origin=SlackOrigin(requester_id="U1", channel_id="C1", team_id="T1"),
        created_at="2026-03-01T09:30:00.000+00:00",
        replica_id=f"r{request_id}",
    )


def _listed(replica_id: str) -> ListedReplica:
    return ListedReplica(
        replica_id=replica_id,
        replica_name="x",
        status="training",
        created_at=None,
        training_progress="1/100",
    )


async def test_a_big_round_lets_other_work_run_between_batches() -> None:
    ticks = [0]  # how often another task got the event loop

    async def other_work() -> None:
        while True:
            ticks[0] += 1
            await asyncio.sleep(0)

    workflow = _Workflow(3 * BATCH + 1, ticks)
    reconciler = Reconciler(cast(ReplicaWorkflow, workflow), interval_seconds=60)
    ticker = asyncio.create_task(other_work())
    try:
        await reconciler.round()
    finally:
        ticker.cancel()

    assert [request for request, _, _ in workflow.seen] == list(range(1, 3 * BATCH + 2))
    assert all(listed for _, _, listed in workflow.seen)  # each found in the one listing
    firsts = [workflow.seen[n][1] for n in range(0, 3 * BATCH + 1, BATCH)]
    # The other task ran before each batch began, so no batch waited for the whole round.
    assert firsts == sorted(set(firsts))
    assert len(firsts) == 4


async def test_every_batch_is_followed_by_a_pause_as_long_as_it_took() -> None:
    # The event loop and the database thread spend at most about half a round on it, so
    # Slack's requests during a round of 10,000 find them free (bench/polling.py).
    clock, cpu_clock = _Clock(), _Clock()
    workflow = _Workflow(2 * BATCH + 1, [0], clock, cpu_clock)
    pauses: list[float] = []

    async def pause(seconds: float) -> None:
        pauses.append(seconds)
        clock.now += seconds  # nothing the round does is counted in the next batch's time
        cpu_clock.now += 0.5  # other work meanwhile, not counted in the next page's time

    reconciler = Reconciler(
        cast(ReplicaWorkflow, workflow),
        interval_seconds=60,
        pause=pause,
        clock=clock,
        cpu_clock=cpu_clock,
    )
    await reconciler.round()

    assert len(workflow.seen) == 2 * BATCH + 1
    assert workflow.resolving_paced
    full = COSTS["batch"] + BATCH * COSTS["check"]
    assert pauses == pytest.approx(
        [
            # The listing, read for the first batch, is paced page by page by the CPU time
            # each took, not by the seconds it waited for Tavus…
            *[CPU_PER_PAGE] * PAGES,
            COSTS["ids"] + full,  # …and the first batch's time includes reading the ids…
            full,  # …but not the listing
            COSTS["batch"] + COSTS["check"],  # the one request left
        ]
    )
