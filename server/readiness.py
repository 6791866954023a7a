"""Readiness: can this bot do its job right now? Served as `GET /readyz`.

Each check answers None (fine) or one line saying what is wrong, for the operator. Slack and
Tavus are asked at most once a minute (probes come often, both rate-limit), and never for
longer than a probe waits.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlite_utils
from slack_sdk.errors import SlackApiError

from replicas.outbox import OutboxWorker
from replicas.supervisor import Supervisor
from server.socket_mode import SocketModeConnection
from slack_access.clients import SlackClients
from slack_access.errors import SLACK_ERRORS
from storage import outbox as outbox_store
from storage.database import Storage
from storage.replicas import utc_now
from tavus.api import TavusApi
from tavus.errors import TavusAuthError, TavusError

logger = logging.getLogger(__name__)

OK_TTL_SECONDS = 60.0  # a good answer from Slack or Tavus is trusted this long
PROBLEM_TTL_SECONDS = 10.0  # a bad one is asked again sooner, so recovery shows quickly
REMOTE_TIMEOUT_SECONDS = 5.0
DATABASE_TTL_SECONDS = 1.0  # load balancers wait a few seconds for a probe


class CachedCheck:
    """A check of a remote service whose last answer is kept for a while."""

    def __init__(
        self,
        name: str,
        check: Callable[[], Awaitable[str | None]],
        *,
        ok_ttl: float = OK_TTL_SECONDS,
        problem_ttl: float = PROBLEM_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self._check = check
        self._ok_ttl = ok_ttl
        self._problem_ttl = problem_ttl
        self._clock = clock
        self._answer: str | None = "not checked yet"
        self._expires = 0.0
        self._lock = asyncio.Lock()

    async def problem(self) -> str | None:
        """None if the service accepted us lately; else what is wrong."""
        async with self._lock:  # one question at a time, however many probes wait
            if self._clock() >= self._expires:
                try:
                    async with asyncio.timeout(REMOTE_TIMEOUT_SECONDS):
                        answer = await self._check()
                except TimeoutError:
                    answer = f"no answer within {REMOTE_TIMEOUT_SECONDS:g} s"
                self._answer = answer
                ttl = self._ok_ttl if answer is None else self._problem_ttl
                self._expires = self._clock() + ttl
            return self._answer


def slack_token_check(slack: SlackClients) -> CachedCheck:
    """auth.test with SLACK_BOT_TOKEN: the bot's own installation (also the start-up check)."""

    async def check() -> str | None:
        try:
            identity = await slack.for_workspace(None, None).auth_test()
        except SlackApiError as error:
            code = error.response.get("error")
            logger.error("Slack rejected SLACK_BOT_TOKEN: %s", code)
            return f"Slack rejected SLACK_BOT_TOKEN: {code}"
        except SLACK_ERRORS:
            logger.warning("Could not reach Slack to check SLACK_BOT_TOKEN", exc_info=True)
            return "Slack could not be reached"
        logger.info("Slack: connected as %s to %s", identity.get("user"), identity.get("team"))
        return None

    return CachedCheck("slack", check)


def tavus_key_check(tavus: TavusApi) -> CachedCheck:
    async def check() -> str | None:
        try:
            await tavus.check_key()
        except TavusAuthError as error:
            logger.error(
                "Tavus rejected TAVUS_API_KEY (HTTP %s): %s", error.status_code, error.reason
            )
            return "Tavus rejected TAVUS_API_KEY"
        except TavusError as error:
            logger.warning("Could not reach Tavus to check TAVUS_API_KEY: %s", error)
            return "Tavus could not be reached"
        return None

    return CachedCheck("tavus", check)


def _write_heartbeat(db: sqlite_utils.Database) -> None:
    with db.atomic():
        db.execute("UPDATE heartbeat SET checked_at = ? WHERE id = 1", [utc_now()])


@dataclass(frozen=True)
class Report:
    ready: bool
    body: dict[str, Any]


class Readiness:
    def __init__(
        self,
        *,
        storage: Storage,
        slack: CachedCheck,
        tavus: CachedCheck,
        supervisor: Supervisor,
        outbox: OutboxWorker,
        socket: SocketModeConnection | None,
    ) -> None:
        self._storage = storage
        # /readyz is public: a flood of probes costs at most one write a second while the
        # database is fine (a failing one is asked again at once, so recovery shows).
        self._database = CachedCheck(
            "database", self._write_heartbeat, ok_ttl=DATABASE_TTL_SECONDS, problem_ttl=0.0
        )
        self.slack = slack
        self.tavus = tavus
        self._supervisor = supervisor
        self._outbox = outbox
        self._socket = socket

    async def report(self) -> Report:
        checks: dict[str, str | None] = {"database": await self._database.problem()}
        slack, tavus = await asyncio.gather(self.slack.problem(), self.tavus.problem())
        checks["slack"], checks["tavus"] = slack, tavus
        stopped = self._supervisor.stopped_loops()
        checks["loops"] = f"stopped: {', '.join(stopped)}" if stopped else None
        if self._socket is not None:
            connected = await self._socket.is_connected()
            checks["socket_mode"] = None if connected else "not connected to Slack"
        # Details of storage errors are in the log; the public body says only what fails.
        checks["outbox"] = "cannot record deliveries" if self._outbox.storage_error else None
        failing = [name for name, problem in checks.items() if problem is not None]
        body: dict[str, Any] = {
            "status": "not ready" if failing else "ready",
            "failing": failing,
            "checks": {name: problem or "ok" for name, problem in checks.items()},
            "outbox": await self._backlog(),
        }
        return Report(ready=not failing, body=body)

    async def _write_heartbeat(self) -> str | None:
        try:
            await self._storage.run(_write_heartbeat)
        except Exception:  # any failure to write is the answer, not a crash
            logger.warning("Readiness: the database does not take writes", exc_info=True)
            return "not writable"
        return None

    async def _backlog(self) -> dict[str, Any]:
        try:
            count, oldest = await self._storage.run(outbox_store.backlog)
        except Exception:
            logger.warning("Readiness: could not read the outbox backlog", exc_info=True)
            return {"error": "unreadable"}
        age = None
        if oldest is not None:
            age = round((datetime.now(UTC) - datetime.fromisoformat(oldest)).total_seconds(), 1)
        return {"backlog": count, "oldest_age_seconds": age}
