"""Opening the database at start-up: once, on the database thread, before any event loop
(Storage.open_now, as bot.py does); a new database's migrations in one transaction; no
sqlite-utils plugins looked for."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
import sqlite_utils

import storage.database
from storage.database import Storage, apply_migrations, open_database
from storage.migrations import migrations


async def test_open_now_opens_once_on_the_thread_that_then_serves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened_on: list[str] = []

    def counted(path: Path | str) -> sqlite_utils.Database:
        opened_on.append(threading.current_thread().name)
        return open_database(path)

    monkeypatch.setattr(storage.database, "open_database", counted)
    store = Storage(tmp_path / "bot.db")
    store.open_now()  # no event loop needed: bot.py calls it before run_app
    assert opened_on == ["sqlite"]
    try:
        await store.open()  # what the app's start-up does: finds it open
        served_on = await store.run(lambda db: threading.current_thread().name)
        pending = await store.run(migrations.pending)
    finally:
        await store.close()
    assert opened_on == ["sqlite"]
    assert served_on == "sqlite"
    assert pending == []


async def test_open_now_raises_what_opening_raised_and_a_later_run_tries_again(
    tmp_path: Path,
) -> None:
    path = tmp_path / "bot.db"
    path.write_text("not a database, but long enough for SQLite to read its header. " * 4)
    store = Storage(path)
    with pytest.raises(sqlite3.DatabaseError):
        store.open_now()
    assert not [t for t in threading.enumerate() if t.name == "sqlite" and t.is_alive()]

    path.unlink()  # the operator fixes it; the storage opens on the next job
    try:
        assert await store.run(lambda db: db.execute("SELECT 1").fetchone()[0]) == 1
    finally:
        await store.close()


def test_a_new_databases_migrations_commit_once(tmp_path: Path) -> None:
    db = sqlite_utils.Database(tmp_path / "bot.db", execute_plugins=False)
    statements: list[str] = []
    db.conn.set_trace_callback(statements.append)
    try:
        apply_migrations(db)
        assert migrations.pending(db) == []
    finally:
        db.close()
    assert [s for s in statements if s.strip().upper() == "COMMIT"] == ["COMMIT"]


def test_migrations_apply_all_or_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = sqlite_utils.Migrations("broken")

    @broken()
    def create_notes(db: sqlite_utils.Database) -> None:
        db.execute("CREATE TABLE notes (text TEXT)")

    @broken()
    def fail(db: sqlite_utils.Database) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(storage.database, "migrations", broken)
    with pytest.raises(sqlite3.OperationalError, match="disk I/O error"):
        open_database(tmp_path / "bot.db").close()

    db = sqlite_utils.Database(tmp_path / "bot.db")
    try:
        assert [migration.name for migration in broken.pending(db)] == ["create_notes", "fail"]
        assert not db.table("notes").exists()
    finally:
        db.close()


def test_no_sqlite_utils_plugins_are_looked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Looking for them reads every installed package's entry points (~11 ms of start-up).
    looked: list[bool] = []
    monkeypatch.setattr(sqlite_utils.db, "ensure_plugins_loaded", lambda: looked.append(True))
    open_database(tmp_path / "bot.db").close()
    assert looked == []
