"""A new database from the snapshot of the schema (storage/schema.sql): the same database the
migrations build, and used only where it stands for what the database lacks."""

from __future__ import annotations

from pathlib import Path

import sqlite_utils

from storage.database import open_database
from storage.migrations import migrations
from storage.schema import SCHEMA_PATH, current_text, dump, read_snapshot, render
from storage.schema import start_from_snapshot as start

# Every registered migration, in order: what an empty database has pending.
EMPTY = sqlite_utils.Database(memory=True, execute_plugins=False)
REGISTERED = [migration.name for migration in migrations.pending(EMPTY)]


def migrated(stop_before: str | None = None) -> sqlite_utils.Database:
    db = sqlite_utils.Database(memory=True, execute_plugins=False)
    migrations.apply(db, stop_before=stop_before)
    return db


def applied(db: sqlite_utils.Database) -> list[str]:
    return [migration.name for migration in migrations.applied(db)]


def test_the_snapshot_stands_for_every_migration() -> None:
    # After adding a migration, `python -m storage.schema` brings it up to date (a snapshot
    # behind still works, below; new databases would just replay what it lacks).
    assert SCHEMA_PATH.read_text(encoding="utf-8") == current_text(), (
        "storage/schema.sql is behind the migrations: run `python -m storage.schema`"
    )


def test_a_new_database_is_the_one_the_migrations_build(tmp_path: Path) -> None:
    db = open_database(tmp_path / "bot.db")
    try:
        assert list(dump(db)) == list(dump(migrated()))
        assert applied(db) == REGISTERED
        assert migrations.pending(db) == []
        # The triggers came through whole (their bodies have semicolons of their own).
        triggers = db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall()
        assert len(triggers) == 3
    finally:
        db.close()


def test_migrations_newer_than_the_snapshot_are_applied_after_it(tmp_path: Path) -> None:
    older = tmp_path / "schema.sql"
    older.write_text(render(migrated(stop_before=REGISTERED[-3])), encoding="utf-8")
    assert read_snapshot(older).migrations == tuple(REGISTERED[:-3])

    db = sqlite_utils.Database(memory=True, execute_plugins=False)
    with db.atomic():
        assert start(db, older)
        assert applied(db) == REGISTERED[:-3]
        migrations.apply(db)

    assert list(dump(db)) == list(dump(migrated()))
    assert applied(db) == REGISTERED


def test_a_database_with_anything_in_it_is_migrated_step_by_step(tmp_path: Path) -> None:
    db = migrated(stop_before=REGISTERED[5])
    before = list(dump(db))
    assert not start(db)
    assert list(dump(db)) == before
    assert applied(db) == REGISTERED[:5]

    someone_elses = sqlite_utils.Database(memory=True, execute_plugins=False)
    someone_elses.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY)")
    assert not start(someone_elses)
    assert someone_elses.table_names() == ["notes"]


def test_a_snapshot_that_is_not_of_the_first_migrations_is_not_used(tmp_path: Path) -> None:
    renamed = tmp_path / "schema.sql"
    text = SCHEMA_PATH.read_text(encoding="utf-8")
    renamed.write_text(text.replace(REGISTERED[0], "some_other_migration"), encoding="utf-8")
    db = sqlite_utils.Database(memory=True, execute_plugins=False)
    assert not start(db, renamed)
    assert db.table_names() == []

    empty = tmp_path / "empty.sql"
    empty.write_text("-- nothing\n", encoding="utf-8")
    assert not start(db, empty)
    assert db.table_names() == []
