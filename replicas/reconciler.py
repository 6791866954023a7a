"""The poller: asks Tavus about every open request, soon after start-up and then every
POLL_INTERVAL_SECONDS, so a lost callback (or none at all, without PUBLIC_URL) loses nothing.

It is a door like the others: each round is `ReplicaWorkflow.reconcile`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import sqlite3

from replicas.workflow import ReplicaWorkflow
from tavus.errors import TavusError

logger = logging.getLogger(__name__)

FIRST_ROUND_SECONDS = 2.0  # soon after start-up, once Slack and Tavus checks have gone out
JITTER = 0.1  # ±10 %, so several bots (or restarts) do not poll in step
MAX_BACKOFF_SECONDS = 3600.0


def next_delay(interval: float, failures: int) -> float:
    """Seconds to the next round: the interval with jitter, doubled per failed round."""
    delay = interval * 2**failures if failures else interval
    return min(max(delay, interval), max(MAX_BACKOFF_SECONDS, interval)) * random.uniform(
        1 - JITTER, 1 + JITTER
    )


class Reconciler:
    def __init__(
        self,
        workflow: ReplicaWorkflow,
        interval_seconds: float,
        first_round_seconds: float = FIRST_ROUND_SECONDS,
    ) -> None:
        self._workflow = workflow
        self._interval = interval_seconds
        self._first = min(first_round_seconds, interval_seconds)
        self.rounds = 0  # completed rounds, for the health check and tests

    async def run(self) -> None:
        """Poll until cancelled."""
        await asyncio.sleep(self._first)
        failures = 0
        while True:
            try:
                await self._workflow.reconcile()
            except TavusError as error:
                failures += 1
                logger.warning("Tavus is unavailable for polling (%s); backing off", error)
            except sqlite3.Error:
                failures += 1
                logger.exception("A polling round could not read or write the database")
            else:
                failures = 0
            self.rounds += 1
            await asyncio.sleep(next_delay(self._interval, failures))
