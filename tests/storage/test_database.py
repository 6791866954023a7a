"""The database thread's group commit: jobs waiting together share one transaction and one
commit, each answered only after it, and each failing on its own."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils

from storage.database import GroupEndedEarly, Storage


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Storage]:
    storage = Storage(tmp_path / "group.db")
    await storage.open()
    await storage.run(lambda db: db.execute("CREATE TABLE notes (n INTEGER UNIQUE)"))
    yield storage
    await storage.close()


def note(db: sqlite_utils.Database, n: int) -> int:
    db.execute("INSERT INTO notes (n) VALUES (?)", [n])
    return n


def notes(db: sqlite_utils.Database) -> list[int]:
    return [row[0] for row in db.execute("SELECT n FROM notes ORDER BY n")]


async def queued_behind_a_held_job(store: Storage) -> threading.Event:
    """Hold the database thread in a job, so that what is asked next waits together."""
    release = threading.Event()
    started = threading.Event()

    def hold(db: sqlite_utils.Database) -> None:
        started.set()
        release.wait(10)

    asyncio.get_running_loop().create_task(store.run(hold))
    await asyncio.to_thread(started.wait, 10)
    return release


async def test_jobs_waiting_together_share_one_commit_and_each_gets_its_answer(
    store: Storage,
) -> None:
    release = await queued_behind_a_held_job(store)
    waiting = [asyncio.create_task(store.run(note, n)) for n in range(1, 6)]
    await asyncio.sleep(0.05)  # all five queued behind the held job
    release.set()

    assert await asyncio.gather(*waiting) == [1, 2, 3, 4, 5]
    assert store.groups == 1
    assert await store.run(notes) == [1, 2, 3, 4, 5]


async def test_a_group_wakes_its_callers_loop_once(
    store: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop = asyncio.get_running_loop()
    wake_ups: list[object] = []
    wake = loop.call_soon_threadsafe

    def counted(callback: Any, *args: Any, **kwargs: Any) -> asyncio.Handle:
        wake_ups.append(callback)
        return wake(callback, *args, **kwargs)

    release = await queued_behind_a_held_job(store)
    waiting = [asyncio.create_task(store.run(note, n)) for n in range(1, 6)]
    await asyncio.sleep(0.05)
    monkeypatch.setattr(loop, "call_soon_threadsafe", counted)
    release.set()

    assert await asyncio.gather(*waiting) == [1, 2, 3, 4, 5]
    assert len(wake_ups) == 2  # the held job's group of one, then the five together


async def test_a_job_that_fails_in_a_group_undoes_only_its_own_writes(store: Storage) -> None:
    def note_then_fail(db: sqlite_utils.Database) -> None:
        note(db, 10)
        raise ValueError("this job's own bug")

    release = await queued_behind_a_held_job(store)
    before = asyncio.create_task(store.run(note, 1))
    failing = asyncio.create_task(store.run(note_then_fail))
    duplicate = asyncio.create_task(store.run(note, 1))  # violates UNIQUE: fails alone
    after = asyncio.create_task(store.run(note, 2))
    await asyncio.sleep(0.05)
    release.set()

    assert await before == 1
    with pytest.raises(ValueError, match="own bug"):
        await failing
    with pytest.raises(sqlite3.IntegrityError):
        await duplicate
    assert await after == 2
    assert await store.run(notes) == [1, 2]


async def test_a_job_that_ends_the_shared_transaction_fails_the_jobs_before_it(
    store: Storage,
) -> None:
    def roll_everything_back(db: sqlite_utils.Database) -> None:
        db.conn.execute("ROLLBACK")  # as SQLite itself does on some I/O errors

    release = await queued_behind_a_held_job(store)
    earlier = asyncio.create_task(store.run(note, 1))
    ending = asyncio.create_task(store.run(roll_everything_back))
    later = asyncio.create_task(store.run(note, 2))
    await asyncio.sleep(0.05)
    release.set()

    # The earlier job's write was rolled back with the transaction: it must not be told
    # it was stored.
    with pytest.raises(GroupEndedEarly):
        await earlier
    await asyncio.gather(ending, return_exceptions=True)
    assert await later == 2  # the rest ran in a transaction of their own
    assert await store.run(notes) == [2]


async def test_a_commit_that_fails_fails_every_job_of_the_group(store: Storage) -> None:
    await store.run(lambda db: db.execute("PRAGMA foreign_keys = ON"))
    await store.run(
        lambda db: db.execute(
            "CREATE TABLE refs (id INTEGER PRIMARY KEY, note INTEGER "
            "REFERENCES notes(n) DEFERRABLE INITIALLY DEFERRED)"
        )
    )

    def dangling(db: sqlite_utils.Database) -> None:
        db.execute("INSERT INTO refs (note) VALUES (99)")  # checked only at COMMIT

    release = await queued_behind_a_held_job(store)
    fine = asyncio.create_task(store.run(note, 1))
    breaking = asyncio.create_task(store.run(dangling))
    await asyncio.sleep(0.05)
    release.set()

    for task in (fine, breaking):
        with pytest.raises(sqlite3.IntegrityError):
            await task
    assert await store.run(notes) == []


async def test_a_job_alone_runs_outside_any_shared_transaction(store: Storage) -> None:
    def in_transaction(db: sqlite_utils.Database) -> bool:
        return db.conn.in_transaction

    assert await store.run(in_transaction) is False
    assert store.groups == 0


async def test_jobs_asked_for_after_close_are_refused(tmp_path: Path) -> None:
    storage = Storage(tmp_path / "closed.db")
    await storage.open()
    await storage.close()

    with pytest.raises(RuntimeError, match="closed"):
        await storage.run(lambda db: None)
