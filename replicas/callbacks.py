"""Tavus callbacks: the secret in their URL, reading their body, and what became of them.

Tavus does not sign callbacks, so the unguessable token in the URL is the only proof of
origin; only its sha256 is stored.
"""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum

from domain.training import TrainingResult


class CallbackVerdict(StrEnum):
    """What became of a Tavus callback; the HTTP route maps each to a status code."""

    APPLIED = "applied"  # a result, recorded now
    CONFIRMING = "confirming"  # a result, recorded; announced once Tavus's GET agrees
    DUPLICATE = "duplicate"  # a result already recorded
    IN_PROGRESS = "in_progress"  # not a final status; nothing to announce
    DEFERRED = "deferred"  # arrived before the create's answer; applied once it is known
    UNKNOWN_TOKEN = "unknown_token"
    MALFORMED = "malformed"
    REPLICA_MISMATCH = "replica_mismatch"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def parse_callback(raw_body: bytes) -> tuple[str, TrainingResult] | None:
    """(replica_id, result) from a callback body, or None if it is not a replica callback."""
    try:
        body = json.loads(raw_body)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: deep nesting
        return None
    if not isinstance(body, dict):
        return None
    replica_id = body.get("replica_id") or body.get("face_id")
    status = body.get("status")
    error_message = body.get("error_message")
    if not isinstance(replica_id, str) or not replica_id or not isinstance(status, str):
        return None
    if error_message is not None and not isinstance(error_message, str):
        return None
    progress = body.get("training_progress")
    return replica_id, TrainingResult(
        status=status,
        error_message=error_message,
        training_progress=progress if isinstance(progress, str) else None,
    )
