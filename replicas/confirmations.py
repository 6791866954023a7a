"""Callbacks waiting for Tavus's GET to confirm them, checked a few at a time.

A callback's result is recorded before Tavus gets its answer, and announced only once
`GET /v2/replicas/{id}` agrees (the body is unsigned). A burst of callbacks (Tavus catching up
after an outage) must not become a burst of as many tasks and GETs at once: the requests
waiting are kept as data, one entry per request (a second callback for it while it waits adds
nothing), and at most `CONCURRENT_CONFIRMATIONS` workers take them in turn.

What waits lives in memory only. A restart loses nothing: the callback is recorded, the
request is still open, and the poller's next round confirms it.

Answers come first. While callbacks are being answered, a worker waits before its next GET
until none has been for a moment (`QUIET_SECONDS`), or at most `YIELD_AT_MOST_SECONDS`:
confirming shares the one event loop with answering, and in a burst (bench/callbacks.py, 32
in flight) eight workers took enough of it to hold answers to 0.4 of the floor's rate.
Against the real API a GET waits on the network far more than it uses the loop, so the
workers are not fewer; they give way. Callbacks at a human pace delay a GET by 5 ms at most.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from replicas.supervisor import Supervisor

CONCURRENT_CONFIRMATIONS = 8  # as many GETs at once as a polling round makes
# The longest a worker gives way to answers: under callbacks that never let up, each worker
# still confirms one every this often (8 workers: 80 a second).
YIELD_AT_MOST_SECONDS = 0.1
# How long without a callback being answered counts as a pause in them: between two callbacks
# sent back to back on a kept-alive connection there is well under a millisecond.
QUIET_SECONDS = 0.005


class Answering:
    """Callbacks being answered right now, for background work to give way to."""

    def __init__(self) -> None:
        self._in_flight = 0
        self._none = asyncio.Event()
        self._none.set()
        self._last_answered = -math.inf  # time.monotonic(), as the event loop's clock

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @contextlib.contextmanager
    def one(self) -> Iterator[None]:
        """Around answering one callback."""
        self._in_flight += 1
        self._none.clear()
        try:
            yield
        finally:
            self._in_flight -= 1
            self._last_answered = time.monotonic()
            if not self._in_flight:
                self._none.set()

    async def give_way(self, at_most: float | None = None, quiet: float | None = None) -> None:
        """Return once no callback has been answered for `quiet` seconds (at once if none
        was lately), or after `at_most` seconds (by default the module's settings)."""
        at_most = YIELD_AT_MOST_SECONDS if at_most is None else at_most
        quiet = QUIET_SECONDS if quiet is None else quiet
        deadline = time.monotonic() + at_most
        while (left := deadline - time.monotonic()) > 0:
            if self._in_flight:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(left):
                        await self._none.wait()
                continue
            calm = time.monotonic() - self._last_answered
            if calm >= quiet:
                return
            await asyncio.sleep(min(quiet - calm, left))


class Confirmations:
    def __init__(
        self,
        supervisor: Supervisor,
        check: Callable[[int, str], Awaitable[Any]],
        *,
        concurrency: int = CONCURRENT_CONFIRMATIONS,
        answering: Answering | None = None,
    ) -> None:
        """`check(request_id, replica_id)`: ask Tavus and record what it says; given
        `answering`, each check first gives way to callbacks being answered."""
        self._supervisor = supervisor
        self._check = check
        self._concurrency = concurrency
        self._answering = answering if answering is not None else Answering()
        self._waiting: dict[int, str] = {}  # request id -> the replica its callback named
        self._workers = 0

    @property
    def waiting(self) -> int:
        """Requests waiting for a worker (metrics, tests)."""
        return len(self._waiting)

    def ask(self, request_id: int, replica_id: str) -> None:
        """Confirm the request's callback soon."""
        self._waiting[request_id] = replica_id
        if self._workers < self._concurrency:
            self._workers += 1
            self._supervisor.spawn(self._work(), "confirm callbacks")

    async def _work(self) -> None:
        try:
            while self._waiting:
                await self._answering.give_way()
                if not self._waiting:
                    break  # another worker took the last one meanwhile
                request_id = next(iter(self._waiting))
                replica_id = self._waiting.pop(request_id)
                try:
                    await self._check(request_id, replica_id)
                except Exception as error:
                    # One request's failure is its own: the poller tries it again.
                    self._supervisor.failed(f"confirm callback {request_id}", error)
        finally:
            self._workers -= 1
