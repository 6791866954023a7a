"""Polling (reconciler) rounds with many replicas training: how long a round takes, how many
Tavus calls it makes, and what it does meanwhile to `/replica` and to the event loop.

Run from the repository root:  python bench/polling.py [--replicas 10000] [--rounds 8]

The requests are seeded into the bot's SQLite before it starts (copies of a training request
the real bot made, with replica ids the fake Tavus knows, "training" at the progress stored, so
a poll finds nothing new to announce unless --moving-progress). The bot polls every
--poll-interval s (POLL_INTERVAL_SECONDS, ±10 %), its first round 2 s after start-up; the bench
lets --rounds rounds run, so that the samples of all of them pooled make a p99 worth reading
(one round of 10,000 lasts about a second: some 50 commands, whose p99 would be their
maximum). Throughout, the bench:

- sends `/replica` every --command-interval s (one at a time) and times each until views.open
  reaches the fake Slack;
- asks GET /healthz every 10 ms (one at a time) and times it. /healthz pings SQLite through the
  bot's database thread, so its latency is the event loop's stalls plus the wait for that thread;
- reads the bot's GET /metrics every second (during rounds and between them alike, so that
  its cost weighs on both sides of the comparison);
- measures its own event loop's lag (bench._harness.LoopLag): the bench runs the fake Slack,
  the fake Tavus and both probes on one event loop, so its stalls would delay sending a
  command and noting views.open just as the bot's would. The fake Tavus serves the list's
  pages pre-encoded and the bench's own start-up objects are frozen out of its garbage
  collector, which keeps that lag small; the figure shows how small.

Samples sent during a round are compared with those sent between rounds, once the bot is idle
(from --settle s after a round's end to 0.25 s before the next one begins), and after the last.
A round's end and duration come from the bot's /metrics
(replica_bot_reconciler_round_duration_seconds), its start from the first read of Tavus after
it began (a few milliseconds late: the round reads the database first), its end as that plus
its duration. A bot without /metrics (an older checkout, --root) is timed by the bursts of its
Tavus reads, first to last.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import itertools
import random
import re
import shutil
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: make the project importable

import aiohttp  # noqa: E402

from bench._harness import (  # noqa: E402
    BenchTavus,
    Child,
    HealthProbe,
    LoopLag,
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
from tavus.client import PAGE_SIZE  # noqa: E402

ROUNDS = re.compile(r"^replica_bot_reconciler_rounds_total\{[^}]*\}\s+(\S+)$", re.MULTILINE)
ROUND_SECONDS = re.compile(
    r"^replica_bot_reconciler_round_duration_seconds_sum\s+(\S+)$", re.MULTILINE
)
SCRAPE_SECONDS = 1.0  # /metrics read this often, during rounds and between them alike
BEFORE_ROUND = 0.25  # s before a round's first read of Tavus not counted as idle
BURST_GAP = 1.0  # s without a Tavus read that ends a round (a bot without /metrics)
BENCH_STALL = 0.005  # a bench stall this long (s) in a command's time is counted in the notes
RESAMPLES = 2000  # draws of the idle p99 at the rounds' sample count


@dataclass(frozen=True)
class Scrape:
    sent: float  # time.perf_counter() before asking
    answered: float  # and once answered
    rounds: float  # replica_bot_reconciler_rounds_total, all outcomes
    seconds: float  # replica_bot_reconciler_round_duration_seconds_sum


@dataclass(frozen=True)
class Round:
    start: float
    end: float


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


def bursts(times: Sequence[float], gap: float) -> list[tuple[float, float, int]]:
    """`times` (sorted) grouped where `gap` s pass without one: (first, last, how many)."""
    found: list[tuple[float, float, int]] = []
    for moment in times:
        if found and moment - found[-1][1] <= gap:
            first, _, count = found[-1]
            found[-1] = (first, moment, count + 1)
        else:
            found.append((moment, moment, 1))
    return found


def rounds_from_metrics(scrapes: Sequence[Scrape], reads: Sequence[float]) -> list[Round]:
    """Each round the scrapes saw end: its duration is the growth of the duration sum, its end
    lies between the last scrape that had not counted it and the first that had; it began
    that duration earlier, and its first read of Tavus (`reads`, sorted) came just after."""
    found: list[Round] = []
    for before, after in itertools.pairwise(scrapes):
        ended = round(after.rounds - before.rounds)
        if ended == 0:
            continue
        if ended > 1:
            raise SystemExit("two rounds ended between scrapes: make --poll-interval longer")
        seconds = after.seconds - before.seconds
        # The round began within (before.sent - seconds, after.answered - seconds]; its first
        # read comes a database read or two later. The previous round's reads are a poll
        # interval earlier, out of this window.
        earliest, latest = before.sent - seconds, after.answered - seconds + 0.5
        first = next((at for at in reads if earliest < at <= latest), None)
        if first is None:  # no read of Tavus: the middle of the window the end lies in
            first = (before.sent + after.answered) / 2 - seconds
        found.append(Round(first, first + seconds))
    return found


def idle_windows(
    rounds: Sequence[Round], reads: Sequence[float], settle: float, stopped: float
) -> list[tuple[float, float]]:
    """When the bot was idle: from `settle` s after each round's end until just before the
    next round's first read of Tavus (or one the bench did not count), or `stopped`."""
    windows: list[tuple[float, float]] = []
    for index, this in enumerate(rounds):
        following = rounds[index + 1].start if index + 1 < len(rounds) else stopped
        later = next((at for at in reads if at > this.end + 0.1), following)
        start, end = this.end + settle, min(following, later) - BEFORE_ROUND
        if end > start:
            windows.append((start, end))
    return windows


def without(
    windows: Sequence[tuple[float, float]], holes: Sequence[tuple[float, float]], margin: float
) -> list[tuple[float, float]]:
    """`windows` with each of `holes` (and `margin` s after it) cut out."""
    pieces = list(windows)
    for hole_start, hole_end in holes:
        cut: list[tuple[float, float]] = []
        for start, end in pieces:
            if hole_start > start:
                cut.append((start, min(end, hole_start)))
            if hole_end + margin < end:
                cut.append((max(start, hole_end + margin), end))
        pieces = [(start, end) for start, end in cut if end > start]
    return pieces


def within(moment: float, windows: Sequence[tuple[float, float]]) -> bool:
    return any(start <= moment <= end for start, end in windows)


# A figure of a list of latencies (s): a percentile, or the largest.
Measure = Callable[[list[float]], float]


def _peak(samples: list[float]) -> float:
    return max(samples, default=float("nan"))


def resampled_p99(idle: Sequence[float], count: int) -> float:
    """The p99 the idle samples give at `count` samples (the median over RESAMPLES random
    draws of that many): a p99 of 400 samples is their 4th largest, of 4,000 their 40th, so
    only at one count are the two sides' p99 alike in what they measure."""
    if not idle or count <= 0:
        return float("nan")
    draw = random.Random(13)
    count = min(count, len(idle))
    return statistics.median(percentile(draw.sample(idle, count), 99) for _ in range(RESAMPLES))


def moved_progress(tavus: BenchTavus, round_number: int) -> None:
    """New progress for every replica (--moving-progress), so each round owes a status edit."""
    progress = f"{41 + round_number}/100"
    for replica in tavus.replicas.values():
        replica["training_progress"] = progress
    tavus.prepare_listing(PAGE_SIZE)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=10_000, help="requests training")
    parser.add_argument("--rounds", type=int, default=24, help="rounds measured, pooled")
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=4.0,
        help="the bot's POLL_INTERVAL_SECONDS: the pause between rounds (±10 %%)",
    )
    parser.add_argument(
        "--settle", type=float, default=0.5, help="s after a round not counted as idle"
    )
    parser.add_argument(
        "--idle-seconds", type=float, default=2.0, help="sampling after the last round"
    )
    parser.add_argument("--probe-interval", type=float, default=0.01, help="/healthz period, s")
    parser.add_argument(
        "--command-interval", type=float, default=0.02, help="/replica sent every this many s"
    )
    parser.add_argument(
        "--moving-progress",
        action="store_true",
        help="Tavus reports new progress for every replica each round (each owes a status edit)",
    )
    parser.add_argument(
        "--samples",
        action="store_true",
        help="put every /replica (sent, seconds) and the rounds in the JSON (time.perf_counter()"
        ", the clock of the bot's own as well: to line them up with what the bot logs)",
    )
    common_arguments(parser)
    args = parser.parse_args()
    apply_common(args)
    report = Report("polling", args, columns=("during the rounds", "idle"))
    extra = {"POLL_INTERVAL_SECONDS": f"{args.poll_interval:g}", **parse_env(args.bot_env)}

    async with fakes() as (slack, tavus):
        slack.views_kept = 200  # forms for views.update; thousands are opened
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
                moved_progress(tavus, 0)
            else:
                tavus.prepare_listing(PAGE_SIZE)
            fake_get = await fake_get_latency(tavus, "rb" + f"{ids[0]:09d}")
            report.raw["fake_tavus_get"] = fake_get
            print(f"seeded {len(ids)} training requests in {seed_seconds:.1f} s")
            print(f"fake Tavus GET on its own: {fake_get}")
            # What the bench holds from here on (the fakes' 10,000 replicas, pages, messages)
            # is never garbage: out of the collector's sight, collections stay short.
            gc.collect()
            gc.freeze()
            reads_before = len(tavus.get_times) + len(tavus.list_times)

            bot = await start_bot(args.root, work, slack, tavus, database=database, extra=extra)
            lag = LoopLag()
            lag.start()
            probe = HealthProbe(bot.url, args.probe_interval)
            probe.start()
            commands: list[tuple[float, float | None]] = []  # (sent, seconds to views.open)
            # (when, bot CPU: all, main thread, other threads; the bench's own CPU), every 50 ms
            cpu: list[tuple[float, float, float, float, float]] = []
            scrapes: list[Scrape] = []
            # When the bench moved the progress (--moving-progress): its own work, not idle.
            bench_busy: list[tuple[float, float]] = []
            stop = asyncio.Event()
            try:
                async with aiohttp.ClientSession() as session:
                    sender = SlackSender(session, bot.url, slack)
                    use_metrics = await round_metrics(session, bot) is not None

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

                    async def sample_cpu() -> None:
                        while True:
                            moment = time.perf_counter()
                            cpu.append((moment, bot.cpu(), *bot.thread_cpu(), time.process_time()))
                            await asyncio.sleep(0.05)

                    async def scrape() -> None:
                        while True:
                            sent = time.perf_counter()
                            found = await round_metrics(session, bot)
                            if found is not None:
                                scrapes.append(Scrape(sent, time.perf_counter(), *found))
                                if (
                                    args.moving_progress
                                    and len(scrapes) > 1
                                    and found[0] > scrapes[-2].rounds
                                ):
                                    started = time.perf_counter()
                                    moved_progress(tavus, round(found[0]))
                                    bench_busy.append((started, time.perf_counter()))
                            await asyncio.sleep(SCRAPE_SECONDS)

                    def rounds_done() -> int:
                        if use_metrics:
                            return round(scrapes[-1].rounds) if scrapes else 0
                        seen = sorted(tavus.get_times + tavus.list_times)[reads_before:]
                        quiet = bool(seen) and time.perf_counter() - seen[-1] > 2 * BURST_GAP
                        complete = bursts(seen, BURST_GAP)[: None if quiet else -1]
                        return sum(1 for *_, count in complete if count >= 10)

                    tasks = [
                        asyncio.create_task(job()) for job in (command_loop, sample_cpu, scrape)
                    ]
                    began = time.perf_counter()
                    while rounds_done() < args.rounds:
                        if time.perf_counter() - began > 3600:
                            raise SystemExit("the rounds did not end within an hour")
                        await asyncio.sleep(0.1)
                    await asyncio.sleep(SCRAPE_SECONDS + args.settle + args.idle_seconds)
                    stopped = time.perf_counter()
                    stop.set()
                    await tasks[0]
                    for task in tasks[1:]:
                        task.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await task
            finally:
                await probe.stop()
                await lag.stop()
                await bot.stop()

    reads = sorted(tavus.get_times + tavus.list_times)[reads_before:]
    if use_metrics:
        how = "the bot's /metrics (duration) and its first read of Tavus (start)"
        rounds = rounds_from_metrics(scrapes, reads)[: args.rounds]
    else:
        how = "first and last read of Tavus (no /metrics)"
        rounds = [
            Round(first, last) for first, last, count in bursts(reads, BURST_GAP) if count >= 10
        ][: args.rounds]
    if not rounds:
        raise SystemExit("no polling round was seen")
    # The bench's own work (moving the progress) is neither the bot's idle nor its round.
    idle_spans = without(idle_windows(rounds, reads, args.settle, stopped), bench_busy, 0.1)
    round_spans = [(r.start, r.end) for r in rounds]

    def sent_in(spans: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
        return [(sent, s) for sent, s in commands if s is not None and within(sent, spans)]

    during_timed, idle_timed = sent_in(round_spans), sent_in(idle_spans)
    # Each round's listing (its first page to its last): the rest of the round is the checks.
    listing_spans = []
    for this in rounds:
        pages = [at for at in tavus.list_times if this.start - 0.01 <= at <= this.end + 0.1]
        if pages:
            listing_spans.append((min(pages), max(pages)))
    while_listing = [s for sent, s in during_timed if within(sent, listing_spans)]
    while_checking = [s for sent, s in during_timed if not within(sent, listing_spans)]
    during = [s for _, s in during_timed]
    idle = [s for _, s in idle_timed]
    lost = sum(1 for _, s in commands if s is None)

    def pooled(
        samples: Callable[[float, float], list[float]], spans: Sequence[tuple[float, float]]
    ) -> list[float]:
        return [value for start, end in spans for value in samples(start, end)]

    health_during, health_idle = (
        pooled(probe.between, round_spans),
        pooled(probe.between, idle_spans),
    )
    lag_during, lag_idle = pooled(lag.between, round_spans), pooled(lag.between, idle_spans)

    def stalled(timed: Sequence[tuple[float, float]]) -> int:
        """Commands in whose time the bench's own loop stalled for BENCH_STALL or more."""
        return sum(1 for sent, s in timed if lag.worst(sent, sent + s) >= BENCH_STALL)

    def cpu_at(moment: float) -> tuple[float, float, float, float, float]:
        return min(cpu, key=lambda sample: abs(sample[0] - moment))

    def cpu_over(spans: Sequence[tuple[float, float]], field: int) -> float:
        return sum(cpu_at(end)[field] - cpu_at(start)[field] for start, end in spans)

    def seconds_of(spans: Sequence[tuple[float, float]]) -> float:
        return sum(end - start for start, end in spans)

    durations = [r.end - r.start for r in rounds]
    per_round_reads = [tavus.reads_between(r.start - 0.01, r.end + 0.1) for r in rounds]
    calls = [gets + lists for gets, lists in per_round_reads]
    cpu_round, main_round, other_round = (cpu_over(round_spans, n) for n in (1, 2, 3))
    cpu_idle = cpu_over(idle_spans, 1)
    bench_share_during = cpu_over(round_spans, 4) / seconds_of(round_spans)
    bench_share_idle = cpu_over(idle_spans, 4) / max(seconds_of(idle_spans), 1e-9)
    report.raw.update(
        {
            "replicas": len(ids),
            "seed_seconds": seed_seconds,
            "rounds": len(rounds),
            "round_seconds": durations,
            "round_spans": round_spans,
            "round_found_by": how,
            "tavus_gets_lists_per_round": per_round_reads,
            "idle_seconds_pooled": seconds_of(idle_spans),
            "bot_cpu_seconds_rounds": cpu_round,
            "bot_cpu_seconds_rounds_main_thread": main_round,
            "bot_cpu_seconds_rounds_other_threads": other_round,
            "bot_cpu_seconds_idle": cpu_idle,
            "bench_cpu_share_rounds": bench_share_during,
            "bench_cpu_share_idle": bench_share_idle,
            "replica_during": latency_summary(during),
            "replica_idle": latency_summary(idle),
            "replica_idle_p99_at_round_count_ms": resampled_p99(idle, len(during)) * 1000,
            "listing_seconds_per_round": [end - start for start, end in listing_spans],
            "replica_during_listing": latency_summary(while_listing),
            "replica_during_checks": latency_summary(while_checking),
            "replica_during_bench_stalled": stalled(during_timed),
            "replica_idle_bench_stalled": stalled(idle_timed),
            "bench_loop_lag_during": latency_summary(lag_during),
            "bench_loop_lag_idle": latency_summary(lag_idle),
            "healthz_during": latency_summary(health_during),
            "healthz_idle": latency_summary(health_idle),
            "healthz_failures": probe.failures,
            # The slowest /healthz answers in the rounds: (round, s after it began, ms).
            "healthz_worst_during": worst_in_rounds(probe.samples, rounds),
            # The slowest /replica in the rounds: (round, s after it began, ms, bench stall ms).
            "replica_worst_during": [
                (
                    *_where(sent, rounds),
                    round(s * 1000, 1),
                    round(lag.worst(sent, sent + s) * 1000, 1),
                )
                for sent, s in sorted(during_timed, key=lambda sample: -sample[1])[:10]
            ],
            "commands_without_views_open": lost,
            "slack_calls": dict(slack.counts),
        }
    )
    if args.samples:
        report.raw["replica_samples_during"] = during_timed
        report.raw["replica_samples_idle"] = idle_timed
    print({k: v for k, v in report.raw.items() if k != "fake_tavus_get" and "samples" not in k})
    count = len(ids)
    report.add(
        f"round with {count:,} training: duration, median of {len(rounds)}",
        statistics.median(durations),
        None,
        "s",
    )
    report.add("Tavus calls per round (GET + list pages), most", max(calls), None, "")
    report.add("round time per replica", statistics.median(durations) / count * 1000, None)
    # The /replica commands sent meanwhile cost CPU too: take off what they cost when idle.
    commands_cpu = cpu_idle / len(idle) * len(during) if idle else 0.0
    report.add(
        "bot CPU per replica (≈, /replica taken off)",
        max(0.0, cpu_round - commands_cpu) / (count * len(rounds)) * 1000,
        None,
    )
    report.add(
        "/replica → views.open p99", percentile(during, 99) * 1000, percentile(idle, 99) * 1000
    )
    report.add(
        f"/replica → views.open p99, idle at the rounds' count ({len(during)})",
        percentile(during, 99) * 1000,
        resampled_p99(idle, len(during)) * 1000,
    )

    def both_ms(label: str, in_rounds: list[float], at_idle: list[float], of: Measure) -> None:
        report.add(label, of(in_rounds) * 1000, of(at_idle) * 1000)

    both_ms("/replica → views.open p95", during, idle, lambda s: percentile(s, 95))
    both_ms("/replica → views.open p50", during, idle, lambda s: percentile(s, 50))
    both_ms("/healthz every 10 ms: p99", health_during, health_idle, lambda s: percentile(s, 99))
    both_ms("/healthz every 10 ms: max (event-loop stall)", health_during, health_idle, _peak)
    both_ms("the bench's own loop lag: p99", lag_during, lag_idle, lambda s: percentile(s, 99))
    both_ms("the bench's own loop lag: max", lag_during, lag_idle, _peak)
    report.add("the bench's own CPU (share of a core)", bench_share_during, bench_share_idle, "")
    report.note(
        f"{len(during)} /replica during {len(rounds)} rounds ({seconds_of(round_spans):.1f} s), "
        f"{len(idle)} idle ({seconds_of(idle_spans):.1f} s); {lost} got no views.open; "
        f"/healthz samples {len(health_during)} during, {len(health_idle)} idle, "
        f"{probe.failures} failed"
    )
    report.note(
        f"rounds: {', '.join(f'{d:.2f}' for d in durations)} s; Tavus calls per round: "
        f"{', '.join(str(c) for c in calls)}"
    )
    report.note(
        "/replica p99 while the round reads Tavus's list: "
        f"{percentile(while_listing, 99) * 1000:.2f} ms ({len(while_listing)}, "
        f"{seconds_of(listing_spans):.1f} s); during its checks: "
        f"{percentile(while_checking, 99) * 1000:.2f} ms ({len(while_checking)})"
    )
    report.note(
        f"/replica whose time held a stall of the bench's own loop of "
        f"{BENCH_STALL * 1000:.0f} ms or more: {report.raw['replica_during_bench_stalled']} "
        f"during, {report.raw['replica_idle_bench_stalled']} idle"
    )
    report.note(f"the rounds' start and end: {how}")
    report.note(
        f"the fake Tavus's GET alone: p50 {fake_get['p50_ms']} ms, p99 {fake_get['p99_ms']} ms"
    )
    report.note(
        f"bot CPU in the rounds: {main_round:.2f} s main thread (event loop), "
        f"{other_round:.2f} s other threads (SQLite, executors), /replica included"
    )
    report.print()
    report.write_json(args.json)


def _where(moment: float, rounds: Sequence[Round]) -> tuple[int, float]:
    """(which round, 1 on; s after it began) of a moment within one."""
    for number, this in enumerate(rounds, 1):
        if this.start <= moment <= this.end:
            return number, round(moment - this.start, 3)
    return 0, 0.0


def worst_in_rounds(
    samples: Sequence[tuple[float, float]], rounds: Sequence[Round], count: int = 10
) -> list[Any]:
    """The `count` slowest (sent, seconds) samples sent in a round: (round, s in, ms)."""
    inside = [(sent, s) for sent, s in samples if _where(sent, rounds)[0]]
    inside.sort(key=lambda sample: -sample[1])
    return [(*_where(sent, rounds), round(s * 1000, 1)) for sent, s in inside[:count]]


if __name__ == "__main__":
    asyncio.run(main())
