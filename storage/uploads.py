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


# -- who does not want the prompt ----------------------------------------------------------------

OPT_OUTS = "upload_prompt_opt_outs"


def set_prompts(db: sqlite_utils.Database, user_id: str, *, wanted: bool) -> bool:
    """Whether `user_id` is offered a replica after their uploads. True if that changed."""
    with db.atomic():
        before = prompts_wanted(db, user_id)
        if wanted:
            db.execute(f"DELETE FROM {OPT_OUTS} WHERE user_id = ?", [user_id])
        else:
            db.execute(
                f"INSERT OR IGNORE INTO {OPT_OUTS} (user_id, since) VALUES (?, ?)",
                [user_id, utc_now()],
            )
    return before != wanted


def prompts_wanted(db: sqlite_utils.Database, user_id: str) -> bool:
    """False once `user_id` chose "Don't ask me again" (until `/replica prompts on`)."""
    row = db.execute(f"SELECT 1 FROM {OPT_OUTS} WHERE user_id = ?", [user_id]).fetchone()
    return row is None
