"""Relayed Slack files (`media_files`) in SQLite.

Plain functions of a sqlite-utils Database, run on the database thread by `Storage.run`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import sqlite_utils

from storage.replicas import IS_OPEN, REQUESTS, utc_now
from storage.rows import dict_rows

MEDIA = "media_files"


@dataclass(frozen=True)
class MediaRow:
    token: str
    request_id: int | None
    slack_file_id: str | None
    file_name: str
    content_type: str
    size: int
    created_at: str
    # Where an S3 store keeps the copy; both None for a copy in MEDIA_DIR (named by its token).
    bucket: str | None = None
    object_key: str | None = None


def _row(values: dict[str, Any]) -> MediaRow:
    return MediaRow(**{f.name: values[f.name] for f in fields(MediaRow)})


def insert_media_file(
    db: sqlite_utils.Database,
    *,
    token: str,
    request_id: int,
    slack_file_id: str,
    file_name: str,
    content_type: str,
    size: int,
    bucket: str | None = None,
    object_key: str | None = None,
) -> MediaRow:
    """`bucket` and `object_key`: where an S3 store keeps the copy (None: MEDIA_DIR)."""
    row = MediaRow(
        token=token,
        request_id=request_id,
        slack_file_id=slack_file_id,
        file_name=file_name,
        content_type=content_type,
        size=size,
        created_at=utc_now(),
        bucket=bucket,
        object_key=object_key,
    )
    with db.atomic():
        db.execute(
            f"""INSERT INTO {MEDIA} (token, request_id, slack_file_id, file_name, content_type,
                size, created_at, bucket, object_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [
                row.token,
                row.request_id,
                row.slack_file_id,
                row.file_name,
                row.content_type,
                row.size,
                row.created_at,
                row.bucket,
                row.object_key,
            ],
        )
    return row


def get_media_file(db: sqlite_utils.Database, token: str) -> MediaRow | None:
    rows = list(db.table(MEDIA).rows_where("token = ?", [token], limit=1))
    return _row(rows[0]) if rows else None


def media_tokens(db: sqlite_utils.Database) -> set[str]:
    return {row[0] for row in db.execute(f"SELECT token FROM {MEDIA}").fetchall()}


def expired_media_files(db: sqlite_utils.Database, created_before: str) -> list[MediaRow]:
    """Files older than `created_before` (a `utc_now()`-style timestamp) whose request can no
    longer be trained: finished, or gone. An open request keeps its file, however old."""
    rows = dict_rows(
        db,
        f"""SELECT m.token, m.request_id, m.slack_file_id, m.file_name, m.content_type, m.size,
                m.created_at, m.bucket, m.object_key
            FROM {MEDIA} AS m LEFT JOIN {REQUESTS} AS r ON r.id = m.request_id
            WHERE m.created_at < ? AND (r.id IS NULL OR NOT (r.{IS_OPEN}))
            ORDER BY m.created_at""",
        [created_before],
    )
    return [_row(row) for row in rows]


def delete_media_file(db: sqlite_utils.Database, token: str) -> bool:
    with db.atomic():
        cursor = db.execute(f"DELETE FROM {MEDIA} WHERE token = ?", [token])
    return cursor.rowcount == 1
