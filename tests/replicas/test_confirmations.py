"""Callbacks waiting for confirmation: a few GETs at a time, one per request, each failing on
its own, and each giving way to callbacks being answered."""

from __future__ import annotations

import asyncio
import time

import pytest

from replicas import confirmations as confirmations_module
from replicas.confirmations import Answering, Confirmations
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


# -- answers first -------------------------------------------------------------------------


async def test_with_no_callback_answered_lately_a_worker_goes_on_at_once() -> None:
    answering = Answering()
    started = time.monotonic()
    await answering.give_way(at_most=1.0, quiet=0.5)
    assert time.monotonic() - started < 0.05


async def test_a_worker_waits_for_a_pause_in_the_answers_then_goes_on() -> None:
    answering = Answering()
    ended: list[float] = []

    async def answer(seconds: float) -> None:
        with answering.one():
            await asyncio.sleep(seconds)
        ended.append(time.monotonic())

    answers = [asyncio.create_task(answer(0.05)), asyncio.create_task(answer(0.1))]
    await asyncio.sleep(0)
    assert answering.in_flight == 2
    await answering.give_way(at_most=2.0, quiet=0.02)
    gone_on = time.monotonic()
    await asyncio.gather(*answers)

    assert answering.in_flight == 0
    # After the last answer and a quiet moment, long before at_most.
    assert ended[-1] + 0.02 <= gone_on + 0.001 < ended[-1] + 0.5


async def test_answers_that_never_let_up_hold_a_worker_back_only_so_long() -> None:
    answering = Answering()
    with answering.one():
        started = time.monotonic()
        await answering.give_way(at_most=0.05, quiet=0.01)
        waited = time.monotonic() - started
    assert 0.05 <= waited + 0.001 < 0.5


async def test_confirmations_wait_while_callbacks_are_being_answered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Long enough that a slow machine's sleep below never outlasts it.
    monkeypatch.setattr(confirmations_module, "YIELD_AT_MOST_SECONDS", 10.0)
    supervisor, tavus = Supervisor(), SlowTavus()
    answering = Answering()
    confirmations = Confirmations(supervisor, tavus.check, concurrency=2, answering=answering)

    with answering.one():
        for n in range(3):
            confirmations.ask(n, f"r{n}")
        await asyncio.sleep(0.02)
        assert tavus.checked == []  # not while the answer is being written
        assert confirmations.waiting == 3
    await supervisor.idle()

    assert sorted(tavus.checked) == [(n, f"r{n}") for n in range(3)]
