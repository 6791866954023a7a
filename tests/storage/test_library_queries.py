"""The library's queries (App Home, `/replica list`, `/replica status`) and the other queries of
hot or periodic paths: what they find, and that SQLite finds it by an index, never by reading
every request (EXPLAIN QUERY PLAN of every statement each one runs)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlite_utils

from storage import consent, home, outbox
from storage import replicas as store

# Tables that grow with history: no statement on a hot or periodic path may SCAN one.
HISTORY = ("replica_requests", "tavus_callbacks", "outbox", "consent_events")


def add(
    db: sqlite_utils.Database,
    name: str = "Jane",
    *,
    requester: str = "U1",
    subject: str | None = None,
    owner: str | None = None,
    replica_id: str | None = None,
    state: str = "succeeded",
    deletion: bool = False,
) -> int:
    cursor = db.execute(
        """INSERT INTO replica_requests (requester_id, channel_id, replica_name, mode, state,
           created_at, replica_id, subject_user_id, slack_file_owner, approvers,
           delete_requested_at) VALUES (?, 'C1', ?, 'video', ?, ?, ?, ?, ?, '[]', ?)""",
        [
            requester,
            name,
            state,
            store.utc_now(),
            replica_id,
            subject or requester,
            owner,
            store.utc_now() if deletion else None,
        ],
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def many(db: sqlite_utils.Database, count: int, **columns: str) -> None:
    """`count` requests at once (by U9 unless told), named "Take <n>"."""
    values = {"requester": "U9", **columns}
    db.execute(
        """WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
           INSERT INTO replica_requests (requester_id, channel_id, replica_name, mode, state,
           created_at, subject_user_id, approvers)
           SELECT ?, 'C1', 'Take ' || i, 'video', 'succeeded', ?, ?, '[]' FROM n""",
        [count, values["requester"], store.utc_now(), values["requester"]],
    )


def ids(records: list[Any]) -> list[int]:
    return [record.id for record in records]


# -- pages, newest first, by id ------------------------------------------------------------------


def test_pages_of_everyones_go_by_id_and_count_from_the_page_on(
    db: sqlite_utils.Database,
) -> None:
    all_ids = [add(db, f"Take {n}") for n in range(25)]
    newest = all_ids[::-1]

    first, counted = store.requests_of(db, None, limit=10)
    assert ids(first) == newest[:10] and counted == 25

    second, counted = store.requests_of(db, None, limit=10, before=first[-1].id)
    assert ids(second) == newest[10:20] and counted == 15

    last, counted = store.requests_of(db, None, limit=10, before=second[-1].id)
    assert ids(last) == newest[20:] and counted == 5

    # Past the end: nothing, counted nothing.
    assert store.requests_of(db, None, limit=10, before=min(all_ids)) == ([], 0)


def test_a_persons_page_holds_theirs_once_each(db: sqlite_utils.Database) -> None:
    mine = add(db, "Mine")  # requested by U1, of U1: one row, listed once
    of_me = add(db, "Of me", requester="U2", subject="U1")
    my_footage = add(db, "My footage", requester="U2", owner="U1")
    add(db, "Someone else's", requester="U2")

    records, counted = store.requests_of(db, "U1", limit=10)

    assert ids(records) == [my_footage, of_me, mine] and counted == 3
    older, counted = store.requests_of(db, "U1", limit=2, before=of_me)
    assert ids(older) == [mine] and counted == 1
    assert store.requests_of(db, "U3", limit=10) == ([], 0)  # someone with none


def test_counts_stop_past_the_cap(db: sqlite_utils.Database) -> None:
    many(db, store.COUNT_CAP + 50)
    many(db, 3, requester="U8")

    page, counted = store.requests_of(db, None, limit=10)
    assert len(page) == 10 and counted == store.COUNT_CAP + 1  # "more than COUNT_CAP"
    page, counted = store.requests_of(db, "U9", limit=10)
    assert len(page) == 10 and counted == store.COUNT_CAP + 1
    assert store.requests_of(db, "U8", limit=10)[1] == 3
    # Near the end the count is exact again.
    oldest_ten = store.requests_of(db, None, limit=10, before=11)
    assert ids(oldest_ten[0]) == list(range(10, 0, -1)) and oldest_ten[1] == 10


def test_newer_ids_are_oldest_first_and_bounded(db: sqlite_utils.Database) -> None:
    all_ids = [add(db, f"Take {n}") for n in range(15)]
    assert store.newer_ids(db, all_ids[2], limit=5) == all_ids[3:8]
    assert store.newer_ids(db, all_ids[-1], limit=5) == []  # nothing newer: the first page


# -- /replica status: an exact replica id, or a whole name in any case -----------------------------


def test_status_finds_a_name_in_any_case_newest_first(db: sqlite_utils.Database) -> None:
    older = add(db, "Jane Doe")
    newer = add(db, "JANE DOE")
    add(db, "Jane Doe – sales")  # longer: another name

    for text in ("jane doe", "Jane Doe", "jAnE dOe"):
        assert ids(store.find_by_name_or_replica_id(db, text, None, limit=10)) == [newer, older]
        assert ids(store.find_by_name_or_replica_id(db, text, "U1", limit=10)) == [newer, older]


def test_status_finds_a_replica_id(db: sqlite_utils.Database) -> None:
    wanted = add(db, "Jane", replica_id="r79e1c033f")
    add(db, "Jane", replica_id="r0000000001")

    assert ids(store.find_by_name_or_replica_id(db, "r79e1c033f", None, limit=10)) == [wanted]
    assert ids(store.find_by_name_or_replica_id(db, "r79e1c033f", "U1", limit=10)) == [wanted]
    assert store.find_by_name_or_replica_id(db, "R79E1C033F", None, limit=10) == []  # ids: exact


@pytest.mark.parametrize("text", ["Jan", "ane", "Jane%", "J_ne", "%", "", "Jane "])
def test_status_matches_nothing_for_parts_or_patterns(db: sqlite_utils.Database, text: str) -> None:
    add(db, "Jane")
    assert store.find_by_name_or_replica_id(db, text, None, limit=10) == []
    assert store.find_by_name_or_replica_id(db, text, "U1", limit=10) == []


def test_a_persons_status_covers_only_theirs(db: sqlite_utils.Database) -> None:
    of_me = add(db, "Demo", requester="U2", subject="U1")
    footage = add(db, "Demo", requester="U3", owner="U1")
    add(db, "Demo", requester="U2")

    assert ids(store.find_by_name_or_replica_id(db, "demo", "U1", limit=10)) == [footage, of_me]
    assert len(store.find_by_name_or_replica_id(db, "demo", None, limit=10)) == 3
    assert store.find_by_name_or_replica_id(db, "demo", "U4", limit=10) == []


def test_status_returns_at_most_the_limit_newest(db: sqlite_utils.Database) -> None:
    many(db, 30, requester="U1")
    db.execute("UPDATE replica_requests SET replica_name = 'Demo'")

    for whose in (None, "U1"):
        found = store.find_by_name_or_replica_id(db, "DEMO", whose, limit=11)
        assert ids(found) == list(range(30, 19, -1))


# -- App Home's page, kept per viewer ------------------------------------------------------------


def test_home_keeps_where_an_admins_page_starts(db: sqlite_utils.Database) -> None:
    home.home_opened(db, "UADMIN", is_admin=True, everyone_offset=20, everyone_before=1234)
    assert home.viewer(db, "UADMIN") == home.HomeViewer("UADMIN", True, 20, 1234)

    home.home_opened(db, "UADMIN", is_admin=True)  # the tab opened again: the first page
    assert home.viewer(db, "UADMIN") == home.HomeViewer("UADMIN", True, 0, None)
    assert home.viewer(db, "UNOBODY") is None


# -- query plans ---------------------------------------------------------------------------------


@contextmanager
def statements(db: sqlite_utils.Database) -> Iterator[list[str]]:
    """The SQL statements run inside, with their values."""
    seen: list[str] = []
    db.conn.set_trace_callback(seen.append)
    try:
        yield seen
    finally:
        db.conn.set_trace_callback(None)


def plans(db: sqlite_utils.Database, call: Callable[[], object]) -> list[tuple[str, list[str]]]:
    """Each statement `call` runs (queries, updates, deletes) and its query plan."""
    with statements(db) as seen:
        call()
    found = []
    for sql in seen:
        if not re.match(r"\s*(SELECT|UPDATE|DELETE|WITH)\b", sql, re.IGNORECASE):
            continue
        if "sqlite_master" in sql:
            continue
        plan = [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql).fetchall()]
        found.append((sql, plan))
    return found


def seeded(db: sqlite_utils.Database) -> None:
    add(db, "Jane", replica_id="r1", state="training")
    add(db, "Jane", requester="U2", subject="U1", state="awaiting_consent")
    add(db, "Gone", replica_id="r2", deletion=True)
    outbox.enqueue_status(db, 1)
    home.home_opened(db, "U1", is_admin=True)


NOW = datetime.now(UTC)
STAMP = NOW.isoformat(timespec="milliseconds")
HOT: dict[str, Callable[[sqlite_utils.Database], object]] = {
    "open requests (reconciler)": store.open_request_ids,
    "a batch of them (reconciler)": lambda db: store.open_requests_among(db, [1, 2, 3]),
    "ambiguous creates to resolve (reconciler)": store.uncertain_requests,
    "deletions to do (reconciler)": store.pending_deletions,
    "consent expiry": lambda db: store.awaiting_consent_since_before(db, STAMP),
    "ambiguous creates": lambda db: store.claimed_replica_ids(db, ["r1", "r9"]),
    "callback's request": lambda db: store.find_by_token_hash(db, "h1"),
    "a request": lambda db: store.get_request(db, 1),
    "monthly limit": lambda db: store.count_creates_since(db, "U1", "2026-01-01"),
    "callback retention": lambda db: store.prune_callbacks(db, STAMP),
    "a person's page": lambda db: store.requests_of(db, "U1", limit=10),
    "a person's next page": lambda db: store.requests_of(db, "U1", limit=10, before=2),
    "everyone's page": lambda db: store.requests_of(db, None, limit=10),
    "everyone's next page": lambda db: store.requests_of(db, None, limit=10, before=2),
    "everyone's previous page": lambda db: store.newer_ids(db, 1, limit=11),
    "status, an admin's": lambda db: store.find_by_name_or_replica_id(db, "jane", None, limit=11),
    "status, a person's": lambda db: store.find_by_name_or_replica_id(db, "jane", "U1", limit=11),
    "whose Home shows a request": lambda db: home.viewers_of(db, 1),
    "outbox: the heads of lanes": lambda db: outbox.due(db, NOW, frozenset()),
    "outbox: a status owed": lambda db: outbox.enqueue_status(db, 1),
    "outbox: a Home owed": lambda db: outbox.enqueue_home(db, "U1"),
    "outbox: a known DM": lambda db: outbox.known_dm(db, "U1"),
    "outbox: the backlog": outbox.backlog,
    "outbox retention": lambda db: outbox.prune_done(db, "sent", STAMP),
    "outbox retention, a later batch": lambda db: outbox.prune_done(
        db, "failed", STAMP, (STAMP, 5)
    ),
    "a consent record": lambda db: consent.events_for(db, 1),
}


@pytest.mark.parametrize("name", list(HOT))
def test_hot_and_periodic_queries_never_scan_history(db: sqlite_utils.Database, name: str) -> None:
    seeded(db)

    found = plans(db, lambda: HOT[name](db))

    assert found, "no statement seen"
    for sql, plan in found:
        for line in plan:
            for table in HISTORY:
                # A SCAN of the table, or of one of its indexes, reads every row.
                assert not re.match(rf"SCAN {table}\b", line), (sql, plan)


@pytest.mark.parametrize(
    ("name", "index"),
    [
        ("a person's page", "replica_requests_requester_id_id"),
        ("everyone's page", "INTEGER PRIMARY KEY"),
        ("everyone's next page", "INTEGER PRIMARY KEY"),
        ("status, an admin's", "replica_requests_name_nocase"),
        ("status, a person's", "replica_requests_requester_id_id"),
        ("deletions to do (reconciler)", "replica_requests_deletions"),
    ],
)
def test_the_library_queries_use_their_indexes(
    db: sqlite_utils.Database, name: str, index: str
) -> None:
    seeded(db)

    found = plans(db, lambda: HOT[name](db))

    lines = [line for _, plan in found for line in plan]
    assert any(line.startswith("SEARCH replica_requests USING") and index in line for line in lines)
    assert not any(re.match(r"SCAN replica_requests\b", line) for line in lines)
