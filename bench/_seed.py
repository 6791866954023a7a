"""Seeding the bot's SQLite for the issue-13 benches: requests copied from templates the real
bot wrote, with a fast bulk INSERT … SELECT from a recursive CTE.

`make_templates` runs the real bot once on an empty database and drives two requests through
Slack and Tavus as the tests' fakes play them: one left training (its status message posted),
one completed (callback, GET, status edited, reply, permalink). Their rows (replica_requests,
consent_events, outbox, tavus_callbacks) are the templates: every column is copied as the bot
wrote it, except those that must differ per request (ids, view id, callback token hash, replica
id, requester, Slack ts, times). So the seeded rows are as wide as real ones and follow any
schema change without editing this file, as long as no new column must be unique.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bench._harness import (
    BenchSlack,
    BenchTavus,
    SlackSender,
    complete_request,
    start_bot,
    submit_request,
)

REQUESTS = "replica_requests"
# Tables whose rows belong to one request (request_id), copied with it.
CHILDREN = ("consent_events", "outbox", "tavus_callbacks")
TS_BASE = 1_600_000_000  # seeded status messages' Slack ts: f"{TS_BASE + id}.000100"


@dataclass(frozen=True)
class Templates:
    database: Path  # a copy of the bot's database after the two requests
    training: int  # request id of the one left training
    succeeded: int  # request id of the completed one
    channel: str  # the channel their status messages are in


def message_ts(request_id: int) -> str:
    return f"{TS_BASE + request_id}.000100"


def replica_id_of(request_id: int) -> str:
    return f"rb{request_id:09d}"


def token_of(prefix: str, request_id: int) -> str:
    """The callback secret of a request seeded with `tokens=prefix`."""
    return f"{prefix}{request_id}"


async def make_templates(root: Path, work: Path, slack: BenchSlack, tavus: BenchTavus) -> Templates:
    """Run the bot once on work/template.db and leave two template requests in it."""
    database = work / "template.db"
    bot = await start_bot(root, work, slack, tavus, database=database)
    try:
        async with aiohttp.ClientSession() as session:
            sender = SlackSender(session, bot.url, slack)
            training = await submit_request(sender, tavus, database)
            done = await submit_request(sender, tavus, database)
            await complete_request(session, bot, tavus, database, done)
    finally:
        await bot.stop()
    db = sqlite3.connect(database)
    try:
        channel = db.execute(
            f"SELECT message_channel_id FROM {REQUESTS} WHERE id = ?", [training.request_id]
        ).fetchone()[0]
    finally:
        db.close()
    return Templates(database, training.request_id, done.request_id, str(channel))


def _columns(db: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in db.execute(f"PRAGMA table_info({table})")]


def _drop_indexes(db: sqlite3.Connection, tables: tuple[str, ...]) -> list[str]:
    """Drop the indexes (made with CREATE INDEX) and triggers of `tables`; the statements
    that make them again."""
    marks = ", ".join("?" for _ in tables)
    found = db.execute(
        f"""SELECT type, name, sql FROM sqlite_master WHERE type IN ('index', 'trigger')
            AND sql IS NOT NULL AND tbl_name IN ({marks})""",
        tables,
    ).fetchall()
    for kind, name, _ in found:
        db.execute(f'DROP {kind.upper()} "{name}"')
    return [str(sql) for _, _, sql in found]


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def clone(
    database: Path,
    template: int,
    count: int,
    *,
    first_id: int,
    tokens: str | None = None,
    users: int = 1,
    spread_seconds: float = 0.0,
    bulk: bool = False,
) -> float:
    """Copy request `template` (and its rows in CHILDREN) `count` times, as requests
    first_id … first_id + count - 1; the seconds it took.

    `tokens`: their callback secrets are `token_of(tokens, id)` (else a unique hex that is no
    sha256 of anything). `users`: requesters (and the person on camera, when that is the
    requester) are U0000000 … by id modulo `users`. `spread_seconds`: created times are spread
    evenly over that much of the past, the last one now. `bulk`: the bot is not running, so
    the copy may skip the journal and fsync (journal_mode MEMORY, synchronous OFF, a 2 GiB
    cache); WAL is turned back on afterwards.
    """
    started = time.perf_counter()
    db = sqlite3.connect(database, isolation_level=None, timeout=60)
    db.create_function("bench_sha256", 1, _sha256, deterministic=True)
    db.execute("PRAGMA busy_timeout = 60000")
    if bulk:
        db.execute("PRAGMA journal_mode = MEMORY")
        db.execute("PRAGMA synchronous = OFF")
        db.execute("PRAGMA cache_size = -2097152")
        db.execute("PRAGMA temp_store = MEMORY")
    step = spread_seconds / count if count else 0.0
    params: dict[str, Any] = {
        "tpl": template,
        "count": count,
        "first": first_id,
        "users": max(1, users),
        "step": step,
        "prefix": tokens or "",
        "ts_base": TS_BASE,
    }
    new_id = "(:first + s.n)"
    user = f"printf('U%07d', {new_id} % :users)"
    stamp = "s.at"
    request_overrides = {
        "id": new_id,
        "view_id": f"'VB' || {new_id}",
        "callback_token_hash": (
            f"bench_sha256(:prefix || {new_id})" if tokens else f"printf('%064x', {new_id})"
        ),
        "replica_id": f"printf('rb%09d', {new_id})",
        "requester_id": user,
        "subject_user_id": f"CASE WHEN t.subject_user_id = t.requester_id THEN {user} "
        "ELSE t.subject_user_id END",
        "message_ts": f"printf('%d.000100', :ts_base + {new_id})",
        "created_at": stamp,
        "updated_at": stamp,
    }
    for column in ("submitted_at", "create_sent_at", "finished_at"):
        request_overrides[column] = f"CASE WHEN t.{column} IS NULL THEN NULL ELSE {stamp} END"
    # One row per copy, its id offset and creation time computed once.
    sequence = """WITH RECURSIVE seq(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM seq
                   WHERE n + 1 < :count),
                   s AS MATERIALIZED (SELECT n, strftime('%Y-%m-%dT%H:%M:%f', 'now',
                         printf('-%.3f seconds', (:count - 1 - n) * :step)) || '+00:00' AS at
                         FROM seq)"""
    plain = (
        """WITH RECURSIVE s(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM s WHERE n + 1 < :count)"""
    )
    template_ts = db.execute(
        f"SELECT message_ts, replica_id FROM {REQUESTS} WHERE id = ?", [template]
    ).fetchone()
    params["tpl_ts"], params["tpl_replica"] = template_ts
    child_overrides: dict[str, dict[str, str]] = {
        "consent_events": {"request_id": new_id},
        "outbox": {
            "request_id": new_id,
            "lane": f"'request:' || {new_id}",
            "key": f"{new_id} || substr(t.key, instr(t.key, ':'))",
            "ts": f"CASE WHEN t.ts = :tpl_ts THEN printf('%d.000100', :ts_base + {new_id}) "
            "ELSE t.ts END",
        },
        "tavus_callbacks": {
            "request_id": new_id,
            "replica_id": f"CASE WHEN t.replica_id = :tpl_replica THEN "
            f"printf('rb%09d', {new_id}) ELSE t.replica_id END",
        },
    }
    db.execute("BEGIN")
    try:
        # In bulk, indexes and triggers are dropped and made again afterwards: building an
        # index by sorting is many times faster than a million scattered inserts into it, and
        # consent_events' append-only trigger looks up every new row.
        indexes = _drop_indexes(db, (REQUESTS, *CHILDREN)) if bulk else []
        # The template's rows are read into temporary tables first: an INSERT that selects
        # from its own table would stage every new row in a temporary table of its own.
        db.execute("DROP TABLE IF EXISTS temp.bench_template")
        db.execute(
            f"CREATE TEMP TABLE bench_template AS SELECT * FROM {REQUESTS} WHERE id = :tpl",
            params,
        )
        columns = _columns(db, REQUESTS)
        selected = ", ".join(request_overrides.get(c, f"t.{c}") for c in columns)
        db.execute(
            f"""{sequence} INSERT INTO main.{REQUESTS} ({", ".join(columns)})
                SELECT {selected} FROM s CROSS JOIN temp.bench_template AS t""",
            params,
        )
        for table in CHILDREN:
            db.execute("DROP TABLE IF EXISTS temp.bench_template")
            db.execute(
                f"""CREATE TEMP TABLE bench_template AS
                    SELECT * FROM {table} WHERE request_id = :tpl ORDER BY id""",
                params,
            )
            columns = [c for c in _columns(db, table) if c != "id"]
            overrides = child_overrides[table]
            selected = ", ".join(overrides.get(c, f"t.{c}") for c in columns)
            # The template's rows in id order, repeated per copy (copies stay in id order).
            db.execute(
                f"""{plain} INSERT INTO main.{table} ({", ".join(columns)})
                    SELECT {selected} FROM s CROSS JOIN temp.bench_template AS t""",
                params,
            )
        db.execute("DROP TABLE temp.bench_template")
        for sql in indexes:
            db.execute(sql)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    finally:
        if bulk:
            db.execute("PRAGMA journal_mode = WAL")
        db.close()
    return time.perf_counter() - started


def next_id(database: Path) -> int:
    db = sqlite3.connect(database)
    try:
        return int(db.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {REQUESTS}").fetchone()[0])
    finally:
        db.close()


def copy_database(source: Path, target: Path) -> None:
    """A consistent copy (SQLite's backup API), template requests and all."""
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()
    target.chmod(0o600)


def seed_training(
    database: Path,
    templates: Templates,
    count: int,
    *,
    tokens: str,
    slack: BenchSlack,
    tavus: BenchTavus,
    tavus_status: str,
    progress: str = "40/100",
    bulk: bool = False,
) -> list[int]:
    """`count` requests training (copies of the training template), with callback secrets
    `token_of(tokens, id)`, their replicas known to the fake Tavus (GET says `tavus_status`
    with `progress`) and their status messages to the fake Slack; their ids."""
    first = next_id(database)
    clone(
        database,
        templates.training,
        count,
        first_id=first,
        tokens=tokens,
        users=max(1, count // 20),
        spread_seconds=3600.0,
        bulk=bulk,
    )
    # What a training request's row says of its progress, so a poll that finds it unchanged
    # owes no Slack message.
    db = sqlite3.connect(database, isolation_level=None, timeout=60)
    try:
        db.execute(
            f"UPDATE {REQUESTS} SET training_progress = ?, tavus_status = 'training' "
            "WHERE id >= ? AND id < ?",
            [progress, first, first + count],
        )
    finally:
        db.close()
    ids = list(range(first, first + count))
    for request_id in ids:
        tavus.add_training(replica_id_of(request_id), tavus_status, progress)
        slack.add_message(templates.channel, message_ts(request_id))
    return ids


def table_bytes(database: Path, table: str) -> dict[str, int]:
    """Bytes a table takes on disk: its pages and its indexes' pages (dbstat, free space in
    them included), the records in them (dbstat's payload: the table's rows and the indexes'
    entries, headers included), and the bytes of its rows' values (sum of length() of every
    column)."""
    db = sqlite3.connect(database)
    try:
        indexes = [row[1] for row in db.execute(f"PRAGMA index_list({table})")]
        names = [table, *indexes]
        marks = ", ".join("?" for _ in names)
        pages = db.execute(
            f"""SELECT name, sum(pgsize), sum(payload) FROM dbstat WHERE name IN ({marks})
                GROUP BY name""",
            names,
        ).fetchall()
        by_name = {name: int(size) for name, size, _ in pages}
        payload = sum(int(used) for _, _, used in pages)
        columns = _columns(db, table)
        values = " + ".join(f"coalesce(length(CAST({c} AS BLOB)), 0)" for c in columns)
        content, rows = db.execute(
            f"SELECT coalesce(sum({values}), 0), count(*) FROM {table}"
        ).fetchone()
    finally:
        db.close()
    return {
        "rows": int(rows),
        "table_pages_bytes": by_name.get(table, 0),
        "index_pages_bytes": sum(size for name, size in by_name.items() if name != table),
        "payload_bytes": payload,
        "value_bytes": int(content),
    }
