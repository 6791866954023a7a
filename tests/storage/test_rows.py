"""storage.rows: rows as dicts by column name, with positional or named parameters."""

from __future__ import annotations

import sqlite_utils

from storage.rows import dict_rows


def test_rows_come_back_as_dicts_by_column_name() -> None:
    db = sqlite_utils.Database(memory=True)
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)")
    db.execute("INSERT INTO t (name) VALUES ('a'), ('b')")
    assert dict_rows(db, "SELECT * FROM t WHERE id > ? ORDER BY id", [0]) == [
        {"id": 1, "name": "a"},
        {"id": 2, "name": "b"},
    ]
    assert dict_rows(db, "SELECT name FROM t WHERE id = :id", {"id": 2}) == [{"name": "b"}]
    assert dict_rows(db, "SELECT * FROM t WHERE id = ?", [9]) == []
