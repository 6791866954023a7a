"""Start-up: seconds from starting `python bot.py` until GET /healthz answers 200, against a bare
Bolt AsyncApp (the floor), and how much of it is importing.

Run from the repository root:  python bench/startup.py [--runs 5] [--rows 0]

Each run starts, in turn, the floor, the bot on a new database (it creates the file and applies
every migration), and the bot again on that database (migrations already applied); with
--rows N, also the bot on a database seeded with N stored requests. /healthz is polled every
5 ms from the moment the process is spawned. The figures are medians over the runs (min and max
in the JSON). "of which imports" times `import server.app` (everything the bot imports) in a
new interpreter, against `import aiohttp, slack_bolt.async_app` (what the floor needs).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: make the project importable

from bench._harness import (  # noqa: E402
    Report,
    apply_common,
    common_arguments,
    fakes,
    parse_env,
    start_bot,
    start_floor,
    work_dir,
)
from bench._seed import clone, copy_database, make_templates, next_id  # noqa: E402


async def import_seconds(root: Path, modules: str) -> float:
    """How long `import modules` takes in a new interpreter (timed inside it)."""
    code = (
        "import time; started = time.perf_counter(); "
        f"import {modules}; print(time.perf_counter() - started)"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, cwd=root, stdout=asyncio.subprocess.PIPE
    )
    output, _ = await process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"import {modules} failed")
    return float(output)


def spread(values: list[float]) -> dict[str, float]:
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "runs": len(values),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="starts of each kind")
    parser.add_argument("--rows", type=int, default=0, help="also start on this many requests")
    common_arguments(parser)
    args = parser.parse_args()
    apply_common(args)
    report = Report("startup", args)
    extra = parse_env(args.bot_env)
    times: dict[str, list[float]] = {"floor": [], "fresh": [], "existing": [], "seeded": []}
    imports: dict[str, list[float]] = {"bot": [], "floor": []}

    async with fakes() as (slack, tavus):
        with work_dir("bench-startup-", args.keep) as work:
            seeded: Path | None = None
            if args.rows:
                templates = await make_templates(args.root, work, slack, tavus)
                seeded = work / "seeded.db"
                copy_database(templates.database, seeded)
                copies = max(0, args.rows - (next_id(seeded) - 1))
                seconds = clone(
                    seeded,
                    templates.succeeded,
                    copies,
                    first_id=next_id(seeded),
                    users=max(1, args.rows // 20),
                    spread_seconds=2 * 365 * 86400,
                    bulk=True,
                )
                print(f"seeded {args.rows:,} requests in {seconds:.1f} s")
            for run in range(args.runs):
                floor = await start_floor("bolt", work, slack)
                await floor.stop()
                times["floor"].append(floor.ready_seconds)
                database = work / f"run-{run}.db"
                for kind in ("fresh", "existing"):
                    bot = await start_bot(
                        args.root, work, slack, tavus, database=database, extra=extra
                    )
                    await bot.stop()
                    times[kind].append(bot.ready_seconds)
                if seeded is not None:
                    bot = await start_bot(
                        args.root, work, slack, tavus, database=seeded, extra=extra
                    )
                    await bot.stop()
                    times["seeded"].append(bot.ready_seconds)
                imports["bot"].append(await import_seconds(args.root, "server.app"))
                imports["floor"].append(
                    await import_seconds(args.root, "aiohttp, slack_bolt.async_app")
                )
                print(
                    f"run {run + 1}: floor {times['floor'][-1]:.3f} s, bot fresh "
                    f"{times['fresh'][-1]:.3f} s, existing {times['existing'][-1]:.3f} s"
                    + (f", seeded {times['seeded'][-1]:.3f} s" if seeded is not None else "")
                )

    report.raw["start_to_healthz_seconds"] = {k: spread(v) for k, v in times.items() if v}
    report.raw["python_c_seconds"] = {k: spread(v) for k, v in imports.items()}
    floor_median = statistics.median(times["floor"])
    report.add(
        "start → /healthz answering (new database)",
        statistics.median(times["fresh"]),
        floor_median,
        "s",
    )
    report.add(
        "start → /healthz answering (existing database)",
        statistics.median(times["existing"]),
        floor_median,
        "s",
    )
    if times["seeded"]:
        report.add(
            f"start → /healthz answering ({args.rows:,} stored requests)",
            statistics.median(times["seeded"]),
            floor_median,
            "s",
        )
    report.add(
        "of which imports (bot: server.app; floor: aiohttp, slack_bolt)",
        statistics.median(imports["bot"]),
        statistics.median(imports["floor"]),
        "s",
    )
    report.note(f"medians of {args.runs} runs; imports timed inside a new interpreter")
    report.print()
    report.write_json(args.json)


if __name__ == "__main__":
    asyncio.run(main())
