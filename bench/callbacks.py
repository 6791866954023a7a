"""Tavus callbacks under load: answers per second and latency with 32 in flight, against a floor
that does the least a durable callback needs (one SQLite INSERT + commit per request, WAL,
synchronous=FULL).

Run from the repository root:  python bench/callbacks.py [--count 2000] [--concurrency 32]

Each callback is a final one ("ready") for its own request, training with a known callback
secret, as Tavus sends one when a training ends: the bot records it (202), then confirms it with
GET /v2/replicas/{id} at the fake Tavus and announces it (status message edited, a reply, the
permalink in the consent record). The answers are timed; the background work is timed too, as
"all confirmed and announced", and counted in the bot's CPU per callback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: make the project importable

from bench._harness import (  # noqa: E402
    BenchCpu,
    LoadResult,
    Report,
    apply_common,
    common_arguments,
    eventually,
    fake_get_latency,
    fakes,
    latency_summary,
    parse_env,
    percentile,
    post_many,
    query,
    start_bot,
    start_floor,
    until_cpu_quiet,
    wait_outbox_idle,
    work_dir,
)
from bench._seed import (  # noqa: E402
    make_templates,
    replica_id_of,
    seed_training,
    token_of,
)

TOKENS = "bench-callback-"


def callback_requests(ids: list[int]) -> list[tuple[str, bytes]]:
    return [
        (
            f"/tavus/callback/{token_of(TOKENS, request_id)}",
            json.dumps({"replica_id": replica_id_of(request_id), "status": "ready"}).encode(),
        )
        for request_id in ids
    ]


def describe(name: str, result: LoadResult) -> dict[str, object]:
    return {
        "side": name,
        "answers": len(result.latencies),
        "seconds": round(result.seconds, 3),
        "per_second": round(result.per_second, 1),
        "statuses": dict(result.statuses),
        **latency_summary(result.latencies),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000, help="callbacks measured per side")
    parser.add_argument("--warmup", type=int, default=200, help="callbacks sent first, unmeasured")
    parser.add_argument("--concurrency", type=int, default=32, help="callbacks in flight")
    common_arguments(parser)
    args = parser.parse_args()
    apply_common(args)
    report = Report("callbacks", args)
    extra = parse_env(args.bot_env)

    async with fakes() as (slack, tavus):
        with work_dir("bench-callbacks-", args.keep) as work:
            tavus.add_training("rcheck", "completed", "100/100")
            fake_get = await fake_get_latency(tavus, "rcheck")
            report.raw["fake_tavus_get"] = fake_get
            print(f"fake Tavus GET on its own: {fake_get}")

            # -- the floor ----------------------------------------------------------------
            floor = await start_floor("callback", work, slack)
            try:
                warm = [
                    (f"/tavus/callback/warm{i}", b'{"status": "ready"}') for i in range(args.warmup)
                ]
                await post_many(floor.port, warm, args.concurrency)
                bodies = [
                    (f"/tavus/callback/floor{i}", json.dumps({"replica_id": f"r{i}"}).encode())
                    for i in range(args.count)
                ]
                cpu_before, bench_cpu = floor.cpu(), BenchCpu()
                floor_result = await post_many(floor.port, bodies, args.concurrency)
                floor_bench_share = bench_cpu.share()
                floor_cpu = floor.cpu() - cpu_before
            finally:
                await floor.stop()
            report.raw["floor"] = {
                **describe("floor", floor_result),
                "cpu_seconds": floor_cpu,
                "bench_process_cpu_share": round(floor_bench_share, 2),
            }
            print(f"floor: {report.raw['floor']}")

            # -- the bot ------------------------------------------------------------------
            templates = await make_templates(args.root, work, slack, tavus)
            database = work / "bot.db"
            shutil.copyfile(templates.database, database)
            bot = await start_bot(args.root, work, slack, tavus, database=database, extra=extra)
            try:
                # The first polling round comes 2 s after start-up: let it pass (over the
                # templates only) before the seeded requests exist.
                await asyncio.sleep(
                    max(0.0, bot.started_at + bot.ready_seconds + 2.5 - time.perf_counter())
                )
                ids = seed_training(
                    database,
                    templates,
                    args.warmup + args.count,
                    tokens=TOKENS,
                    slack=slack,
                    tavus=tavus,
                    tavus_status="completed",
                )
                warmup, measured = ids[: args.warmup], ids[args.warmup :]
                await post_many(bot.port, callback_requests(warmup), args.concurrency)
                await wait_outbox_idle(database, 300)
                await until_cpu_quiet(bot.pid)

                cpu_before, bench_cpu = bot.cpu(), BenchCpu()
                threads_before = bot.thread_cpu()
                started = time.perf_counter()
                bot_result = await post_many(
                    bot.port, callback_requests(measured), args.concurrency
                )
                bench_share = bench_cpu.share()
                first, last = measured[0], measured[-1]

                def all_done() -> bool:
                    rows = query(
                        database,
                        "SELECT count(*) FROM replica_requests WHERE id BETWEEN ? AND ? "
                        "AND state = 'succeeded'",
                        [first, last],
                    )
                    return bool(rows[0][0] == len(measured))

                await eventually(all_done, 600, "every callback to be confirmed")
                await wait_outbox_idle(database, 600)
                settled = time.perf_counter() - started
                await until_cpu_quiet(bot.pid)
                bot_cpu = bot.cpu() - cpu_before
                threads_after = bot.thread_cpu()
                main_cpu = threads_after[0] - threads_before[0]
                other_cpu = threads_after[1] - threads_before[1]
            finally:
                await bot.stop()
            report.raw["bot"] = {
                **describe("bot", bot_result),
                "settled_seconds": round(settled, 3),
                "cpu_seconds": bot_cpu,
                "cpu_seconds_main_thread": main_cpu,
                "cpu_seconds_other_threads": other_cpu,
                "bench_process_cpu_share": round(bench_share, 2),
                "slack_calls": dict(slack.counts),
                "tavus_gets": len(tavus.gets),
            }
            print(f"bot: {report.raw['bot']}")

    c = args.concurrency
    report.add(
        f"callbacks answered/s, {c} in flight",
        bot_result.per_second,
        floor_result.per_second,
        "/s",
        better="higher",
    )
    report.add(
        f"callback answer p50, {c} in flight",
        percentile(bot_result.latencies, 50) * 1000,
        percentile(floor_result.latencies, 50) * 1000,
    )
    report.add(
        f"callback answer p99, {c} in flight",
        percentile(bot_result.latencies, 99) * 1000,
        percentile(floor_result.latencies, 99) * 1000,
    )
    report.add(
        "callbacks confirmed (GET) and announced (Slack)/s",
        len(measured) / settled,
        None,
        "/s",
        better="higher",
    )
    report.add(
        "CPU per callback (answer + confirm + announce)",
        bot_cpu / len(measured) * 1000,
        floor_cpu / args.count * 1000,
    )
    report.note(
        f"bot CPU per callback by thread: {main_cpu / len(measured) * 1000:.1f} ms in the main "
        f"(event loop) thread, {other_cpu / len(measured) * 1000:.1f} ms in the others "
        "(SQLite, executors)"
    )
    bad_bot = sum(n for status, n in bot_result.statuses.items() if status != 202)
    bad_floor = sum(n for status, n in floor_result.statuses.items() if status != 202)
    report.add("answers other than 202", bad_bot, bad_floor, "")
    report.note(
        f"{len(measured)} callbacks measured per side after {args.warmup} unmeasured ones; "
        f"statuses: bot {dict(bot_result.statuses)}, floor {dict(floor_result.statuses)}"
    )
    report.note(
        f"bench process CPU while loading: {floor_bench_share:.0%} of a core (floor), "
        f"{bench_share:.0%} (bot); near 100 % the bench itself limits the rate"
    )
    report.note(f"fake Tavus GET alone: p50 {fake_get['p50_ms']} ms, p99 {fake_get['p99_ms']} ms")
    report.print()
    report.write_json(args.json)


if __name__ == "__main__":
    asyncio.run(main())
