"""Callbacks waiting for Tavus's GET to confirm them, checked a few at a time.

A callback's result is recorded before Tavus gets its answer, and announced only once
`GET /v2/replicas/{id}` agrees (the body is unsigned). A burst of callbacks (Tavus catching up
after an outage) must not become a burst of as many tasks and GETs at once: the requests
waiting are kept as data, one entry per request (a second callback for it while it waits adds
nothing), and at most `CONCURRENT_CONFIRMATIONS` workers take them in turn.

What waits lives in memory only. A restart loses nothing: the callback is recorded, the
request is still open, and the poller's next round confirms it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from replicas.supervisor import Supervisor

CONCURRENT_CONFIRMATIONS = 8  # as many GETs at once as a polling round makes


class Confirmations:
    def __init__(
        self,
        supervisor: Supervisor,
        check: Callable[[int, str], Awaitable[Any]],
        *,
        concurrency: int = CONCURRENT_CONFIRMATIONS,
    ) -> None:
        """`check(request_id, replica_id)`: ask Tavus and record what it says."""
        self._supervisor = supervisor
        self._check = check
        self._concurrency = concurrency
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
                request_id = next(iter(self._waiting))
                replica_id = self._waiting.pop(request_id)
                try:
                    await self._check(request_id, replica_id)
                except Exception as error:
                    # One request's failure is its own: the poller tries it again.
                    self._supervisor.failed(f"confirm callback {request_id}", error)
        finally:
            self._workers -= 1
