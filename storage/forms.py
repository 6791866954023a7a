"""Request forms' server-side sessions (table `form_sessions`).

A form's private_metadata carries only its session's key: Slack caps it at 3,000 characters,
which the names of ten shared files can exceed. The row keeps what the form needs beyond its
fields (ModalContext JSON) and the newest click applied to it (Slack's `action_ts`), so a click
delivered late never undoes a newer one, even after a restart. Sessions idle for `KEEP_FOR` are
treated as gone and pruned: their form answers "out of date" if it is ever submitted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlite_utils

from storage.replicas import utc_now

FORM_SESSIONS = "form_sessions"
# Long enough for a form left open over a long weekend; Slack sets no limit of its own.
KEEP_FOR = timedelta(days=7)


@dataclass(frozen=True)
class StoredForm:
    context: str  # ModalContext JSON
    action_ts: str | None  # the newest click applied, as Slack wrote it


def _cutoff(now: datetime | None) -> str:
    return ((now or datetime.now(UTC)) - KEEP_FOR).isoformat(timespec="milliseconds")


def save_form(
    db: sqlite_utils.Database, key: str, context: str, action_ts: str | None = None
) -> None:
    """Create or update the session `key` (its created_at stays)."""
    now = utc_now()
    with db.atomic():
        db.execute(
            f"""INSERT INTO {FORM_SESSIONS} (key, context, action_ts, created_at, updated_at)
                VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (key) DO UPDATE SET context = excluded.context,
                    action_ts = excluded.action_ts, updated_at = excluded.updated_at""",
            [key, context, action_ts, now, now],
        )


def load_form(
    db: sqlite_utils.Database, key: str, *, now: datetime | None = None
) -> StoredForm | None:
    """The session `key`; None if there is none or it has expired (pruned or not yet)."""
    row = db.execute(
        f"SELECT context, action_ts FROM {FORM_SESSIONS} WHERE key = ? AND updated_at >= ?",
        [key, _cutoff(now)],
    ).fetchone()
    return StoredForm(context=row[0], action_ts=row[1]) if row else None


def prune_forms(db: sqlite_utils.Database, *, now: datetime | None = None) -> int:
    """Delete sessions idle for longer than KEEP_FOR; how many went."""
    with db.atomic():
        cursor = db.execute(f"DELETE FROM {FORM_SESSIONS} WHERE updated_at < ?", [_cutoff(now)])
    return cursor.rowcount
