"""What the bot counts, served as `GET /metrics` in Prometheus's text format.

One `Metrics` per bot, with a registry of its own (never prometheus_client's global one: the
tests run many bots in one process). server/app.py builds it and hands it to what counts:

- the workflow: creates sent to Tavus and how each ended; results announced;
- the outbox: deliveries, by outcome;
- the reconciler: polling rounds, by outcome, and how long each took;
- the supervisor: background work that failed;
- the Tavus client (`tavus_call`) and the Slack client's aiohttp session (`slack_trace`): every
  HTTP call, by method and outcome, and its latency.

What the database knows (requests by state, the outbox backlog) and the loops that stopped
are read when scraped (`exposition`): one storage call on the database thread, shared by
scrapes that arrive while it runs, so the event loop never waits on disk.

Counts are made where the move is made, inside its transaction: a transaction rolled back
after its state change (its last write failing) is counted all the same, and again when the
move is made anew.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import re
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Literal, Protocol

import aiohttp
import sqlite_utils
from aiohttp import web
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from yarl import URL

from domain.states import State
from storage import outbox as outbox_store
from storage.database import Storage
from storage.replicas import REQUESTS
from tavus.errors import TavusError

logger = logging.getLogger(__name__)

PREFIX = "replica_bot"
# Without this every counter and histogram has a `_created` series too: when it was made,
# which a scraper learns anyway from the process's start time.
disable_created_metrics()  # type: ignore[no-untyped-call]

Outcome = Literal["ok", "error"]
# How a create sent to Tavus ended: it made a replica; Tavus refused it (4xx); maybe it did
# (5xx or no answer after sending, or the bot stopped before the answer); it never got there.
CreateOutcome = Literal["created", "refused", "uncertain", "unreachable"]
# A message delivered; to be tried again later; given up on (Slack refuses it, or 48 h passed).
DeliveryOutcome = Literal["sent", "retried", "failed"]
RoundOutcome = Literal["ok", "tavus_unavailable", "failed"]

CREATE_OUTCOMES: tuple[CreateOutcome, ...] = ("created", "refused", "uncertain", "unreachable")
RESULTS = (State.SUCCEEDED, State.FAILED)
DELIVERY_OUTCOMES: tuple[DeliveryOutcome, ...] = ("sent", "retried", "failed")
ROUND_OUTCOMES: tuple[RoundOutcome, ...] = ("ok", "tavus_unavailable", "failed")
# Slack's and Tavus's calls take milliseconds to seconds; both time out after 30 s.
CALL_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# A polling round asks Tavus about every open request, one after the other.
ROUND_BUCKETS = (0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)
# A Slack Web API method name (`chat.postMessage`); anything else is counted as "other", so
# no URL (an upload URL, a response_url) can grow the label's values or reach the metrics.
_SLACK_METHOD = re.compile(r"[A-Za-z][A-Za-z0-9_.]{0,63}")
# A Tavus path word kept in the endpoint label (`name` in /v2/replicas/{id}/name); any other
# segment after the collection is an id.
_PATH_WORD = re.compile(r"[a-z_]{1,32}")


class Loops(Protocol):
    """The supervisor, as the metrics see it."""

    def stopped_loops(self) -> list[str]: ...


@dataclass(frozen=True)
class _Snapshot:
    """What the database said at the last scrape."""

    by_state: dict[str, int]
    backlog: int
    oldest_owed: str | None  # when the oldest undelivered message became owed (UTC ISO)


def _read_snapshot(db: sqlite_utils.Database) -> _Snapshot:
    rows = db.execute(f"SELECT state, count(*) FROM {REQUESTS} GROUP BY state").fetchall()
    backlog, oldest = outbox_store.backlog(db)
    return _Snapshot({str(state): int(count) for state, count in rows}, backlog, oldest)


def tavus_endpoint(path: str) -> str:
    """A Tavus path as a label: `/v2/replicas/r123/name` → `/v2/replicas/{id}/name`."""
    parts = path.split("?", 1)[0].split("/")
    # "", "v2" and the collection; then its item's id, and words (or more ids) after it.
    after = [p if i > 0 and _PATH_WORD.fullmatch(p) else "{id}" for i, p in enumerate(parts[3:])]
    return "/".join(parts[:3] + after)


def slack_method(api_url: str, url: URL) -> str:
    """The Web API method a request to `url` calls (`chat.postMessage`), or "other"."""
    return _method_at(api_url, str(url))  # yarl keeps the URL's text: no new URL per call


@functools.lru_cache(maxsize=256)  # the few methods the bot calls, each looked at once
def _method_at(api_url: str, url: str) -> str:
    base = api_url if api_url.endswith("/") else api_url + "/"
    where = url.partition("?")[0].partition("#")[0]
    if not where.startswith(base):
        return "other"
    method = where[len(base) :]
    return method if _SLACK_METHOD.fullmatch(method) else "other"


async def _slack_outcome(response: aiohttp.ClientResponse) -> Outcome:
    """ok: Slack answered 2xx and (for a JSON answer) `"ok": true`. The body is read here,
    where aiohttp keeps it for slack_sdk's own read."""
    if response.status >= 400:
        return "error"
    if response.content_type != "application/json":
        return "ok"
    raw = await response.read()
    # Slack writes "ok" first: read that and not the whole answer (a view comes back whole).
    # Any other shape is parsed.
    head = raw[:16].replace(b" ", b"")
    if head.startswith(b'{"ok":true'):
        return "ok"
    if head.startswith(b'{"ok":false'):
        return "error"
    try:
        body = json.loads(raw)
    except Exception:  # slack_sdk meets the same failure when it reads, and reports it
        return "error"
    return "error" if isinstance(body, dict) and body.get("ok") is False else "ok"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self._creates = Counter(
            "creates",
            "Creates sent to Tavus (POST /v2/replicas), by how each ended",
            ["outcome"],
            namespace=PREFIX,
            registry=r,
        )
        self._results = Counter(
            "results_announced",
            "Training results announced to the requester, by result",
            ["outcome"],
            namespace=PREFIX,
            registry=r,
        )
        self._deliveries = Counter(
            "outbox_deliveries",
            "Outbox rows tried: sent, to be retried later, or given up on",
            ["outcome"],
            namespace=PREFIX,
            registry=r,
        )
        self._rounds = Counter(
            "reconciler_rounds",
            "Polling rounds, by outcome",
            ["outcome"],
            namespace=PREFIX,
            registry=r,
        )
        self._round_seconds = Histogram(
            "reconciler_round_duration_seconds",
            "How long a polling round took",
            namespace=PREFIX,
            registry=r,
            buckets=ROUND_BUCKETS,
        )
        self._background_failures = Counter(
            "background_failures",
            "Background work (after an ack, start-up checks) that failed with an error",
            namespace=PREFIX,
            registry=r,
        )
        self._slack_calls = Counter(
            "slack_api_requests",
            "Slack Web API requests (each attempt), by method and outcome",
            ["method", "outcome"],
            namespace=PREFIX,
            registry=r,
        )
        self._slack_seconds = Histogram(
            "slack_api_request_duration_seconds",
            "Slack Web API request latency (each attempt, until the answer is read)",
            ["method"],
            namespace=PREFIX,
            registry=r,
            buckets=CALL_BUCKETS,
        )
        self._tavus_calls = Counter(
            "tavus_api_requests",
            "Tavus API requests (each attempt), by method, endpoint and outcome",
            ["method", "endpoint", "outcome"],
            namespace=PREFIX,
            registry=r,
        )
        self._tavus_seconds = Histogram(
            "tavus_api_request_duration_seconds",
            "Tavus API request latency (each attempt, until the answer's headers)",
            ["method", "endpoint"],
            namespace=PREFIX,
            registry=r,
            buckets=CALL_BUCKETS,
        )
        # Every known label value from the start, so a rate over them begins at 0.
        for create in CREATE_OUTCOMES:
            self._creates.labels(create)
        for state in RESULTS:
            self._results.labels(state.value)
        for delivery in DELIVERY_OUTCOMES:
            self._deliveries.labels(delivery)
        for round_outcome in ROUND_OUTCOMES:
            self._rounds.labels(round_outcome)
        ProcessCollector(registry=r)  # memory, CPU, open file descriptors (process_*)
        r.register(_Scraped(self))
        self._storage: Storage | None = None
        self._loops: Loops | None = None
        self._snapshot: _Snapshot | None = None
        self._reading: asyncio.Future[_Snapshot] | None = None

    def watch(self, storage: Storage, loops: Loops) -> None:
        """Where scrapes read requests by state, the outbox backlog and stopped loops."""
        self._storage = storage
        self._loops = loops

    # -- counting, where the moves are made ----------------------------------------------------

    def create_sent(self, outcome: CreateOutcome) -> None:
        self._creates.labels(outcome).inc()

    def result_announced(self, state: State) -> None:
        self._results.labels(state.value).inc()

    def delivery(self, outcome: DeliveryOutcome) -> None:
        self._deliveries.labels(outcome).inc()

    def background_failure(self) -> None:
        self._background_failures.inc()

    @contextmanager
    def polling_round(self) -> Iterator[None]:
        """Times a polling round and counts how it ended (a cancelled one is not counted)."""
        started = time.monotonic()
        outcome: RoundOutcome | None = None
        try:
            yield
            outcome = "ok"
        except TavusError:
            outcome = "tavus_unavailable"
            raise
        except Exception:
            outcome = "failed"
            raise
        finally:
            if outcome is not None:
                self._rounds.labels(outcome).inc()
                self._round_seconds.observe(time.monotonic() - started)

    def tavus_call(self, method: str, path: str, status: int | None, seconds: float) -> None:
        """One Tavus request: its answer's status, or None if there was none."""
        endpoint = tavus_endpoint(path)
        outcome = "ok" if status is not None and status < 400 else "error"
        self._tavus_calls.labels(method, endpoint, outcome).inc()
        self._tavus_seconds.labels(method, endpoint).observe(seconds)

    def slack_trace(self, api_url: str) -> aiohttp.TraceConfig:
        """For the Slack client's aiohttp session: counts and times every Web API request
        (each attempt of slack_sdk's retries). Methods are read from URLs under `api_url`."""
        trace = aiohttp.TraceConfig()

        async def started(
            _: aiohttp.ClientSession,
            context: SimpleNamespace,
            params: aiohttp.TraceRequestStartParams,
        ) -> None:
            context.started = time.monotonic()

        async def answered(
            _: aiohttp.ClientSession,
            context: SimpleNamespace,
            params: aiohttp.TraceRequestEndParams,
        ) -> None:
            outcome = await _slack_outcome(params.response)
            self._slack_call(slack_method(api_url, params.url), outcome, context.started)

        async def failed(
            _: aiohttp.ClientSession,
            context: SimpleNamespace,
            params: aiohttp.TraceRequestExceptionParams,
        ) -> None:
            self._slack_call(slack_method(api_url, params.url), "error", context.started)

        trace.on_request_start.append(started)
        trace.on_request_end.append(answered)
        trace.on_request_exception.append(failed)
        trace.freeze()
        return trace

    def _slack_call(self, method: str, outcome: Outcome, started: float) -> None:
        self._slack_calls.labels(method, outcome).inc()
        self._slack_seconds.labels(method).observe(time.monotonic() - started)

    # -- scraping ------------------------------------------------------------------------------

    async def exposition(self, accept: str | None) -> tuple[bytes, str]:
        """Every metric, with the database read now, and its content type: Prometheus's text
        format, or OpenMetrics if the scraper's `accept` header asks for it."""
        await self._refresh()
        encode, content_type = choose_encoder(accept or "")
        return encode(self.registry), content_type

    async def _refresh(self) -> None:
        if self._storage is None:
            return
        if self._reading is None:
            # One read at a time: scrapes arriving meanwhile share its answer.
            self._reading = asyncio.ensure_future(self._storage.run(_read_snapshot))
            self._reading.add_done_callback(self._read_done)
        try:
            self._snapshot = await asyncio.shield(self._reading)
        except Exception:
            logger.warning("Metrics: could not read the database", exc_info=True)
            self._snapshot = None

    def _read_done(self, reading: asyncio.Future[_Snapshot]) -> None:
        self._reading = None
        if not reading.cancelled():
            reading.exception()  # retrieved, even if every scrape waiting for it went away

    def _scraped(self) -> Iterable[Metric]:
        snapshot = self._snapshot
        if self._storage is not None:
            yield GaugeMetricFamily(
                f"{PREFIX}_database_up",
                "1 if this scrape could read the database, else 0",
                value=0 if snapshot is None else 1,
            )
        if snapshot is not None:
            states = GaugeMetricFamily(
                f"{PREFIX}_requests", "Replica requests, by state", labels=["state"]
            )
            for state in State:
                states.add_metric([state.value], snapshot.by_state.get(state.value, 0))
            yield states
            yield GaugeMetricFamily(
                f"{PREFIX}_outbox_backlog",
                "Slack messages owed and not delivered yet",
                value=snapshot.backlog,
            )
            age = 0.0
            if snapshot.oldest_owed is not None:
                oldest = datetime.fromisoformat(snapshot.oldest_owed)
                age = max(0.0, (datetime.now(UTC) - oldest).total_seconds())
            yield GaugeMetricFamily(
                f"{PREFIX}_outbox_oldest_age_seconds",
                "How long the oldest undelivered message has been owed (0: none)",
                value=age,
            )
        if self._loops is not None:
            yield GaugeMetricFamily(
                f"{PREFIX}_loops_stopped",
                "Background loops (outbox, reconciler, media sweep) that have stopped",
                value=len(self._loops.stopped_loops()),
            )


class _Scraped(Collector):
    """The values read at scrape time."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterable[Metric]:
        return self._metrics._scraped()


# Where GET /metrics finds this bot's Metrics (handlers/metrics.py).
METRICS = web.AppKey("metrics", Metrics)
