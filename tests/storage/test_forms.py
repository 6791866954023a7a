"""storage.forms: request forms' sessions, kept server-side for a week of idleness."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlite_utils

from storage import forms


def age(db: sqlite_utils.Database, key: str, days: float) -> None:
    """Make the session `key` look made and last used `days` ago."""
    then = (datetime.now(UTC) - timedelta(days=days)).isoformat(timespec="milliseconds")
    db.execute(
        "UPDATE form_sessions SET created_at = ?, updated_at = ? WHERE key = ?", [then, then, key]
    )


def test_a_saved_session_is_loaded(db: sqlite_utils.Database) -> None:
    forms.save_form(db, "k1", '{"channel_id": "C1"}')

    assert forms.load_form(db, "k1") == forms.StoredForm('{"channel_id": "C1"}', None)


def test_saving_again_updates_it_and_keeps_when_it_was_created(db: sqlite_utils.Database) -> None:
    forms.save_form(db, "k1", "{}")
    age(db, "k1", 1)
    created = db.execute("SELECT created_at FROM form_sessions").fetchone()[0]

    forms.save_form(db, "k1", '{"use_link": true}', "1700000000.000200")

    assert forms.load_form(db, "k1") == forms.StoredForm('{"use_link": true}', "1700000000.000200")
    row = db.execute("SELECT created_at, updated_at FROM form_sessions").fetchone()
    assert row[0] == created and row[1] > created
    assert db.table("form_sessions").count == 1


def test_an_unknown_key_is_none(db: sqlite_utils.Database) -> None:
    forms.save_form(db, "k1", "{}")

    assert forms.load_form(db, "k2") is None
    assert forms.load_form(db, "") is None


def test_an_idle_session_expires_and_is_pruned(db: sqlite_utils.Database) -> None:
    forms.save_form(db, "old", "{}")
    forms.save_form(db, "recent", "{}")
    age(db, "old", 8)
    age(db, "recent", 6)

    assert forms.load_form(db, "old") is None  # expired even before it is pruned
    assert forms.prune_forms(db) == 1
    assert [row["key"] for row in db.table("form_sessions").rows] == ["recent"]
    assert forms.load_form(db, "recent") is not None
