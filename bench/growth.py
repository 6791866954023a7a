"""Growth: what a big database costs. The same measures with 10 and with 1,000,000 stored
requests (callback p99, `/replica` p99, App Home publish, `/replica list`), and the bytes each
complete request leaves in `tavus_callbacks` and `outbox`.

Run from the repository root:  python bench/growth.py [--rows 1000000] [--small 10]

1. Storage: a fresh bot handles --complete requests from start to end (form, submission,
   create, callback, confirmation, announcement); then each table's bytes are divided by that
   count: its pages and its indexes' pages (dbstat), and the bytes of its values.
2. For each size, the database is seeded before the bot starts with copies of a completed
   request the real bot made (bench/_seed.py: a bulk INSERT … SELECT from a recursive CTE),
   requesters spread over size/--per-user people (so each has about --per-user requests, at
   either size), created over the last two years. Then the bot starts (REPLICA_ADMINS=UADMIN),
   --callbacks requests are added training (after its first polling round), and it is timed:
   - final callbacks, --concurrency in flight: answer p99;
   - `/replica` one at a time → views.open: p99;
   - `/replica list` (a requester's) and `/replica list all` (the admin's): the answer to the
     POST (it carries the list);
   - App Home: an `app_home_opened` event → views.publish for that user, a requester's and the
     admin's (who sees everyone's, counted); its *New replica* button → views.open.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: make the project importable

import aiohttp  # noqa: E402

from bench._harness import (  # noqa: E402
    BenchSlack,
    BenchTavus,
    Report,
    SlackSender,
    apply_common,
    common_arguments,
    complete_request,
    eventually,
    fakes,
    latency_summary,
    parse_env,
    percentile,
    post_many,
    query,
    start_bot,
    submit_request,
    until_cpu_quiet,
    wait_outbox_idle,
)
from bench._harness import work_dir as temporary_dir  # noqa: E402
from bench._seed import (  # noqa: E402
    Templates,
    clone,
    copy_database,
    make_templates,
    next_id,
    replica_id_of,
    seed_training,
    table_bytes,
    token_of,
)

ADMIN = "UADMIN"
TOKENS = "bench-growth-"
TABLES = ("tavus_callbacks", "outbox", "replica_requests", "consent_events")


async def storage_per_request(
    root: Path, work: Path, slack: BenchSlack, tavus: BenchTavus, count: int, extra: dict[str, str]
) -> dict[str, Any]:
    """Bytes per complete request, per table, after `count` of them on a fresh database."""
    database = work / "storage.db"
    bot = await start_bot(root, work, slack, tavus, database=database, extra=extra)
    try:
        async with aiohttp.ClientSession() as session:
            sender = SlackSender(session, bot.url, slack)
            for index in range(count):
                submitted = await submit_request(sender, tavus, database, user=f"U{index % 50:07d}")
                await complete_request(session, bot, tavus, database, submitted)
        await until_cpu_quiet(bot.pid)
    finally:
        await bot.stop()
    per_table: dict[str, Any] = {}
    for table in TABLES:
        sizes = table_bytes(database, table)
        per_table[table] = {
            **sizes,
            "pages_per_request": (sizes["table_pages_bytes"] + sizes["index_pages_bytes"]) / count,
            "payload_per_request": sizes["payload_bytes"] / count,
            "values_per_request": sizes["value_bytes"] / count,
            "rows_per_request": sizes["rows"] / count,
        }
    return per_table


def remove_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def users_for(size: int, per_user: int) -> int:
    return max(1, size // per_user)


async def measure_size(
    args: argparse.Namespace,
    work: Path,
    templates: Templates,
    slack: BenchSlack,
    tavus: BenchTavus,
    size: int,
    extra: dict[str, str],
) -> dict[str, Any]:
    """Seed `size` stored requests, start the bot on them, and time everything."""
    database = work / f"rows-{size}.db"
    copy_database(templates.database, database)
    users = users_for(size, args.per_user)
    copies = max(0, size - (next_id(database) - 1))
    seed_seconds = clone(
        database,
        templates.succeeded,
        copies,
        first_id=next_id(database),
        users=users,
        spread_seconds=2 * 365 * 86400,
        bulk=True,
    )
    stored = next_id(database) - 1
    database_bytes = database.stat().st_size
    print(f"{stored:,} stored requests seeded in {seed_seconds:.1f} s ({database_bytes:,} bytes)")
    result: dict[str, Any] = {
        "stored_requests": stored,
        "seed_seconds": seed_seconds,
        "database_bytes": database_bytes,
    }
    bot = await start_bot(
        args.root,
        work,
        slack,
        tavus,
        database=database,
        extra={"REPLICA_ADMINS": ADMIN, **extra},
    )
    result["start_to_healthz_seconds"] = bot.ready_seconds
    try:
        # The first polling round (2 s after start-up) passes before the callbacks' requests
        # are added, so it does not poll them.
        await asyncio.sleep(
            max(0.0, bot.started_at + bot.ready_seconds + 2.5 - time.perf_counter())
        )
        warm = 50
        ids = seed_training(
            database,
            templates,
            warm + args.callbacks,
            tokens=TOKENS,
            slack=slack,
            tavus=tavus,
            tavus_status="completed",
        )
        connector = aiohttp.TCPConnector(limit=100)
        async with aiohttp.ClientSession(connector=connector) as session:
            sender = SlackSender(session, bot.url, slack)

            def bodies(chosen: list[int]) -> list[tuple[str, bytes]]:
                return [
                    (
                        f"/tavus/callback/{token_of(TOKENS, i)}",
                        json.dumps({"replica_id": replica_id_of(i), "status": "ready"}).encode(),
                    )
                    for i in chosen
                ]

            # Warm-up: a few of everything.
            await post_many(bot.port, bodies(ids[:warm]), args.concurrency)
            for index in range(10):
                await sender.open_form_timed(user=f"U{index % users:07d}")
            await sender.command("list", user="U0000000")
            await wait_outbox_idle(database, 300)
            await until_cpu_quiet(bot.pid)

            # Callbacks.
            measured = ids[warm:]
            load = await post_many(bot.port, bodies(measured), args.concurrency)
            first, last = measured[0], measured[-1]
            await eventually(
                lambda: (
                    query(
                        database,
                        "SELECT count(*) FROM replica_requests WHERE id BETWEEN ? AND ? "
                        "AND state = 'succeeded'",
                        [first, last],
                    )[0][0]
                    == len(measured)
                ),
                600,
                "every callback to be confirmed",
            )
            await wait_outbox_idle(database, 600)
            await until_cpu_quiet(bot.pid)
            result["callbacks"] = {
                **latency_summary(load.latencies),
                "per_second": load.per_second,
                "statuses": dict(load.statuses),
            }
            result["_callbacks"] = load.latencies

            # /replica, one at a time.
            opened: list[float] = []
            for index in range(args.commands):
                seconds, _ = await sender.open_form_timed(user=f"U{index % users:07d}")
                if seconds is not None:
                    opened.append(seconds)
            await until_cpu_quiet(bot.pid)
            result["replica"] = latency_summary(opened)
            result["_replica"] = opened

            # /replica list and list all: the answer comes with the POST's response.
            for name, user, text in (("list", None, "list"), ("list_all", ADMIN, "list all")):
                seconds_list: list[float] = []
                late = 0
                for index in range(args.lists):
                    answer = await sender.command(text, user=user or f"U{index % users:07d}")
                    if answer.status == 200 and b"blocks" in answer.body:
                        seconds_list.append(answer.seconds)
                    else:
                        late += 1
                await until_cpu_quiet(bot.pid)
                result[name] = {**latency_summary(seconds_list), "not_in_the_answer": late}
                result[f"_{name}"] = seconds_list

            # App Home's New replica button → the form (it looks up the user's DM first).
            new_form: list[float] = []
            for index in range(args.homes):
                seconds, _ = await sender.new_replica_timed(user=f"U{index % users:07d}")
                if seconds is not None:
                    new_form.append(seconds)
            await until_cpu_quiet(bot.pid)
            result["new_replica"] = {
                **latency_summary(new_form),
                "missing": args.homes - len(new_form),
            }
            result["_new_replica"] = new_form

            # App Home: app_home_opened → views.publish.
            for name, fixed in (("home", None), ("home_admin", ADMIN)):
                published: list[float] = []
                missing = 0
                for index in range(args.homes):
                    user = fixed or f"U{index % users:07d}"
                    waiter = slack.expect_publish(user)
                    event = {
                        "type": "app_home_opened",
                        "user": user,
                        "channel": f"D{user}",
                        "tab": "home",
                        "event_ts": f"{time.time():.6f}",
                    }
                    started = time.perf_counter()
                    await sender.event(event, f"Ev{name}{index}x{time.time_ns()}")
                    try:
                        published.append(await asyncio.wait_for(waiter, 30) - started)
                    except TimeoutError:
                        missing += 1
                await until_cpu_quiet(bot.pid)
                result[name] = {**latency_summary(published), "missing": missing}
                result[f"_{name}"] = published
    finally:
        await bot.stop()
    return result


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="stored requests, big")
    parser.add_argument("--small", type=int, default=10, help="stored requests, small")
    parser.add_argument("--per-user", type=int, default=20, help="stored requests per person")
    parser.add_argument("--callbacks", type=int, default=500, help="callbacks measured per size")
    parser.add_argument("--concurrency", type=int, default=32, help="callbacks in flight")
    parser.add_argument("--commands", type=int, default=100, help="/replica one at a time")
    parser.add_argument("--lists", type=int, default=50, help="/replica list (and list all)")
    parser.add_argument("--homes", type=int, default=30, help="App Home opens (each kind)")
    parser.add_argument("--complete", type=int, default=200, help="requests for bytes/request")
    common_arguments(parser)
    args = parser.parse_args()
    apply_common(args)
    report = Report("growth", args, columns=(f"{args.rows:,} stored", f"{args.small:,} stored"))
    extra = parse_env(args.bot_env)
    results: dict[int, dict[str, Any]] = {}

    async with fakes() as (slack, tavus):
        with temporary_dir("bench-growth-", args.keep) as work:
            storage: dict[str, Any] = {}
            if args.complete > 0:
                started = time.perf_counter()
                storage = await storage_per_request(
                    args.root, work, slack, tavus, args.complete, extra
                )
                print(f"{args.complete} complete requests in {time.perf_counter() - started:.1f} s")
                for table, sizes in storage.items():
                    print(f"  {table}: {sizes}")
            report.raw["storage_per_request"] = storage
            templates = await make_templates(args.root, work, slack, tavus)
            for size in (args.small, args.rows):
                results[size] = await measure_size(args, work, templates, slack, tavus, size, extra)
                shown = {k: v for k, v in results[size].items() if not k.startswith("_")}
                print(f"{size:,} stored: {shown}")
                report.raw[f"rows_{size}"] = shown
                # The big database is gigabytes: gone as soon as it is measured.
                remove_database(work / f"rows-{size}.db")

    big, small = results[args.rows], results[args.small]
    for key, measure in (
        ("_callbacks", f"callback answer p99, {args.concurrency} in flight"),
        ("_replica", "/replica → views.open p99, one at a time"),
        ("_home", "App Home: app_home_opened → views.publish p99"),
        ("_home_admin", "App Home of an admin (everyone's) → views.publish p99"),
        ("_list", "/replica list → answer p99"),
        ("_list_all", "/replica list all (admin) → answer p99"),
        ("_new_replica", "App Home *New replica* button → views.open p99"),
    ):
        report.add(measure, percentile(big[key], 99) * 1000, percentile(small[key], 99) * 1000)
    report.add(
        f"callbacks answered/s, {args.concurrency} in flight",
        big["callbacks"]["per_second"],
        small["callbacks"]["per_second"],
        "/s",
        better="higher",
    )
    report.add(
        "start → /healthz answering",
        big["start_to_healthz_seconds"],
        small["start_to_healthz_seconds"],
        "s",
    )
    report.add("database file", big["database_bytes"] / 1e6, small["database_bytes"] / 1e6, "MB")
    for table in ("tavus_callbacks", "outbox"):
        if table in storage:
            sizes = storage[table]
            report.add(
                f"stored bytes per complete request: {table} (pages incl. indexes)",
                sizes["pages_per_request"],
                None,
                "B",
            )
            report.add(
                f"stored bytes per complete request: {table} (records incl. index entries)",
                sizes["payload_per_request"],
                None,
                "B",
            )
            report.add(
                f"stored bytes per complete request: {table} (values)",
                sizes["values_per_request"],
                None,
                "B",
            )
    report.note(
        f"seeding: {big['stored_requests']:,} requests in {big['seed_seconds']:.1f} s; "
        f"{small['stored_requests']:,} in {small['seed_seconds']:.2f} s; "
        f"plus {args.callbacks + 50} training requests for the callbacks"
    )
    if storage:
        per = ", ".join(
            f"{table} {sizes['rows_per_request']:.1f} rows, "
            f"{sizes['pages_per_request']:,.0f} B pages, "
            f"{sizes['payload_per_request']:,.0f} B records, "
            f"{sizes['values_per_request']:,.0f} B values"
            for table, sizes in storage.items()
        )
        report.note(f"per complete request ({args.complete} of them): {per}")
    for size, result in ((args.rows, big), (args.small, small)):
        late = {n: result[n]["not_in_the_answer"] for n in ("list", "list_all")}
        missing = {n: result[n]["missing"] for n in ("home", "home_admin", "new_replica")}
        if any(late.values()) or any(missing.values()):
            report.note(
                f"{size:,} stored: lists not in the answer {late}, never published/opened {missing}"
            )
    report.print()
    report.write_json(args.json)


if __name__ == "__main__":
    asyncio.run(main())
