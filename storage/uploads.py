"""Uploads the bot has offered to turn into a replica (table `slack_uploads`).

The row is written before the prompt is sent: a retried or repeated event finds it and prompts
nobody again, and the prompt's button finds the files and thread by the upload's key.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

import sqlite_utils

from domain.slack_files import SlackFile
from storage.replicas import utc_now

UPLOADS = "slack_uploads"


@dataclass(frozen=True)
class Upload:
    channel_id: str
    message_ts: str
    thread_ts: str
    user_id: str
    files: list[SlackFile]

    @property
    def key(self) -> str:
        """Names the upload in a button's value (Slack sends ephemeral buttons no message)."""
        return f"{self.channel_id}:{self.message_ts}"


def record_upload(db: sqlite_utils.Database, upload: Upload) -> bool:
    """Remember an upload; False if it was already recorded (a repeated event)."""
    try:
        with db.atomic():
            db.table(UPLOADS).insert(
                {
                    "channel_id": upload.channel_id,
                    "message_ts": upload.message_ts,
                    "thread_ts": upload.thread_ts,
                    "user_id": upload.user_id,
                    "files": json.dumps([f.to_metadata() for f in upload.files]),
                    "created_at": utc_now(),
                }
            )
    except sqlite3.IntegrityError:
        return False
    return True


def find_upload(db: sqlite_utils.Database, key: str) -> Upload | None:
    channel_id, _, message_ts = key.partition(":")
    rows = list(
        db.table(UPLOADS).rows_where(
            "channel_id = ? AND message_ts = ?", [channel_id, message_ts], limit=1
        )
    )
    if not rows:
        return None
    row = rows[0]
    found = (SlackFile.from_slack(item) for item in json.loads(row["files"]))
    return Upload(
        channel_id=row["channel_id"],
        message_ts=row["message_ts"],
        thread_ts=row["thread_ts"],
        user_id=row["user_id"],
        files=[f for f in found if f is not None],
    )
