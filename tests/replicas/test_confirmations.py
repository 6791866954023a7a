"""Callbacks waiting for confirmation: a few GETs at a time, one per request, each failing on
its own."""

from __future__ import annotations

import asyncio

import pytest

from replicas.confirmations import Confirmations
from replicas.supervisor import Supervisor


class SlowTavus:
    """Counts the confirmations in flight at once; fails for the replica named "bad"."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.most = 0
        self.checked: list[tuple[int, str]] = []

    async def check(self, request_id: int, replica_id: str) -> None:
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        try:
            await asyncio.sleep(0.001)
            if replica_id == "bad":
                raise RuntimeError("Tavus broke")
            self.checked.append((request_id, replica_id))
        finally:
            self.in_flight -= 1


async def test_a_burst_is_confirmed_a_few_at_a_time_and_every_one_is() -> None:
    supervisor, tavus = Supervisor(), SlowTavus()
    confirmations = Confirmations(supervisor, tavus.check, concurrency=4)

    for n in range(200):
        confirmations.ask(n, f"r{n}")
    await supervisor.idle()

    assert tavus.most == 4
    assert sorted(tavus.checked) == [(n, f"r{n}") for n in range(200)]
    assert confirmations.waiting == 0


async def test_callbacks_repeated_while_waiting_are_confirmed_once() -> None:
    supervisor, tavus = Supervisor(), SlowTavus()
    confirmations = Confirmations(supervisor, tavus.check, concurrency=1)

    confirmations.ask(1, "r1")  # taken at once by the one worker
    for _ in range(5):
        confirmations.ask(2, "r2")
    await supervisor.idle()

    assert tavus.checked == [(1, "r1"), (2, "r2")]


async def test_one_failure_is_logged_and_the_others_are_still_confirmed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    supervisor, tavus = Supervisor(), SlowTavus()
    confirmations = Confirmations(supervisor, tavus.check, concurrency=1)

    confirmations.ask(1, "bad")
    confirmations.ask(2, "r2")
    await supervisor.idle()

    assert tavus.checked == [(2, "r2")]
    assert "confirm callback 1 failed" in caplog.text
    assert "Tavus broke" in caplog.text


async def test_work_asked_for_after_the_workers_stopped_starts_them_again() -> None:
    supervisor, tavus = Supervisor(), SlowTavus()
    confirmations = Confirmations(supervisor, tavus.check, concurrency=2)

    confirmations.ask(1, "r1")
    await supervisor.idle()
    confirmations.ask(2, "r2")
    await supervisor.idle()

    assert tavus.checked == [(1, "r1"), (2, "r2")]
