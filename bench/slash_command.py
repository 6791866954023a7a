"""`/replica` → the form: how long from the signed POST leaving until the fake Slack receives
views.open, one at a time and in bursts, and the bot's CPU per command, against a bare Bolt
AsyncApp that only acks and opens a static modal.

Run from the repository root:  python bench/slash_command.py [--sequential 200] [--bursts 50]

Both run at once. The one-at-a-time commands go to each side in turn (the floor's first), so
that each side's CPU is its own; the bursts alternate, a burst to the floor, then one to the
bot, so that a noisy moment of the machine falls on both alike. A burst's p99 is decided by
its slowest few commands: with 10 bursts a side run one after the other, one stall of the
machine during either side's bursts moved the ratio from 0.7x to 1.9x between runs.

Times run from just before the POST is sent (signing is done first) to the moment the fake
Slack (in this process) receives views.open with that command's trigger_id. CPU is the child
process's user + system time (/proc/<pid>/stat, all threads) over the one-at-a-time run, from
before the first command until the process is idle again after the last (the bot looks the
requester's name up and fills it in after views.open: that counts).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: make the project importable

import aiohttp  # noqa: E402

from bench._harness import (  # noqa: E402
    BenchCpu,
    Child,
    Report,
    SlackSender,
    apply_common,
    common_arguments,
    fakes,
    latency_summary,
    parse_env,
    percentile,
    start_bot,
    start_floor,
    until_cpu_quiet,
    work_dir,
)

USERS = 50  # requesters taken in turn (the bot keeps names it learnt in memory)


def user(index: int) -> str:
    return f"U{index % USERS:07d}"


async def one_at_a_time(
    child: Child, sender: SlackSender, sequential: int, warmup: int
) -> dict[str, Any]:
    """One side's warm-up, then its commands one at a time, with its CPU."""
    for index in range(warmup):
        await sender.open_form_timed(user=user(index))
    await until_cpu_quiet(child.pid)
    one: list[float] = []
    missing = 0
    cpu_before, bench_cpu = child.cpu(), BenchCpu()
    threads_before = child.thread_cpu()
    for index in range(sequential):
        seconds, _ = await sender.open_form_timed(user=user(index))
        if seconds is None:
            missing += 1
        else:
            one.append(seconds)
    share = bench_cpu.share()
    await until_cpu_quiet(child.pid)
    cpu = child.cpu() - cpu_before
    threads_after = child.thread_cpu()
    return {
        "one_at_a_time": latency_summary(one),
        "cpu_seconds": cpu,
        "cpu_ms_per_command": cpu / sequential * 1000,
        "cpu_ms_per_command_main_thread": (threads_after[0] - threads_before[0])
        / sequential
        * 1000,
        "cpu_ms_per_command_other_threads": (threads_after[1] - threads_before[1])
        / sequential
        * 1000,
        "no_views_open": missing,
        "bench_process_cpu_share": round(share, 2),
        "_one": one,
        "_burst": [],
        "_burst_cpu": 0.0,
        "_burst_wall": 0.0,
    }


async def one_burst(
    child: Child, sender: SlackSender, result: dict[str, Any], round_: int, size: int
) -> None:
    """One burst of `size` commands at once to one side, its times added to `result`."""
    # What the bench holds so far (the fakes' record of every call, growing) out of its
    # collector's sight: a full collection during a burst stalls the bench's event loop, which
    # delays sending commands and noting views.open just as a stall of the side measured would.
    gc.collect()
    gc.freeze()
    cpu_at, wall_at = time.process_time(), time.perf_counter()
    answers = await asyncio.gather(
        *(sender.open_form_timed(user=user(round_ * size + i)) for i in range(size))
    )
    result["_burst_cpu"] += time.process_time() - cpu_at
    result["_burst_wall"] += time.perf_counter() - wall_at
    for seconds, _ in answers:
        if seconds is None:
            result["no_views_open"] += 1
        else:
            result["_burst"].append(seconds)
    await until_cpu_quiet(child.pid, quiet=0.2)


def finished(result: dict[str, Any], sender: SlackSender) -> None:
    """The bursts' summary and the side's errors, added to `result`."""
    wall = result["_burst_wall"]
    result["burst"] = latency_summary(result["_burst"])
    result["bench_process_cpu_share_bursts"] = round(
        result["_burst_cpu"] / wall if wall else 0.0, 2
    )
    result["errors"] = dict(sender.errors)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequential", type=int, default=200, help="commands one at a time")
    parser.add_argument("--bursts", type=int, default=50, help="bursts of concurrent commands")
    parser.add_argument("--burst-size", type=int, default=20, help="commands per burst")
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured commands first")
    common_arguments(parser)
    args = parser.parse_args()
    apply_common(args)
    report = Report("slash_command", args)
    extra = parse_env(args.bot_env)
    results: dict[str, dict[str, Any]] = {}

    async with fakes() as (slack, tavus):
        with work_dir("bench-slash-", args.keep) as work:
            async with contextlib.AsyncExitStack() as running:
                children: dict[str, Child] = {}
                senders: dict[str, SlackSender] = {}
                for name in ("floor", "bot"):
                    if name == "floor":
                        child = await start_floor("bolt", work, slack)
                    else:
                        child = await start_bot(args.root, work, slack, tavus, extra=extra)
                    running.push_async_callback(child.stop)
                    connector = aiohttp.TCPConnector(limit=max(100, args.burst_size * 2))
                    session = aiohttp.ClientSession(connector=connector)
                    running.push_async_callback(session.close)
                    children[name] = child
                    senders[name] = SlackSender(session, child.url, slack)
                # One at a time: each side on its own, so that its CPU is its own.
                for name, child in children.items():
                    results[name] = await one_at_a_time(
                        child, senders[name], args.sequential, args.warmup
                    )
                # Bursts: the sides take turns, burst by burst, so that a noisy moment of this
                # shared machine falls on both alike.
                for round_ in range(args.bursts):
                    for name, child in children.items():
                        await one_burst(
                            child, senders[name], results[name], round_, args.burst_size
                        )
            for name in children:
                finished(results[name], senders[name])
                shown = {k: v for k, v in results[name].items() if not k.startswith("_")}
                print(f"{name}: {shown}")
                report.raw[name] = shown

    bot, floor = results["bot"], results["floor"]
    report.add(
        "/replica → views.open, one at a time: p50",
        percentile(bot["_one"], 50) * 1000,
        percentile(floor["_one"], 50) * 1000,
    )
    report.add(
        "/replica → views.open, one at a time: p99",
        percentile(bot["_one"], 99) * 1000,
        percentile(floor["_one"], 99) * 1000,
    )
    report.add(
        f"/replica → views.open, bursts of {args.burst_size}: p99",
        percentile(bot["_burst"], 99) * 1000,
        percentile(floor["_burst"], 99) * 1000,
    )
    report.add("CPU per /replica", bot["cpu_ms_per_command"], floor["cpu_ms_per_command"])
    report.add("commands without views.open", bot["no_views_open"], floor["no_views_open"], "")
    report.note(
        f"{args.sequential} one at a time, {args.bursts} bursts of {args.burst_size}, after "
        f"{args.warmup} unmeasured; errors: bot {bot['errors']}, floor {floor['errors']}"
    )
    report.note(
        "bot CPU per /replica by thread: "
        f"{bot['cpu_ms_per_command_main_thread']:.1f} ms main (event loop), "
        f"{bot['cpu_ms_per_command_other_threads']:.1f} ms others (SQLite, executors); "
        "bench process CPU in bursts: "
        f"{floor['bench_process_cpu_share_bursts']:.0%} of a core (floor), "
        f"{bot['bench_process_cpu_share_bursts']:.0%} (bot)"
    )
    report.print()
    report.write_json(args.json)


if __name__ == "__main__":
    asyncio.run(main())
