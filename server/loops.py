"""The bot's background loops (outbox, poller, media sweep): started together, stopped
together, and watched, so that a loop that ends is a readiness failure, never a silent one."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

logger = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 3600.0


class Loops:
    """Tasks meant to run for the bot's lifetime, by name."""

    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, name: str, loop: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(loop, name=name)
        task.add_done_callback(_ended)
        self._tasks[name] = task

    @property
    def names(self) -> list[str]:
        return list(self._tasks)

    def stopped(self) -> list[str]:
        """The loops that have ended (for any reason): each one is work nobody is doing."""
        return [name for name, task in self._tasks.items() if task.done()]

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _ended(task: asyncio.Task[None]) -> None:
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
        await asyncio.sleep(min(seconds * 2**failures, max(seconds, MAX_BACKOFF_SECONDS)))
