"""One polling (reconciler) round with many replicas training: how long it takes, how many
Tavus calls it makes, and what it does meanwhile to `/replica` and to the event loop.

Run from the repository root:  python bench/polling.py [--replicas 10000]

The requests are seeded into the bot's SQLite before it starts (copies of a training request
the real bot made, with replica ids the fake Tavus knows, "training" at the progress stored, so
a poll finds nothing new to announce unless --moving-progress). The bot's first round starts 2 s
after start-up. Meanwhile, and for a while after, the bench:

- sends `/replica` every 100 ms (one at a time) and times each until views.open reaches the
  fake Slack;
- asks GET /healthz every 10 ms (one at a time) and times it. /healthz pings SQLite through the
  bot's database thread, so its latency is the event loop's stalls plus the wait for that thread.

Samples sent during the round are compared with those sent once the bot is idle again
afterwards. The round's start and end come from the bot's GET /metrics when it serves the
round duration (replica_bot_reconciler_round_duration_seconds); else from the first and last
GET the fake Tavus received (the bot that asked once per request).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: make the project importable

import aiohttp  # noqa: E402

from bench._harness import (  # noqa: E402
    BenchTavus,
    Child,
    HealthProbe,
    Report,
    SlackSender,
    apply_common,
    common_arguments,
    fake_get_latency,
    fakes,
    latency_summary,
    parse_env,
    percentile,
    start_bot,
    work_dir,
)
from bench._seed import make_templates, seed_training  # noqa: E402

ROUNDS = re.compile(r"^replica_bot_reconciler_rounds_total\{[^}]*\}\s+(\S+)$", re.MULTILINE)
ROUND_SECONDS = re.compile(
    r"^replica_bot_reconciler_round_duration_seconds_sum\s+(\S+)$", re.MULTILINE
)


async def round_metrics(session: aiohttp.ClientSession, bot: Child) -> tuple[float, float] | None:
    """(rounds completed, their seconds in all) from the bot's GET /metrics, if it serves them."""
    try:
        async with session.get(f"{bot.url}/metrics") as response:
            if response.status != 200:
                return None
            text = await response.text()
    except aiohttp.ClientError:
        return None
    rounds = [float(value) for value in ROUNDS.findall(text)]
    seconds = ROUND_SECONDS.search(text)
    if not rounds or seconds is None:
        return None
    return sum(rounds), float(seconds.group(1))


async def find_round(
    session: aiohttp.ClientSession,
    bot: Child,
    tavus: BenchTavus,
    reads_before: int,
    expected: int,
) -> tuple[float, float, str, float, float, float]:
    """Wait for the first polling round to end: (its start, its end, how they were found, the
    bot's CPU seconds meanwhile: all, main thread, other threads).

    The bot's own timing when GET /metrics serves replica_bot_reconciler_round_duration_seconds
    (the end is between the scrape that saw the round counted and the one before, 0.2 s
    apart; the start that less the duration); else the first and last GET when every request
    was read with its own GET; else the first and last read of Tavus, once it has had none
    for 5 s.
    """
    use_metrics = await round_metrics(session, bot) is not None
    started = last_scrape = time.perf_counter()
    # The bot's CPU (all, main thread, others) every 50 ms: read at the round's ends after.
    samples: list[tuple[float, float, float, float]] = []

    async def sample_cpu() -> None:
        while True:
            samples.append((time.perf_counter(), bot.cpu(), *bot.thread_cpu()))
            await asyncio.sleep(0.05)

    sampler = asyncio.create_task(sample_cpu())

    def reads() -> list[float]:
        return sorted(tavus.get_times + tavus.list_times)[reads_before:]

    while True:
        now = time.perf_counter()
        if now - started > 3600:
            raise SystemExit("the polling round did not end within an hour")
        seen = reads()
        if use_metrics:
            found = await round_metrics(session, bot)
            if found is not None and found[0] >= 1:
                # It ended between this scrape and the one before.
                end = (time.perf_counter() + last_scrape) / 2
                start, how = end - found[1], "the bot's /metrics (round duration histogram)"
                break
            last_scrape = time.perf_counter()
            await asyncio.sleep(0.2)
            continue
        gets = [at for at in tavus.get_times if at >= (seen[0] if seen else now)]
        if len(gets) >= expected:
            start, end, how = seen[0], gets[-1], "first and last Tavus GET (one per request)"
            break
        if seen and now - seen[-1] > 5.0:
            start, end = seen[0], seen[-1]
            how = "first and last read of Tavus (no /metrics, fewer GETs than requests)"
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)
    sampler.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await sampler

    def at(moment: float) -> tuple[float, float, float, float]:
        return min(samples, key=lambda sample: abs(sample[0] - moment))

    first, last = at(start), at(end)
    return (start, end, how, last[1] - first[1], last[2] - first[2], last[3] - first[3])


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=10_000, help="requests training")
    parser.add_argument("--idle-seconds", type=float, default=10.0, help="sampling after the round")
    parser.add_argument("--probe-interval", type=float, default=0.01, help="/healthz period, s")
    parser.add_argument(
        "--command-interval", type=float, default=0.1, help="/replica sent every this many s"
    )
    parser.add_argument(
        "--moving-progress",
        action="store_true",
        help="Tavus reports new progress for every replica (each owes a status message edit)",
    )
    common_arguments(parser)
    args = parser.parse_args()
    apply_common(args)
    report = Report("polling", args, columns=("during the round", "idle"))
    extra = parse_env(args.bot_env)

    async with fakes() as (slack, tavus):
        with work_dir("bench-polling-", args.keep) as work:
            templates = await make_templates(args.root, work, slack, tavus)
            database = work / "bot.db"
            shutil.copyfile(templates.database, database)
            seeded_at = time.perf_counter()
            ids = seed_training(
                database,
                templates,
                args.replicas,
                tokens="bench-poll-",
                slack=slack,
                tavus=tavus,
                tavus_status="training",
                bulk=True,
            )
            seed_seconds = time.perf_counter() - seeded_at
            if args.moving_progress:
                for replica in tavus.replicas.values():
                    replica["training_progress"] = "41/100"
            fake_get = await fake_get_latency(tavus, "rb" + f"{ids[0]:09d}")
            report.raw["fake_tavus_get"] = fake_get
            print(f"seeded {len(ids)} training requests in {seed_seconds:.1f} s")
            print(f"fake Tavus GET on its own: {fake_get}")
            reads_before = len(tavus.get_times) + len(tavus.list_times)
            calls_before = tavus.calls_made()

            bot = await start_bot(args.root, work, slack, tavus, database=database, extra=extra)
            probe = HealthProbe(bot.url, args.probe_interval)
            probe.start()
            commands: list[tuple[float, float | None]] = []  # (sent, seconds to views.open)
            expected = len(ids) + 1  # and the template left training
            stop = asyncio.Event()
            try:
                async with aiohttp.ClientSession() as session:
                    sender = SlackSender(session, bot.url, slack)

                    async def command_loop() -> None:
                        index = 0
                        while not stop.is_set():
                            sent = time.perf_counter()
                            seconds, _ = await sender.open_form_timed(
                                user=f"U{index % 50:07d}", within=30
                            )
                            commands.append((sent, seconds))
                            index += 1
                            wait = args.command_interval - (time.perf_counter() - sent)
                            await asyncio.sleep(max(0.0, wait))

                    loop_task = asyncio.create_task(command_loop())
                    found = await find_round(session, bot, tavus, reads_before, expected)
                    round_start, round_end, how, cpu_round, main_round, other_round = found
                    await asyncio.sleep(1.0)  # what the last polls owe (e.g. a commit) lands
                    idle_start = time.perf_counter()
                    cpu_idle_start = bot.cpu()
                    tavus_calls = tavus.calls_made() - calls_before
                    await asyncio.sleep(args.idle_seconds)
                    idle_end = time.perf_counter()
                    cpu_idle = bot.cpu() - cpu_idle_start
                    stop.set()
                    await loop_task
            finally:
                await probe.stop()
                await bot.stop()

    duration = round_end - round_start
    during = [s for sent, s in commands if round_start <= sent <= round_end and s is not None]
    idle = [s for sent, s in commands if idle_start <= sent <= idle_end and s is not None]
    lost = sum(1 for _, s in commands if s is None)
    health_during = probe.between(round_start, round_end)
    health_idle = probe.between(idle_start, idle_end)
    # The round's reads of Tavus (a moment's grace for the end, which metrics give late).
    gets, lists = tavus.reads_between(round_start, round_end + 0.6)
    report.raw.update(
        {
            "replicas": len(ids),
            "seed_seconds": seed_seconds,
            "round_seconds": duration,
            "round_found_by": how,
            "tavus_gets": gets,
            "tavus_lists": lists,
            "tavus_calls_incl_startup": tavus_calls,
            "bot_cpu_seconds_round": cpu_round,
            "bot_cpu_seconds_idle_phase": cpu_idle,
            "bot_cpu_seconds_round_main_thread": main_round,
            "bot_cpu_seconds_round_other_threads": other_round,
            "replica_during": latency_summary(during),
            "replica_idle": latency_summary(idle),
            "healthz_during": latency_summary(health_during),
            "healthz_idle": latency_summary(health_idle),
            "healthz_failures": probe.failures,
            # The slowest /healthz answers in the round: (s after the round began, ms).
            "healthz_worst_during": [
                (round(sent - round_start, 3), round(latency * 1000, 1))
                for sent, latency in sorted(
                    (sample for sample in probe.samples if round_start <= sample[0] <= round_end),
                    key=lambda sample: -sample[1],
                )[:10]
            ],
            "commands_without_views_open": lost,
            "slack_calls": dict(slack.counts),
        }
    )
    print({k: v for k, v in report.raw.items() if k != "fake_tavus_get"})
    report.add(f"round with {len(ids):,} training: duration", duration, None, "s")
    report.add("Tavus calls in the round (GET + list pages)", gets + lists, None, "")
    report.add("round time per replica", duration / len(ids) * 1000, None)
    # The /replica commands sent meanwhile cost CPU too: take off what they cost when idle.
    commands_cpu = cpu_idle / len(idle) * len(during) if idle else 0.0
    report.add(
        "bot CPU per replica (≈, /replica taken off)",
        max(0.0, cpu_round - commands_cpu) / len(ids) * 1000,
        None,
    )
    report.add(
        "/replica → views.open p99",
        percentile(during, 99) * 1000,
        percentile(idle, 99) * 1000,
    )
    report.add(
        "/replica → views.open p50",
        percentile(during, 50) * 1000,
        percentile(idle, 50) * 1000,
    )
    report.add(
        "/healthz every 10 ms: p99",
        percentile(health_during, 99) * 1000,
        percentile(health_idle, 99) * 1000,
    )
    report.add(
        "/healthz every 10 ms: max (event-loop stall)",
        max(health_during, default=float("nan")) * 1000,
        max(health_idle, default=float("nan")) * 1000,
    )
    report.note(
        f"{len(during)} /replica during the round, {len(idle)} idle; {lost} got no views.open; "
        f"/healthz samples {len(health_during)} during, {len(health_idle)} idle, "
        f"{probe.failures} failed"
    )
    report.note(f"the round's start and end: {how}")
    report.note(
        f"{gets} GETs and {lists} list pages from the fake Tavus in the round "
        f"(its GET alone: p50 {fake_get['p50_ms']} ms, p99 {fake_get['p99_ms']} ms)"
    )
    report.note(
        f"bot CPU in the round: {main_round:.1f} s main thread (event loop), "
        f"{other_round:.1f} s other threads (SQLite, executors), /replica included"
    )
    report.print()
    report.write_json(args.json)


if __name__ == "__main__":
    asyncio.run(main())
