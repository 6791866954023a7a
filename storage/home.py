"""App Home: who has opened it, and what they were looking at (`home_views`).

Plain functions of a sqlite-utils Database, run on the database thread by `Storage.run`."""

from __future__ import annotations

from dataclasses import dataclass

import sqlite_utils

from storage.replicas import people_concerned, utc_now

HOME_VIEWS = "home_views"


@dataclass(frozen=True)
class HomeViewer:
    user_id: str
    is_admin: bool
    everyone_offset: int = 0  # the position of the page of everyone's replicas an admin is on
    everyone_before: int | None = None  # that page shows requests older than this id (None: newest)


def home_opened(
    db: sqlite_utils.Database,
    user_id: str,
    *,
    is_admin: bool,
    everyone_offset: int = 0,
    everyone_before: int | None = None,
) -> None:
    db.table(HOME_VIEWS).upsert(
        {
            "user_id": user_id,
            "is_admin": int(is_admin),
            "everyone_offset": max(0, everyone_offset),
            "everyone_before": everyone_before,
            "opened_at": utc_now(),
        },
        pk="user_id",
    )


def viewer(db: sqlite_utils.Database, user_id: str) -> HomeViewer | None:
    row = db.execute(
        f"SELECT is_admin, everyone_offset, everyone_before FROM {HOME_VIEWS} WHERE user_id = ?",
        [user_id],
    ).fetchone()
    if row is None:
        return None
    before = None if row[2] is None else int(row[2])
    return HomeViewer(user_id, bool(row[0]), int(row[1] or 0), before)


def viewers_of(db: sqlite_utils.Database, request_id: int) -> list[str]:
    """The Home tabs that show a request: those of the people it concerns, and admins', among
    those who have opened theirs."""
    concerned = sorted(people_concerned(db, request_id))
    marks = ", ".join("?" for _ in concerned) or "NULL"
    rows = db.execute(
        f"SELECT user_id FROM {HOME_VIEWS} WHERE is_admin = 1 OR user_id IN ({marks})",
        concerned,
    ).fetchall()
    return sorted(row[0] for row in rows)
