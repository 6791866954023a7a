"""What hostile HTTP costs the bot: log growth from unsigned 1 MiB POSTs to /slack/events, and
how long slow ("slowloris") connections are held while /healthz keeps answering.

Run from the repository root:  python bench/hostile_http.py [--posts 200] [--slow 500]

It starts `bot.py` (from --root: this checkout by default, or e.g. a `git worktree` of an older
commit, to compare) as a child process on 127.0.0.1, next to the fake Slack and Tavus of the
tests, with its stderr in a temporary file. It sends nothing anywhere but 127.0.0.1, every loop
is bounded in count and time, and it stops the bot and itself when done.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import signal
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: make the project importable

from tests.conftest import SIGNING_SECRET  # noqa: E402
from tests.fakes.fake_slack import BOT_TOKEN, FakeSlack  # noqa: E402
from tests.fakes.fake_tavus import API_KEY, FakeTavus  # noqa: E402
from tests.raw_http import trickle  # noqa: E402

HOST = "127.0.0.1"
MIB = 1024 * 1024


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


async def start_bot(
    root: Path, port: int, work: Path, slack: FakeSlack, tavus: FakeTavus, fd_limit: int | None
) -> asyncio.subprocess.Process:
    """bot.py in HTTP mode, its database and log (bot.log) in `work`, started and healthy;
    with `fd_limit`, it may open that many files and sockets (a common default is 1024)."""

    def limit_files() -> None:
        if fd_limit is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (fd_limit, fd_limit))

    log = work / "bot.log"
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    env = {
        **keep,
        "PYTHONUNBUFFERED": "1",
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "TAVUS_API_KEY": API_KEY,
        "HOST": HOST,
        "PORT": str(port),
        "DATABASE_PATH": str(work / "bot.db"),
        "SLACK_API_URL": f"{slack.url}/api/",
        "TAVUS_API_URL": tavus.url,
    }
    with log.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(root / "bot.py"),
            cwd=work,
            env=env,
            stderr=stderr,
            preexec_fn=limit_files,
        )
    async with httpx.AsyncClient() as http:
        for _ in range(200):  # 10 s at most
            try:
                await http.get(f"http://{HOST}:{port}/healthz")
                await asyncio.sleep(1.0)  # let the start-up lines land before measuring
                return process
            except httpx.TransportError:
                await asyncio.sleep(0.05)
    process.kill()
    raise SystemExit("the bot did not start; see " + str(log))


async def stop_bot(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 15)
        except TimeoutError:
            process.kill()
            await process.wait()


def log_size(log: Path) -> tuple[int, int]:
    """(bytes, lines) of the log so far."""
    data = log.read_bytes()
    return len(data), data.count(b"\n")


async def log_growth(port: int, log: Path, posts: int) -> None:
    """(a) Unsigned 1 MiB POSTs: what each adds to the log."""
    # Form fields Bolt can parse: it then checks the signature (and, before, logged the body).
    body = b"text=" + b"x" * (MIB - len(b"text="))
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": str(int(time.time())),
        "x-slack-signature": "v0=" + "0" * 64,
    }
    bytes_before, lines_before = await asyncio.to_thread(log_size, log)
    statuses: dict[int, int] = {}
    started = time.monotonic()
    async with httpx.AsyncClient(timeout=30) as http:
        for _ in range(posts):
            url = f"http://{HOST}:{port}/slack/events"
            response = await http.post(url, content=body, headers=headers)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            if time.monotonic() - started > 300:
                break
    seconds = time.monotonic() - started
    await asyncio.sleep(0.5)
    bytes_after, lines_after = await asyncio.to_thread(log_size, log)
    added, lines, sent = (
        bytes_after - bytes_before,
        lines_after - lines_before,
        sum(statuses.values()),
    )
    print(f"(a) {sent} unsigned 1 MiB POSTs to /slack/events in {seconds:.1f} s: {statuses}")
    print(
        f"    log grew by {added:,} bytes: {added / sent:,.0f} bytes, {lines / sent:.1f} lines each"
    )


async def probe_health(
    port: int, until: asyncio.Event, latencies: list[float], failures: list[str]
) -> None:
    """/healthz every 0.25 s on a fresh connection, as a new client would see it."""
    limits = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=5, limits=limits) as http:
        while not until.is_set():
            started = time.monotonic()
            try:
                await http.get(f"http://{HOST}:{port}/healthz")
                latencies.append(time.monotonic() - started)
            except httpx.HTTPError as error:
                failures.append(type(error).__name__)
            await asyncio.sleep(0.25)


async def slow_connections(port: int, count: int, interval: float, limit: float) -> None:
    """(b) `count` connections sending a header byte every `interval` s, held at most `limit` s."""
    head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"s" * int(
        limit / interval + 10
    )

    async def one(index: int) -> tuple[float, bytes]:
        await asyncio.sleep(index * 0.002)  # 500 a second: the listen backlog is 128
        return await trickle(port, head, interval=interval, limit=limit)

    done = asyncio.Event()
    latencies: list[float] = []
    failures: list[str] = []
    prober = asyncio.create_task(probe_health(port, done, latencies, failures))
    started = time.monotonic()
    held = [seconds for seconds, _ in await asyncio.gather(*(one(index) for index in range(count)))]
    done.set()
    await prober
    closed = [seconds for seconds in held if seconds < limit]
    print(f"(b) {count} slow connections, a header byte every {interval} s, watched {limit:.0f} s:")
    if closed:
        print(
            f"    {len(closed)} closed by the bot after {min(closed):.2f} s (min),"
            f" {statistics.median(closed):.2f} s (median), {max(closed):.2f} s (max)"
        )
    print(f"    still open when the bench stopped watching: {count - len(closed)}")
    if latencies:
        ms = sorted(seconds * 1000 for seconds in latencies)
        p95 = ms[int(0.95 * (len(ms) - 1))]
        print(
            f"    /healthz meanwhile: {len(ms)} answers, median {statistics.median(ms):.1f} ms,"
            f" p95 {p95:.1f} ms, max {ms[-1]:.1f} ms; failed: {len(failures)} {set(failures)}"
        )
    print(f"    (b) took {time.monotonic() - started:.1f} s")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=200, help="unsigned 1 MiB POSTs (max 1000)")
    parser.add_argument("--slow", type=int, default=500, help="slow connections (max 2000)")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between header bytes")
    parser.add_argument("--limit", type=float, default=40.0, help="seconds to watch them (max 120)")
    parser.add_argument("--bot-fd-limit", type=int, help="RLIMIT_NOFILE for the bot, e.g. 1024")
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout whose bot.py runs")
    args = parser.parse_args()
    posts, slow, limit = min(args.posts, 1000), min(args.slow, 2000), min(args.limit, 120.0)

    slack, tavus = FakeSlack(), FakeTavus()
    await slack.start()
    await tavus.start()
    work = Path(tempfile.mkdtemp(prefix="hostile-http-"))
    log = work / "bot.log"
    port = free_port()
    process = await start_bot(args.root.resolve(), port, work, slack, tavus, args.bot_fd_limit)
    try:
        files = f", at most {args.bot_fd_limit} open files" if args.bot_fd_limit else ""
        print(f"bot.py from {args.root.resolve()} on {HOST}:{port}{files}, log in {log}")
        await log_growth(port, log, posts)
        await slow_connections(port, slow, args.interval, limit)
    finally:
        await stop_bot(process)
        await tavus.stop()
        await slack.stop()
        size = log.stat().st_size
        shutil.rmtree(work)
        print(f"the bot's whole log was {size:,} bytes (deleted)")


if __name__ == "__main__":
    asyncio.run(main())
