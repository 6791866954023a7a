"""Rows as dicts, by plain SQL: on the paths every callback, delivery, outbox look and polling
batch takes, sqlite-utils' table helpers cost more than the query (they look the schema up each
time)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import sqlite_utils


def dict_rows(
    db: sqlite_utils.Database, sql: str, parameters: Sequence[Any] | dict[str, Any]
) -> list[dict[str, Any]]:
    """The rows `sql` selects, each as a dict by column name."""
    cursor = db.execute(sql, parameters)
    columns = [column[0] for column in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
