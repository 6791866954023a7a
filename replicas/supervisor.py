"""Every background task of the bot, in one place.

Two kinds: finite work started after Slack or Tavus has been answered (submitting a request,
confirming a callback, start-up checks), whose failure is logged rather than lost; and loops
that run for the bot's lifetime (outbox, poller, media sweep), watched so that a loop that ends
is logged loudly and fails readiness, never silently. Shutdown stops the loops, gives the
finite work a grace period, then cancels what is left.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from replicas.metrics import Metrics

logger = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 3600.0


class Supervisor:
    def __init__(self, metrics: Metrics | None = None) -> None:
        self._metrics = metrics if metrics is not None else Metrics()
        self._work: set[asyncio.Task[Any]] = set()
        self._loops: dict[str, asyncio.Task[None]] = {}

    # -- finite work ---------------------------------------------------------------------------

    def spawn(self, work: Coroutine[Any, Any, Any], what: str) -> None:
        """Run `work` in the background; its failure is logged with its traceback."""
        task = asyncio.get_running_loop().create_task(work, name=what)
        self._work.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._work.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            self.failed(task.get_name(), error)

    def failed(self, what: str, error: BaseException) -> None:
        """A piece of background work failed (and the work around it goes on): counted and
        logged with its traceback."""
        self._metrics.background_failure()
        logger.error("%s failed", what, exc_info=error)

    async def idle(self) -> None:
        """Wait until no finite work is left (tests, shutdown)."""
        while self._work:
            await asyncio.gather(*self._work, return_exceptions=True)

    async def close(self, grace_seconds: float = 5.0) -> None:
        """Shutdown: stop the loops, give finite work `grace_seconds`, then cancel it. A create
        cancelled in flight stays recorded as sent, and is reconciled at the next start."""
        await self.stop_loops()
        if not self._work:
            return
        _, pending = await asyncio.wait(set(self._work), timeout=grace_seconds)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    # -- loops ---------------------------------------------------------------------------------

    def start_loop(self, name: str, loop: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(loop, name=name)
        task.add_done_callback(_loop_ended)
        self._loops[name] = task

    def stopped_loops(self) -> list[str]:
        """The loops that have ended (for any reason): each one is work nobody is doing."""
        return [name for name, task in self._loops.items() if task.done()]

    async def stop_loops(self) -> None:
        tasks = list(self._loops.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _loop_ended(task: asyncio.Task[None]) -> None:
    """A loop that should run for the bot's lifetime stopped: say so loudly."""
    if task.cancelled():
        return
    error = task.exception()
    logger.critical("Background loop %s stopped", task.get_name(), exc_info=error)


async def every(seconds: float, work: Callable[[], Awaitable[object]], what: str) -> None:
    """Run `work` now and then every `seconds`, forever. A failed round, whatever the error,
    is logged with its traceback and the next one waits longer (doubling, up to an hour)."""
    failures = 0
    while True:
        try:
            await work()
        except Exception:
            failures += 1
            logger.exception("%s failed; trying again later", what)
        else:
            failures = 0
        # 2.0 ** 30 bounds the float: a loop failing for weeks must not overflow and end.
        delay = seconds * 2.0 ** min(failures, 30)
        await asyncio.sleep(min(delay, max(seconds, MAX_BACKOFF_SECONDS)))
