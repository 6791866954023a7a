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


@migrations()
def add_slack_files(db: sqlite_utils.Database) -> None:
    """File shares: the Slack file a request trains from, uploads already prompted about, and
    the relayed copies served to Tavus."""
    requests = db.table("replica_requests")
    requests.add_column("slack_file_id", str)
    requests.add_column("slack_file_name", str)
    # One row per upload message: a retried event finds its row and prompts nobody again.
    db.table("slack_uploads").create(
        {
            "channel_id": str,
            "message_ts": str,
            "thread_ts": str,
            "user_id": str,
            "files": str,  # JSON list of SlackFile.to_metadata()
            "created_at": str,
        },
        pk=("channel_id", "message_ts"),
        not_null={"channel_id", "message_ts", "user_id", "files", "created_at"},
    )
    db.table("slack_uploads").create_index(["created_at"])
    # A relayed file, served at {PUBLIC_URL}/media/{token}/{file_name} until it expires.
    db.table("media_files").create(
        {
            "token": str,
            "request_id": int,
            "slack_file_id": str,
            "file_name": str,
            "content_type": str,
            "size": int,
            "created_at": str,
        },
        pk="token",
        not_null={"token", "file_name", "content_type", "size", "created_at"},
        foreign_keys=[("request_id", "replica_requests", "id")],
    )
    db.table("media_files").create_index(["request_id"])
    db.table("media_files").create_index(["created_at"])


@migrations()
def add_outbox(db: sqlite_utils.Database) -> None:
    """Durable Slack messages, and when each create was sent (for reconciling ambiguous ones)."""
    # Set just before POST /v2/replicas: a request still `submitting` after a restart was
    # sent (and must be reconciled, never re-sent) exactly when this is set.
    db.table("replica_requests").add_column("create_sent_at", str)
    db.table("outbox").create(
        {
            "id": int,
            "request_id": int,
            # At most one message per key: "<request>:status" (the root message, posted
            # once and then edited) or "<request>:<reply name>".
            "key": str,
            "kind": str,  # "status" (rendered when delivered) or "reply" (payload below)
            "payload": str,  # JSON {"text", "blocks"} of a reply
            "state": str,  # pending, sending (outcome unknown until it is checked), sent, failed
            "attempts": int,
            # Bumped by every ask to refresh the root message: a delivery that rendered an
            # older version leaves the row pending, so the newest state always gets shown.
            "version": int,
            "next_attempt_at": str,
            "channel_id": str,  # where it was posted, and its ts
            "ts": str,
            "last_error": str,
            "created_at": str,
            "sent_at": str,
        },
        pk="id",
        not_null={"request_id", "key", "kind", "state", "attempts", "next_attempt_at"},
        foreign_keys=[("request_id", "replica_requests", "id")],
        defaults={"attempts": 0, "version": 0},
    )
    outbox = db.table("outbox")
    outbox.create_index(["key"], unique=True)
    outbox.create_index(["state", "next_attempt_at"])


@migrations()
def add_heartbeat(db: sqlite_utils.Database) -> None:
    """One row that readiness (`GET /readyz`) rewrites: proof that the database takes writes
    (a full disk or a read-only file fails here before it fails a user's request)."""
    db.table("heartbeat").create({"id": int, "checked_at": str}, pk="id")
    db.table("heartbeat").insert({"id": 1, "checked_at": ""})


@migrations()
def add_form_sessions(db: sqlite_utils.Database) -> None:
    """Request forms' state, kept server-side (storage/forms.py): a form's private_metadata
    (at most 3,000 characters) carries only the key."""
    db.table("form_sessions").create(
        {
            "key": str,
            "context": str,  # ModalContext JSON
            "action_ts": str,  # the newest click applied, so a late older one is ignored
            "created_at": str,
            "updated_at": str,
        },
        pk="key",
        not_null={"key", "context", "created_at", "updated_at"},
    )
    db.table("form_sessions").create_index(["updated_at"])


@migrations()
def add_enterprise_id(db: sqlite_utils.Database) -> None:
    """The Enterprise Grid org of the request (None outside Grid), next to `team_id`, which
    is now the workspace that installed the app rather than the submitter's own."""
    db.table("replica_requests").add_column("enterprise_id", str)


@migrations()
def add_outbox_attempts(db: sqlite_utils.Database) -> None:
    """Where each outbox post goes, recorded before chat.postMessage is called: a post whose
    answer was lost is looked for there (and only there), never re-posted blind."""
    outbox = db.table("outbox")
    # The attempt in flight or in doubt: channel (a D… DM id, or a user id when the DM's id
    # was not known yet), thread, the metadata key the message carries (the row's, or its DM
    # notice's), and a ts below which that message cannot be, in Slack's own clock.
    outbox.add_column("target_channel_id", str)
    outbox.add_column("target_thread_ts", str)
    outbox.add_column("target_key", str)
    outbox.add_column("target_floor", str)
    # Set when the row's own channel refused it: the channel it was moved from, the
    # requester's DM id once learnt (from a post's answer), and the ts of the notice there.
    outbox.add_column("moved_from_channel_id", str)
    outbox.add_column("dm_channel_id", str)
    outbox.add_column("notice_ts", str)


@migrations()
def add_training_progress(db: sqlite_utils.Database) -> None:
    """Tavus's latest `training_progress` ("N/100") of a request, kept rather than dropped."""
    db.table("replica_requests").add_column("training_progress", str)


@migrations()
def add_outbox_lanes(db: sqlite_utils.Database) -> None:
    """Every outbox row belongs to a lane ("request:12", "dm:U123"): delivered in order within
    it, independently of other lanes. A message about no request (a user's DM) has a lane of
    its own and no `request_id`. Every row written before this is about a request."""
    outbox = db.table("outbox")
    outbox.add_column("lane", str)
    db.execute("UPDATE outbox SET lane = 'request:' || request_id")
    # SQLite cannot drop a NOT NULL with ALTER TABLE; transform copies the rows, ids and all
    # (their order is each lane's order), into a table made without it, and remakes its
    # indexes. No table refers to outbox rows, so nothing else has to follow.
    outbox.transform(not_null={"request_id": False, "lane": True})
    outbox.create_index(["lane"])


@migrations()
def add_requests_by_requester(db: sqlite_utils.Database) -> None:
    """A requester's requests by time: the monthly limit counts them before every form opens
    (within the ~3 s a trigger_id lives), so the count must not scan every request."""
    db.table("replica_requests").create_index(["requester_id", "created_at"])


@migrations()
def add_consent_events(db: sqlite_utils.Database) -> None:
    """The consent record (storage/consent.py): append-only, enforced by the database itself,
    so no code path, present or future, can rewrite or remove what was recorded. No foreign
    key to replica_requests: the record must outlive a request's row (a hard deletion)."""
    events = db.table("consent_events")
    events.create(
        {
            "id": int,  # the order of events, within a request and overall
            "request_id": int,
            "kind": str,
            "at": str,
            "actor_id": str,
            "details": str,  # JSON object, its shape per kind (domain/consent.py)
        },
        pk="id",
        not_null={"request_id", "kind", "at", "details"},
    )
    events.create_index(["request_id"])
    for operation in ("UPDATE", "DELETE"):
        db.execute(
            f"""CREATE TRIGGER consent_events_no_{operation.lower()}
                BEFORE {operation} ON consent_events
                BEGIN SELECT RAISE(ABORT, 'consent_events is append-only'); END"""
        )
    # INSERT OR REPLACE deletes the row it replaces without firing the DELETE trigger unless
    # a connection turns recursive_triggers on (sqlite-utils does; sqlite3 alone does not).
    db.execute(
        """CREATE TRIGGER consent_events_no_replace BEFORE INSERT ON consent_events
           WHEN EXISTS (SELECT 1 FROM consent_events WHERE id = NEW.id)
           BEGIN SELECT RAISE(ABORT, 'consent_events is append-only'); END"""
    )


@migrations()
def add_subjects(db: sqlite_utils.Database) -> None:
    """Who is on camera and what they (or the requester) agreed to; who must approve first;
    and a deletion asked for (consent revoked, or an admin), kept until Tavus has done it.
    Requests made before this had the requester on camera, by their own attestation."""
    requests = db.table("replica_requests")
    for column in (
        "slack_file_owner",
        "slack_file_permalink",
        "subject_kind",
        "subject_user_id",
        "subject_name",
        "intended_use",
        "consent_statement",
        "attestation",
        "consent_reference",
        "approvers",  # JSON list of Slack user ids, in the order they were asked
        "delete_requested_at",
        "delete_requested_by",
    ):
        requests.add_column(column, str)
    db.execute(
        "UPDATE replica_requests SET subject_kind = 'me', subject_user_id = requester_id, "
        "approvers = '[]'"
    )
    requests.create_index(["subject_user_id"])
    requests.create_index(["slack_file_owner"])


@migrations()
def add_management(db: sqlite_utils.Database) -> None:
    """Managing replicas from Slack: the preview Tavus made, Phoenix-4.5's tuning status, and
    how a deletion was asked for (with the training footage or not) and when it was done."""
    requests = db.table("replica_requests")
    requests.add_column("thumbnail_video_url", str)
    requests.add_column("finetune_status", str)
    requests.add_column("delete_hard", int)
    requests.add_column("deleted_at", str)
    # Revocations recorded before this always deleted the footage too.
    db.execute("UPDATE replica_requests SET delete_hard = 1 WHERE delete_requested_at IS NOT NULL")


@migrations()
def create_home_views(db: sqlite_utils.Database) -> None:
    """Who has opened the app's Home tab (their Home is refreshed when one of their replicas
    changes), whether they saw it as an admin, and which page of everyone's replicas."""
    db.table("home_views").create(
        {"user_id": str, "is_admin": int, "everyone_offset": int, "opened_at": str},
        pk="user_id",
    )


@migrations()
def create_prompt_opt_outs(db: sqlite_utils.Database) -> None:
    """People who asked not to be offered a replica after each upload ("Don't ask me again";
    `/replica prompts on` removes them)."""
    db.table("upload_prompt_opt_outs").create({"user_id": str, "since": str}, pk="user_id")


@migrations()
def add_media_objects(db: sqlite_utils.Database) -> None:
    """Relayed copies kept in an S3-compatible bucket (MEDIA_STORE=s3): the bucket and object
    key of each, so the sweep deletes the very object whatever the settings say now. Both are
    NULL for a copy in MEDIA_DIR."""
    media = db.table("media_files")
    media.add_column("bucket", str)
    media.add_column("object_key", str)


@migrations()
def add_retention_indexes(db: sqlite_utils.Database) -> None:
    """Retention (storage/retention.py, RETENTION_DAYS): delivered outbox rows by when they
    were sent, and callbacks by when they arrived, found a batch at a time without scanning
    either table. (Given-up outbox rows are found by `state, next_attempt_at`, already
    indexed.)"""
    db.table("outbox").create_index(["state", "sent_at"])
    db.table("tavus_callbacks").create_index(["received_at"])


@migrations()
def create_known_dms(db: sqlite_utils.Database) -> None:
    """The bot's DM (D…) with each user whose id an answer told: read by a primary key before
    posting there, instead of searching the outbox (which grows with history)."""
    db.table("known_dms").create(
        {"user_id": str, "dm_channel_id": str, "learnt_at": str}, pk="user_id"
    )
    # What the outbox knew, the newest answer winning.
    db.execute(
        """INSERT OR REPLACE INTO known_dms (user_id, dm_channel_id, learnt_at)
           SELECT CASE WHEN o.lane LIKE 'dm:%' THEN substr(o.lane, 4) ELSE r.requester_id END,
                  o.dm_channel_id, coalesce(o.sent_at, o.created_at)
           FROM outbox o LEFT JOIN replica_requests r ON r.id = o.request_id
           WHERE o.dm_channel_id IS NOT NULL
             AND (o.lane LIKE 'dm:%' OR r.requester_id IS NOT NULL)
           ORDER BY o.id"""
    )


@migrations()
def add_library_indexes(db: sqlite_utils.Database) -> None:
    """Lists and look-ups whose cost follows the page asked for, not the history stored:
    - a requester's requests newest first (`requests_of`, a page at a time by id);
    - `/replica status <name>`: the name in any (ASCII) case, newest first;
    - deletions still to do (the reconciler, every round): only requests whose deletion was
      asked for, by state (most deleted ones are done: `deleted`).
    And where an admin's App Home page of everyone's replicas starts: the id it shows
    requests older than (None: the newest), kept beside `everyone_offset` (now only the
    position shown)."""
    requests = db.table("replica_requests")
    requests.create_index(["requester_id", "id"], index_name="replica_requests_requester_id_id")
    db.execute(
        """CREATE INDEX replica_requests_name_nocase
           ON replica_requests (replica_name COLLATE NOCASE)"""
    )
    db.execute(
        """CREATE INDEX replica_requests_deletions ON replica_requests (state)
           WHERE delete_requested_at IS NOT NULL"""
    )
    db.table("home_views").add_column("everyone_before", int)
