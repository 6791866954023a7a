"""Schema migrations, applied in order at start-up and recorded in `_sqlite_migrations`.

Never edit a migration that has shipped: add a new one.
"""

from __future__ import annotations

import sqlite_utils

migrations = sqlite_utils.Migrations("replica_bot")


@migrations()
def create_replica_requests(db: sqlite_utils.Database) -> None:
    db.table("replica_requests").create(
        {
            "id": int,
            # Slack view id of the submitted modal: a second delivery of the same submission
            # finds it taken and does nothing.
            "view_id": str,
            "team_id": str,
            "requester_id": str,
            "channel_id": str,
            "thread_ts": str,
            "replica_name": str,
            "mode": str,
            "model_name": str,
            "train_video_url": str,
            "consent_video_url": str,
            "train_image_url": str,
            "voice_name": str,
            "auto_fix_training_image": int,
            "state": str,
            "tavus_status": str,
            "replica_id": str,
            "error_message": str,
            # sha256 of the callback URL's secret token; the token itself is never stored.
            "callback_token_hash": str,
            "message_channel_id": str,
            "message_ts": str,
            "created_at": str,
            "submitted_at": str,
            "finished_at": str,
            "updated_at": str,
        },
        pk="id",
        not_null={"requester_id", "channel_id", "replica_name", "mode", "state", "created_at"},
    )
    table = db.table("replica_requests")
    table.create_index(["view_id"], unique=True)
    table.create_index(["callback_token_hash"], unique=True)
    table.create_index(["replica_id"], unique=True)
    table.create_index(["state"])


@migrations()
def create_tavus_callbacks(db: sqlite_utils.Database) -> None:
    """Every callback whose token matched a request, kept for audit."""
    db.table("tavus_callbacks").create(
        {
            "id": int,
            "request_id": int,
            "received_at": str,
            "replica_id": str,
            "status": str,
            "outcome": str,
            "raw_body": str,
        },
        pk="id",
        foreign_keys=[("request_id", "replica_requests", "id")],
    )
    db.table("tavus_callbacks").create_index(["request_id"])
