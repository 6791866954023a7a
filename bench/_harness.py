"""Shared by the issue-13 benches (callbacks.py, slash_command.py, polling.py, growth.py,
startup.py): the real bot and the floors as child processes, the tests' fake Slack and Tavus in
the bench process (with timestamps added), Slack-signed requests, timing and CPU helpers, and
the table and JSON every bench prints.

Only 127.0.0.1 is contacted; every child is stopped, and its temporary directory deleted, when
the bench ends (`--keep` keeps the directory, with the bot's log and database).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import itertools
import json
import math
import os
import platform
import signal
import socket
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import aiohttp
from aiohttp import web
from slack_sdk.signature import SignatureVerifier

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as a script: make the project importable

from tests.conftest import SIGNING_SECRET, state_values  # noqa: E402
from tests.fakes.fake_slack import BOT_TOKEN, FakeSlack, Posted, SlackCall  # noqa: E402
from tests.fakes.fake_tavus import API_KEY, FakeTavus  # noqa: E402

HOST = "127.0.0.1"
PUBLIC_URL = "https://replica-bot.example.test"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
NEVER_POLL = "86400"  # POLL_INTERVAL_SECONDS for benches that want no second polling round
FLOORS = Path(__file__).with_name("_floors.py")
_triggers = itertools.count(1)

# A valid request in video mode, the requester on camera (tests/handlers/test_replica_form.py).
VIDEO_INPUTS: dict[str, Any] = {
    "replica_name": "Jane – sales",
    "mode": "video",
    "train_video_url": "https://cdn.example.com/jane.mp4",
    "model_name": "phoenix-4",
    "intended_use": "Sales demos",
    "consent": True,
}


# -- numbers ---------------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """The nearest-rank percentile (p99 of 100 values is the largest but one)."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """n, p50, p95, p99, max and mean of latencies, in ms."""
    ms = [value * 1000 for value in seconds]
    if not ms:
        return {"n": 0}
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 3),
        "p95_ms": round(percentile(ms, 95), 3),
        "p99_ms": round(percentile(ms, 99), 3),
        "max_ms": round(max(ms), 3),
        "mean_ms": round(statistics.fmean(ms), 3),
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid`, all its threads (/proc/<pid>/stat)."""
    return cpu_seconds_of(Path(f"/proc/{pid}/stat"))


def thread_cpu_seconds(pid: int) -> tuple[float, float]:
    """CPU time of process `pid` split: (its main thread, which runs the event loop; all its
    other threads, e.g. the bot's SQLite thread), from /proc/<pid>/task/*/stat. Threads that
    have ended are in neither (see cpu_seconds for the whole)."""
    main = others = 0.0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            seconds = cpu_seconds_of(task / "stat")
        except OSError:  # ended meanwhile
            continue
        if task.name == str(pid):
            main += seconds
        else:
            others += seconds
    return main, others


def cpu_seconds_of(stat_file: Path) -> float:
    """utime + stime (fields 14 and 15) of a /proc stat file, in seconds."""
    stat = stat_file.read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) ": field 3 onwards
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


async def until_cpu_quiet(pid: int, *, quiet: float = 0.3, limit: float = 60.0) -> float:
    """Wait until process `pid` has used no CPU for `quiet` s (its background work is done), at
    most `limit` s; the seconds waited."""
    started = time.perf_counter()
    last = cpu_seconds(pid)
    while time.perf_counter() - started < limit:
        await asyncio.sleep(quiet)
        now = cpu_seconds(pid)
        if now - last <= 1.5 / CLOCK_TICKS:  # one tick of noise
            break
        last = now
    return time.perf_counter() - started


class BenchCpu:
    """The bench process's own CPU use over a phase: near 1.0 of a core means the bench (load
    generator and fakes) may have been the bottleneck rather than the process measured."""

    def __init__(self) -> None:
        self._cpu = time.process_time()
        self._wall = time.perf_counter()

    def share(self) -> float:
        wall = time.perf_counter() - self._wall
        return (time.process_time() - self._cpu) / wall if wall > 0 else math.nan


# -- the fakes, with timestamps ----------------------------------------------------------------


class CallCounts(list[SlackCall]):
    """FakeSlack.calls keeping only how many calls each method got: a long bench would
    otherwise hold every call's parameters."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: Counter[str] = Counter()

    def append(self, call: SlackCall, /) -> None:
        self.counts[call.method] += 1


class BenchSlack(FakeSlack):
    """The tests' fake Slack, noting when each views.open (by trigger_id), views.update (by
    view id) and views.publish (by user) arrived (time.perf_counter()), with messages indexed
    for chat.update and chat.getPermalink (the fake's own lookups are linear scans), and a
    made-up real name for every user."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = CallCounts()
        # Views kept for views.update, newest last; None keeps all. A long bench opening a
        # form every 20 ms would otherwise hold thousands of forms (each a tree of dicts the
        # bench's garbage collector walks, pausing the fakes).
        self.views_kept: int | None = None
        self.view_of_trigger: dict[str, str] = {}
        self.opened_at: dict[str, float] = {}
        self.updated_at: dict[str, float] = {}
        self._opened: dict[str, asyncio.Future[float]] = {}
        self._published: dict[str, asyncio.Future[float]] = {}
        self._by_ts: dict[tuple[str, str], Posted] = {}

    @property
    def counts(self) -> Counter[str]:
        assert isinstance(self.calls, CallCounts)
        return self.calls.counts

    def expect_view(self, trigger_id: str) -> asyncio.Future[float]:
        """A future that gets the time views.open arrives with `trigger_id`."""
        waiter = asyncio.get_running_loop().create_future()
        self._opened[trigger_id] = waiter
        return waiter

    def expect_publish(self, user_id: str) -> asyncio.Future[float]:
        """A future that gets the time `user_id`'s App Home is next published."""
        waiter = asyncio.get_running_loop().create_future()
        self._published[user_id] = waiter
        return waiter

    def _views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        now = time.perf_counter()
        answer = super()._views_open(params)
        trigger = str(params.get("trigger_id"))
        if answer.get("ok"):
            self.view_of_trigger[trigger] = answer["view"]["id"]
        if self.views_kept is not None:
            while len(self.views) > self.views_kept:
                del self.views[next(iter(self.views))]  # the oldest
        self.opened_at[trigger] = now
        waiter = self._opened.pop(trigger, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(now)
        return answer

    def _views_update(self, params: dict[str, Any]) -> dict[str, Any]:
        answer = super()._views_update(params)
        self.updated_at[str(params.get("view_id"))] = time.perf_counter()
        return answer

    def _views_publish(self, params: dict[str, Any]) -> dict[str, Any]:
        now = time.perf_counter()
        answer = super()._views_publish(params)
        waiter = self._published.pop(str(params.get("user_id")), None)
        if waiter is not None and not waiter.done():
            waiter.set_result(now)
        return answer

    def _users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user = str(params["user"])
        self.real_names.setdefault(user, f"Bench User {user}")
        return super()._users_info(params)

    def post_as_user(self, channel: str, text: str, thread_ts: str | None = None) -> Posted:
        posted = super().post_as_user(channel, text, thread_ts)
        self._by_ts[(posted.channel, posted.ts)] = posted
        return posted

    def add_message(self, channel: str, ts: str) -> None:
        """A message the bot posted before the bench started (a seeded request's status)."""
        posted = Posted(channel=channel, ts=ts, text="", blocks=[], thread_ts=None)
        self._by_ts[(channel, ts)] = posted

    def _chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._by_ts.get((str(params["channel"]), str(params["ts"])))
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        message.text = str(params.get("text") or "")
        message.blocks = list(params.get("blocks") or [])
        return {"ok": True, "channel": message.channel, "ts": message.ts}

    def _chat_getPermalink(self, params: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(params["channel"]), str(params["message_ts"])
        if (channel, ts) not in self._by_ts:
            return {"ok": False, "error": "message_not_found"}
        link = f"https://acme.slack.com/archives/{channel}/p{ts.replace('.', '')}"
        return {"ok": True, "channel": channel, "permalink": link}


@dataclass
class BenchTavus(FakeTavus):
    """The tests' fake Tavus, noting when each GET /v2/replicas/{id} and each page of the
    replica list arrived."""

    get_times: list[float] = field(default_factory=list)
    list_times: list[float] = field(default_factory=list)  # GET /v2/replicas (a page each)
    # Pages of the list encoded once (prepare_listing), by (limit, page).
    _listing: dict[tuple[int, int], bytes] = field(default_factory=dict)

    async def _get(self, request: web.Request) -> web.Response:
        self.get_times.append(time.perf_counter())
        return await super()._get(request)

    async def _list(self, request: web.Request) -> web.Response:
        self.list_times.append(time.perf_counter())
        key = (int(request.query.get("limit", 10)), int(request.query.get("page", 1)))
        page = self._listing.get(key)
        if page is None or not self._authorised(request) or self.garble_list or self.fail_reads > 0:
            return await super()._list(request)
        self.list_requests += 1
        return web.Response(body=page, content_type="application/json")

    def prepare_listing(self, limit: int) -> None:
        """Encode every page of GET /v2/replicas?limit=`limit` now, to be served as bytes.

        Built per request, a page of 100 out of 10,000 replicas costs the bench's event loop
        ~3 ms (the fake copies the whole dict to slice it, then encodes), and the garbage
        that makes set off collections of 25 to 30 ms: the bench's own stalls, which delay the
        /replica commands it sends and the views.open it times just as the bot's would.
        Served from here, the fakes' pages are cheap. Call again (or forget_listing) after
        changing the replicas: the pages are not rebuilt by themselves."""
        self.forget_listing()
        items = list(self.replicas.items())
        for start in range(0, max(len(items), 1), limit):
            views = [
                self._view(replica_id, replica)
                for replica_id, replica in items[start : start + limit]
            ]
            body = {"data": views, "total_count": len(items)}
            self._listing[(limit, start // limit + 1)] = json.dumps(body).encode()

    def forget_listing(self) -> None:
        """Build the list's pages per request again, from the replicas as they are then."""
        self._listing.clear()

    def reads_between(self, start: float, end: float) -> tuple[int, int]:
        """(GETs of one replica, pages of the list) received between `start` and `end`."""
        gets = sum(1 for at in self.get_times if start <= at <= end)
        lists = sum(1 for at in self.list_times if start <= at <= end)
        return gets, lists

    def calls_made(self) -> int:
        """Every call the bot made to Tavus so far."""
        return (
            len(self.creates)
            + len(self.gets)
            + self.list_requests
            + self.voice_requests
            + len(self.deletes)
            + len(self.renames)
        )

    def add_training(self, replica_id: str, status: str, progress: str) -> None:
        """A replica as GET will show it; `status` "training" (with `progress`) or "completed"."""
        self.replicas[replica_id] = {
            "replica_id": replica_id,
            "replica_name": "Jane – sales",
            "status": status,
            "training_progress": "100/100" if status == "completed" else progress,
            "model_name": "phoenix-4",
            "finetune_status": None,
            "error_message": None,
            "created_at": "2025-06-01T12:00:00.000Z",
        }


async def fake_get_latency(tavus: FakeTavus, replica_id: str, count: int = 300) -> dict[str, float]:
    """How fast the fake Tavus answers a GET on its own (keep-alive, one at a time)."""
    seconds: list[float] = []
    headers = {"x-api-key": API_KEY}
    async with aiohttp.ClientSession() as session:
        for _ in range(count):
            started = time.perf_counter()
            async with session.get(f"{tavus.url}/v2/replicas/{replica_id}", headers=headers) as r:
                await r.read()
            seconds.append(time.perf_counter() - started)
    return latency_summary(seconds)


@contextlib.asynccontextmanager
async def fakes() -> AsyncIterator[tuple[BenchSlack, BenchTavus]]:
    slack, tavus = BenchSlack(), BenchTavus()
    await slack.start()
    await tavus.start()
    try:
        yield slack, tavus
    finally:
        await tavus.stop()
        await slack.stop()


# -- child processes ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@dataclass
class Child:
    """A server in a child process: the bot, or a floor."""

    name: str
    process: asyncio.subprocess.Process
    port: int
    log: Path
    started_at: float  # time.perf_counter() when it was spawned
    ready_seconds: float = math.nan  # spawn to the first answer of GET /healthz

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def thread_cpu(self) -> tuple[float, float]:
        """(main thread, other threads) CPU seconds so far."""
        return thread_cpu_seconds(self.pid)

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 15)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


async def spawn(
    name: str, command: list[str], env: dict[str, str], cwd: Path, port: int, log: Path
) -> Child:
    """Start `command` and wait for GET /healthz to answer 200 (polled every 5 ms)."""
    with log.open("ab") as stderr:
        started = time.perf_counter()
        process = await asyncio.create_subprocess_exec(
            *command, cwd=cwd, env=env, stdout=stderr, stderr=stderr
        )
    child = Child(name, process, port, log, started)
    timeout = aiohttp.ClientTimeout(total=2)
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        while time.perf_counter() - started < 120:
            if process.returncode is not None:
                break
            try:
                async with session.get(f"{child.url}/healthz") as response:
                    if response.status == 200:
                        child.ready_seconds = time.perf_counter() - started
                        return child
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(0.005)
    await child.stop()
    raise SystemExit(f"{name} did not start; its log ({log}):\n{child.log_tail()}")


def bot_env(
    port: int,
    work: Path,
    slack: FakeSlack,
    tavus: FakeTavus,
    *,
    database: Path | None = None,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    return {
        **keep,
        "PYTHONUNBUFFERED": "1",
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "TAVUS_API_KEY": API_KEY,
        "PUBLIC_URL": PUBLIC_URL,
        "HOST": HOST,
        "PORT": str(port),
        "DATABASE_PATH": str(database or work / "bot.db"),
        "MEDIA_DIR": str(work / "media"),
        "SLACK_API_URL": f"{slack.url}/api/",
        "TAVUS_API_URL": tavus.url,
        "POLL_INTERVAL_SECONDS": NEVER_POLL,
        **(extra or {}),
    }


# --profile DIR: every bot started runs under cProfile and leaves DIR/bot-<n>.prof (its main
# thread only: the database thread is not profiled). Slower: for finding out where time goes,
# not for the figures.
PROFILE_DIR: Path | None = None
_profiles = itertools.count(1)


async def start_bot(
    root: Path,
    work: Path,
    slack: FakeSlack,
    tavus: FakeTavus,
    *,
    database: Path | None = None,
    extra: dict[str, str] | None = None,
) -> Child:
    """`bot.py` (from `root`) in HTTP mode on 127.0.0.1, its log in work/bot.log."""
    port = free_port()
    env = bot_env(port, work, slack, tavus, database=database, extra=extra)
    command = [sys.executable, str(root / "bot.py")]
    if PROFILE_DIR is not None:
        output = PROFILE_DIR / f"bot-{next(_profiles)}.prof"
        command[1:1] = ["-m", "cProfile", "-o", str(output)]
        print(f"profiling the bot into {output}")
    return await spawn("replica-bot", command, env, work, port, work / "bot.log")


async def start_floor(kind: str, work: Path, slack: FakeSlack, *args: str) -> Child:
    """A floor from bench/_floors.py: "bolt" (a bare Bolt AsyncApp) or "callback" (a bare
    aiohttp handler that INSERTs and commits)."""
    port = free_port()
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    env = {**keep, "PYTHONUNBUFFERED": "1"}
    command = [
        sys.executable,
        str(FLOORS),
        kind,
        "--port",
        str(port),
        "--slack-api-url",
        f"{slack.url}/api/",
        "--signing-secret",
        SIGNING_SECRET,
        "--token",
        BOT_TOKEN,
        "--database",
        str(work / f"floor-{kind}.db"),
        *args,
    ]
    return await spawn(f"floor ({kind})", command, env, work, port, work / f"floor-{kind}.log")


def parse_env(pairs: Sequence[str]) -> dict[str, str]:
    """--bot-env KEY=VALUE options as a dict."""
    env: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"--bot-env wants KEY=VALUE, not {pair!r}")
        env[key] = value
    return env


@contextlib.contextmanager
def work_dir(prefix: str, keep: bool) -> Any:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        if keep:
            print(f"kept {path}")
        else:
            import shutil

            shutil.rmtree(path, ignore_errors=True)


# -- Slack into the bot ------------------------------------------------------------------------


def signed_headers(body: str, content_type: str) -> dict[str, str]:
    ts = str(int(time.time()))
    signature = SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp=ts, body=body)
    assert signature is not None
    return {
        "content-type": content_type,
        "x-slack-request-timestamp": ts,
        "x-slack-signature": signature,
    }


def next_trigger() -> str:
    return f"1337.{next(_triggers)}.bench"


def command_body(
    text: str, *, user: str, channel: str = "C1", trigger_id: str, response_url: str
) -> str:
    """What Slack POSTs for `/replica text` (form fields, as tests/conftest.py sends them)."""
    return urlencode(
        {
            "token": "deprecated",
            "team_id": "T1",
            "team_domain": "acme",
            "channel_id": channel,
            "channel_name": "general",
            "user_id": user,
            "user_name": user.lower(),
            "command": "/replica",
            "text": text,
            "api_app_id": "A1",
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": trigger_id,
        }
    )


def interaction_body(kind: str, *, user: str, **fields: Any) -> str:
    payload = {
        "type": kind,
        "team": {"id": "T1", "domain": "acme"},
        "user": {"id": user, "team_id": "T1"},
        "api_app_id": "A1",
        **fields,
    }
    return "payload=" + quote(json.dumps(payload))


def event_body(event: dict[str, Any], event_id: str) -> str:
    return json.dumps(
        {
            "token": "deprecated",
            "team_id": "T1",
            "api_app_id": "A1",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "authorizations": [{"team_id": "T1", "user_id": "UBOT", "is_bot": True}],
            "event": event,
        }
    )


def submission_body(view_id: str, view: dict[str, Any], inputs: dict[str, Any], user: str) -> str:
    """The form submitted with `inputs` typed in (tests/conftest.py's view_submission)."""
    payload_view = {
        "id": view_id,
        "type": "modal",
        "callback_id": view["callback_id"],
        "hash": view["hash"],
        "private_metadata": view.get("private_metadata", ""),
        "root_view_id": view_id,
        "previous_view_id": None,
        "app_installed_team_id": "T1",
        "blocks": view["blocks"],
        "state": {"values": state_values(view, inputs)},
    }
    return interaction_body(
        "view_submission",
        user=user,
        trigger_id=next_trigger(),
        is_enterprise_install=False,
        view=payload_view,
        response_urls=[],
    )


@dataclass
class Answer:
    status: int  # 0: no answer (timeout, connection error)
    body: bytes
    seconds: float


class SlackSender:
    """Signed requests to a server's /slack/events, timed from just before the POST is sent
    (signing is done first)."""

    def __init__(self, session: aiohttp.ClientSession, url: str, slack: BenchSlack) -> None:
        self.session = session
        self.url = url
        self.slack = slack
        self.errors: Counter[str] = Counter()

    async def post(self, body: str, content_type: str, *, within: float = 10.0) -> Answer:
        headers = signed_headers(body, content_type)
        started = time.perf_counter()
        try:
            async with asyncio.timeout(within):
                async with self.session.post(
                    f"{self.url}/slack/events", data=body.encode(), headers=headers
                ) as response:
                    data = await response.read()
                    status = response.status
        except (aiohttp.ClientError, TimeoutError) as error:
            self.errors[type(error).__name__] += 1
            return Answer(0, b"", time.perf_counter() - started)
        if status != 200:
            self.errors[f"HTTP {status}"] += 1
        return Answer(status, data, time.perf_counter() - started)

    async def command(self, text: str = "", *, user: str = "U1", channel: str = "C1") -> Answer:
        body = command_body(
            text,
            user=user,
            channel=channel,
            trigger_id=next_trigger(),
            response_url=f"{self.slack.url}/respond/1",
        )
        return await self.post(body, "application/x-www-form-urlencoded")

    async def open_form_timed(
        self, text: str = "", *, user: str = "U1", channel: str = "C1", within: float = 10.0
    ) -> tuple[float | None, str]:
        """`/replica text`: seconds from sending it to the fake Slack receiving views.open
        (None if it never came within `within` s), and the trigger_id used."""
        trigger = next_trigger()
        body = command_body(
            text,
            user=user,
            channel=channel,
            trigger_id=trigger,
            response_url=f"{self.slack.url}/respond/1",
        )
        waiter = self.slack.expect_view(trigger)
        headers = signed_headers(body, "application/x-www-form-urlencoded")
        started = time.perf_counter()
        try:
            async with asyncio.timeout(within):
                async with self.session.post(
                    f"{self.url}/slack/events", data=body.encode(), headers=headers
                ) as response:
                    await response.read()
                    if response.status != 200:
                        self.errors[f"HTTP {response.status}"] += 1
                opened = await waiter
        except (aiohttp.ClientError, TimeoutError) as error:
            self.errors[f"views.open: {type(error).__name__}"] += 1
            waiter.cancel()
            return None, trigger
        return opened - started, trigger

    async def new_replica_timed(
        self, *, user: str, within: float = 10.0
    ) -> tuple[float | None, str]:
        """App Home's *New replica* button (tests/handlers/test_home.py's home_click): seconds
        from sending it to views.open arriving (None if it never came), and the trigger_id."""
        trigger = next_trigger()
        view = {
            "id": f"VH{user}",
            "type": "home",
            "blocks": [],
            "private_metadata": "",
            "callback_id": "",
            "state": {"values": {}},
            "hash": "h1",
            "app_installed_team_id": "T1",
        }
        action = {
            "type": "button",
            "action_id": "home_new_replica",
            "block_id": "home_actions",
            "value": "",
            "action_ts": f"{time.time():.6f}",
        }
        body = interaction_body(
            "block_actions",
            user=user,
            trigger_id=trigger,
            container={"type": "view", "view_id": f"VH{user}"},
            view=view,
            actions=[action],
        )
        waiter = self.slack.expect_view(trigger)
        started = time.perf_counter()
        await self.post(body, "application/x-www-form-urlencoded", within=within)
        try:
            opened = await asyncio.wait_for(waiter, within)
        except TimeoutError:
            self.errors["views.open: TimeoutError"] += 1
            return None, trigger
        return opened - started, trigger

    async def event(self, event: dict[str, Any], event_id: str) -> Answer:
        return await self.post(event_body(event, event_id), "application/json")


# -- driving whole requests through the bot -----------------------------------------------------


def connect(path: Path) -> sqlite3.Connection:
    """A connection of the bench's own to the bot's database (autocommit: no read transaction
    is left open to hold up the bot's checkpoints)."""
    db = sqlite3.connect(path, isolation_level=None, timeout=30)
    db.execute("PRAGMA busy_timeout = 30000")
    return db


def query(path: Path, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    db = connect(path)
    try:
        return db.execute(sql, params).fetchall()
    finally:
        db.close()


async def eventually(check: Callable[[], Any], seconds: float = 30.0, what: str = "") -> Any:
    deadline = time.perf_counter() + seconds
    while True:
        result = check()
        if result:
            return result
        if time.perf_counter() > deadline:
            raise SystemExit(f"timed out after {seconds:.0f} s waiting for {what or check}")
        await asyncio.sleep(0.01)


async def wait_outbox_idle(database: Path, seconds: float = 60.0) -> None:
    """Until no Slack message is owed (pending or in doubt)."""

    def idle() -> bool:
        rows = query(database, "SELECT count(*) FROM outbox WHERE state IN ('pending', 'sending')")
        return bool(rows[0][0] == 0)

    await eventually(idle, seconds, "the outbox to deliver everything")


@dataclass
class Submitted:
    request_id: int
    token: str  # the callback URL's secret
    replica_id: str


async def submit_request(
    sender: SlackSender,
    tavus: BenchTavus,
    database: Path,
    *,
    user: str = "U1",
    inputs: dict[str, Any] | None = None,
) -> Submitted:
    """`/replica`, the form filled in and submitted, and Tavus's answer to the create recorded:
    the request is training and its status message posted."""
    slack = sender.slack
    lookups = slack.counts["users.info"]
    opened, trigger = await sender.open_form_timed(user=user)
    if opened is None:
        raise SystemExit(f"/replica opened no form; {dict(sender.errors)}")
    view_id = slack.view_of_trigger[trigger]
    # After views.open the bot may look the requester's name up (users.info) and fill it in
    # (views.update); a person takes longer than that to fill the form in.
    deadline = time.perf_counter() + 1.0
    while time.perf_counter() < deadline:
        if slack.counts["users.info"] > lookups or view_id in slack.updated_at:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    creates = len(tavus.creates)
    answer = await sender.post(
        submission_body(view_id, slack.views[view_id], inputs or VIDEO_INPUTS, user),
        "application/x-www-form-urlencoded",
    )
    if answer.status != 200 or answer.body.strip():
        raise SystemExit(f"the submission was refused: {answer.status} {answer.body[:300]!r}")
    await eventually(lambda: len(tavus.creates) > creates, 10, "the create at Tavus")
    callback_url = str(tavus.creates[creates]["callback_url"])
    token = urlsplit(callback_url).path.rsplit("/", 1)[1]
    rows = await eventually(
        lambda: query(
            database,
            "SELECT id, replica_id FROM replica_requests WHERE view_id = ? AND state = 'training'",
            [view_id],
        ),
        10,
        "the request to be training",
    )
    request_id, replica_id = rows[0]
    await wait_outbox_idle(database)
    return Submitted(int(request_id), token, str(replica_id))


async def post_callback(
    session: aiohttp.ClientSession, bot: Child, token: str, body: dict[str, Any]
) -> int:
    async with session.post(
        f"{bot.url}/tavus/callback/{token}",
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
    ) as response:
        await response.read()
        return response.status


async def complete_request(
    session: aiohttp.ClientSession,
    bot: Child,
    tavus: BenchTavus,
    database: Path,
    submitted: Submitted,
) -> None:
    """Tavus calls back "completed", GET agrees, and the result is announced (status message
    edited, a reply in its thread, the permalink in the consent record)."""
    tavus.set_status(submitted.replica_id, "completed")
    status = await post_callback(
        session, bot, submitted.token, {"replica_id": submitted.replica_id, "status": "ready"}
    )
    if status != 202:
        raise SystemExit(f"the callback was answered {status}, not 202")
    await eventually(
        lambda: query(
            database,
            "SELECT 1 FROM replica_requests WHERE id = ? AND state = 'succeeded'",
            [submitted.request_id],
        ),
        10,
        "the request to succeed",
    )
    await wait_outbox_idle(database)


# -- raw HTTP load: many requests on kept-alive connections ------------------------------------


@dataclass
class LoadResult:
    latencies: list[float]
    statuses: Counter[int]
    seconds: float  # wall time from the first request sent to the last answer

    @property
    def per_second(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds > 0 else math.nan


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    if length:
        await reader.readexactly(length)
    return status


async def post_many(
    port: int, requests: Sequence[tuple[str, bytes]], concurrency: int, *, within: float = 30.0
) -> LoadResult:
    """POST each (path, JSON body) once, `concurrency` in flight, on kept-alive connections
    (reopened if the server closes one): a load generator cheap enough on the bench's side."""
    queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
    for item in requests:
        queue.put_nowait(item)
    latencies: list[float] = []
    statuses: Counter[int] = Counter()

    async def worker() -> None:
        reader: asyncio.StreamReader | None = None
        writer: asyncio.StreamWriter | None = None
        try:
            while not queue.empty():
                path, body = queue.get_nowait()
                request = (
                    f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\n"
                    f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
                ).encode() + body
                for attempt in range(2):
                    if writer is None or reader is None:
                        reader, writer = await asyncio.open_connection(HOST, port)
                    started = time.perf_counter()
                    try:
                        writer.write(request)
                        async with asyncio.timeout(within):
                            status = await _read_response(reader)
                    except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
                        writer.close()
                        reader = writer = None
                        if attempt == 1:
                            statuses[0] += 1
                        continue
                    latencies.append(time.perf_counter() - started)
                    statuses[status] += 1
                    break
        finally:
            if writer is not None:
                writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return LoadResult(latencies, statuses, time.perf_counter() - started)


# -- /healthz probe ----------------------------------------------------------------------------


class _Sampler:
    """A task that samples something until stopped (`_run`, of each kind of sampler)."""

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        raise NotImplementedError


class HealthProbe(_Sampler):
    """GET /healthz every `interval` s (one at a time, kept-alive connection), recording
    (when sent, latency); a stalled event loop (or a busy database thread: /healthz pings
    SQLite) shows up as latency."""

    def __init__(self, url: str, interval: float = 0.01) -> None:
        super().__init__()
        self.url = url
        self.interval = interval
        self.samples: list[tuple[float, float]] = []
        self.failures = 0

    async def _run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                started = time.perf_counter()
                try:
                    async with session.get(f"{self.url}/healthz") as response:
                        await response.read()
                        ok = response.status == 200
                except (aiohttp.ClientError, TimeoutError):
                    ok = False
                elapsed = time.perf_counter() - started
                if ok:
                    self.samples.append((started, elapsed))
                else:
                    self.failures += 1
                await asyncio.sleep(max(0.0, self.interval - elapsed))

    def between(self, start: float, end: float) -> list[float]:
        return [latency for sent, latency in self.samples if start <= sent <= end]


# -- the bench's own event loop ----------------------------------------------------------------


class LoopLag(_Sampler):
    """How late the bench's own event loop wakes a task that sleeps `interval` s: its stalls
    (the fakes' work, its garbage collector, the probes) delay sending a /replica and noting
    views.open's arrival just as a stall of the bot's would. Lag near zero while a latency
    is high puts that latency on the bot; lag as large as it puts it on the bench."""

    def __init__(self, interval: float = 0.002) -> None:
        super().__init__()
        self.interval = interval
        # When each wake-up was due, and how late it came (s): two lists of floats rather
        # than a list of pairs, since tens of thousands of tuples would be walked by the
        # bench's garbage collector, itself a stall of the bench.
        self.due: list[float] = []
        self.late: list[float] = []

    async def _run(self) -> None:
        while True:
            due = time.perf_counter() + self.interval
            await asyncio.sleep(self.interval)
            self.late.append(max(0.0, time.perf_counter() - due))
            self.due.append(due)

    def between(self, start: float, end: float) -> list[float]:
        """The lateness of every wake-up due between `start` and `end`."""
        low, high = bisect.bisect_left(self.due, start), bisect.bisect_right(self.due, end)
        return self.late[low:high]

    def worst(self, start: float, end: float) -> float:
        """The longest stall that overlapped `start`..`end` (0.0 if none was seen): a wake-up
        due at `due` and `late` late means the loop was held from about `due` to due + late.
        Stalls of over a second are not looked for (a bench that stalls that long says so in
        every figure)."""
        low = bisect.bisect_left(self.due, start - 1.0)
        high = bisect.bisect_right(self.due, end)
        return max(
            (
                late
                for due, late in zip(self.due[low:high], self.late[low:high], strict=True)
                if due + late >= start
            ),
            default=0.0,
        )


# -- the report --------------------------------------------------------------------------------


@dataclass
class Row:
    measure: str
    bot: float
    floor: float | None
    unit: str
    better: str = "lower"  # or "higher": which way is good

    @property
    def ratio(self) -> float | None:
        if self.floor is None or not self.floor or math.isnan(self.floor):
            return None
        return self.bot / self.floor


class Report:
    """The table (measure | replica-bot | floor | ratio) and the raw numbers as JSON."""

    def __init__(
        self, bench: str, args: Any, columns: tuple[str, str] = ("replica-bot", "floor")
    ) -> None:
        self.bench = bench
        self.columns = columns
        self.args = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
        self.rows: list[Row] = []
        self.raw: dict[str, Any] = {}
        self.notes: list[str] = []

    def add(
        self,
        measure: str,
        bot: float,
        floor: float | None = None,
        unit: str = "ms",
        better: str = "lower",
    ) -> None:
        self.rows.append(Row(measure, bot, floor, unit, better))

    def note(self, text: str) -> None:
        self.notes.append(text)

    def print(self) -> None:
        def number(value: float | None, unit: str) -> str:
            if value is None:
                return "—"
            if math.isnan(value):
                return "n/a"
            digits = 0 if abs(value) >= 1000 else 1 if abs(value) >= 10 else 2
            if abs(value) < 0.1:
                digits = 3
            if float(value).is_integer() and not unit:
                digits = 0
            return f"{value:,.{digits}f} {unit}".rstrip()

        first, second = self.columns
        cells = [("measure", first, second, f"ratio ({first} / {second})")]
        for row in self.rows:
            ratio = row.ratio
            shown = "—" if ratio is None else f"{ratio:.2f}×"
            if ratio is not None and row.better == "higher":
                shown += " (higher is better)"
            cells.append(
                (row.measure, number(row.bot, row.unit), number(row.floor, row.unit), shown)
            )
        widths = [max(len(cell[i]) for cell in cells) for i in range(4)]
        print()
        for index, cell in enumerate(cells):
            print(
                "| "
                + " | ".join(
                    text.ljust(widths[i]) if i == 0 else text.rjust(widths[i])
                    for i, text in enumerate(cell)
                )
                + " |"
            )
            if index == 0:
                print("|" + "|".join("-" * (width + 2) for width in widths) + "|")
        for text in self.notes:
            print(f"- {text}")

    def write_json(self, path: Path | None) -> None:
        if path is None:
            return
        document = {
            "bench": self.bench,
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "sqlite": sqlite3.sqlite_version,
                "platform": platform.platform(),
            },
            "args": self.args,
            "columns": list(self.columns),
            "rows": [
                {
                    "measure": row.measure,
                    "bot": row.bot,
                    "floor": row.floor,
                    "unit": row.unit,
                    "ratio": row.ratio,
                    "better": row.better,
                }
                for row in self.rows
            ],
            "notes": self.notes,
            "raw": self.raw,
        }
        path.write_text(json.dumps(document, indent=2, default=str) + "\n")
        print(f"raw numbers written to {path}")


def common_arguments(parser: Any) -> None:
    parser.add_argument("--json", type=Path, help="write the raw numbers here as JSON")
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout whose bot.py runs")
    parser.add_argument(
        "--bot-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an extra environment variable for the bot (repeatable)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="run every bot under cProfile, writing DIR/bot-<n>.prof (slows it down)",
    )


def apply_common(args: Any) -> None:
    """What the common arguments set beyond each bench's own use of them."""
    global PROFILE_DIR
    PROFILE_DIR = args.profile
    if PROFILE_DIR is not None:
        PROFILE_DIR.mkdir(parents=True, exist_ok=True)
