"""Consent: the statement Tavus requires at the start of a training video, the request form's
attestation texts, and the consent record's events (what each kind records)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from domain.request import Mode, ReplicaRequest, SlackOrigin
from domain.states import State
from domain.subject import SubjectKind

# The canonical wording from Tavus's API spec (train_video_url) and consent troubleshooting page.
CONSENT_TEMPLATE = (
    "I, {full_name}, am currently speaking and consent Tavus to create an AI clone of me by "
    "using the audio and video samples I provide. I understand that this AI clone can be used "
    "to create videos that look and sound like me."
)
NAME_PLACEHOLDER = "[your full name]"

# The request form's consent texts, word for word (blocks/replica_modal.py shows these very
# strings): a requester's attestation is recorded as the text they ticked.
ATTESTATION_ME_VIDEO = "I am the person on camera, and I consent to an AI replica of me"
ATTESTATION_ME_PHOTO = "This is a photo of me, and I consent to an AI replica of me"
ATTESTATION_OUTSIDE = (
    "I hold this person's written consent to an AI replica of them, for the use given above"
)
# Photo mode shows this instead of a sentence to speak (a photo cannot say it).
IMAGE_RIGHTS_STATEMENT = (
    "The person in this photo has agreed to an AI replica of them that looks like them, and "
    "whoever submits it owns or is licensed to use the photo for this."
)


def consent_sentence(full_name: str | None) -> str:
    """The sentence the person on camera must say first, with their name filled in."""
    return CONSENT_TEMPLATE.format(full_name=(full_name or "").strip() or NAME_PLACEHOLDER)


def attestation(mode: Mode, kind: SubjectKind = SubjectKind.ME) -> str | None:
    """The checkbox the requester must tick for this subject and mode; None when the subject
    approves for themselves instead (a workspace member)."""
    if kind is SubjectKind.MEMBER:
        return None
    if kind is SubjectKind.OUTSIDE:
        return ATTESTATION_OUTSIDE
    return ATTESTATION_ME_VIDEO if mode is Mode.VIDEO else ATTESTATION_ME_PHOTO


def statement_shown(mode: Mode, subject_name: str | None, *, consent_video: bool) -> str | None:
    """The statement a request relies on, as its form showed it: the sentence to be spoken at
    the start of the training video, naming the subject; the image-rights statement for a
    photo; None for a video with a separate consent video (that video holds the statement)."""
    if mode is Mode.IMAGE:
        return IMAGE_RIGHTS_STATEMENT
    if consent_video:
        return None
    return consent_sentence(subject_name)


# -- the consent record ------------------------------------------------------------------------
# An append-only log per request (storage/consent.py): nothing in it is updated in place. The
# audit export (CSV) folds each request's events into one row.

# Bump whenever CONSENT_TEMPLATE or an ATTESTATION_* above changes wording: the record keeps the
# exact text shown and this version, so an old record still says what was agreed to.
# Version 2: the sentence names the person on camera (not the requester), the checkbox depends
# on who that is, and photos have the image-rights statement.
STATEMENT_VERSION = "2"


class ConsentEventKind(StrEnum):
    SUBMITTED = "submitted"  # the form: statement shown, attestation ticked, media, requester
    MEDIA_RELAYED = "media_relayed"  # a Slack file copied for Tavus: its sha256
    POSTED = "posted"  # the status message: its permalink
    STATE_CHANGED = "state_changed"  # every state change: from, to, replica id, reason
    DELETED = "deleted"  # when, by whom, hard or soft
    # An approver's answer (the subject on camera, or the owner of the Slack file).
    APPROVED = "approved"
    DECLINED = "declined"
    EXPIRED = "expired"  # no answer within CONSENT_TIMEOUT_DAYS: nothing is created
    REVOKED = "revoked"  # the subject withdrew consent: the replica is to be deleted
    DELETE_REQUESTED = "delete_requested"  # an admin (or the requester) asked for deletion


@dataclass(frozen=True)
class ConsentEvent:
    """One entry of a request's consent record. `details` depends on `kind` (plain JSON
    values); `actor_id` is the Slack user who caused it, None when the bot or Tavus did."""

    request_id: int
    kind: ConsentEventKind
    at: str  # UTC ISO timestamp
    details: dict[str, Any] = field(default_factory=dict)
    actor_id: str | None = None


# -- the events, one builder per kind: each kind's `details`, written in one place ------------
# Later changes add fields (a named subject, intended use, the subject's own approval) inside
# these shapes, so records old and new fold into the same export columns.


def recordable_url(url: str) -> str:
    """A link as the record keeps it: without its query and fragment, which for a presigned
    link hold the signature and credentials (the record can never be scrubbed, and the audit
    export is uploaded to Slack). A sha256 of the whole link still lets it be matched."""
    cut = url.split("#", 1)[0]
    base, question, _ = cut.partition("?")
    if not question and cut == url:
        return url
    digest = hashlib.sha256(url.encode()).hexdigest()[:16]
    return f"{base} (query removed; sha256 {digest})"


def submitted(
    request_id: int, at: str, request: ReplicaRequest, origin: SlackOrigin
) -> ConsentEvent:
    """The request as its form was submitted: who asked, who is on camera, what they were
    shown and agreed to, what the replica is for, and the media."""
    requester = origin.requester_id
    media: dict[str, Any]
    if request.slack_file_id is not None:
        # Its bytes' sha256 follows in MEDIA_RELAYED, once they are copied for Tavus.
        media = {
            "slack_file_id": request.slack_file_id,
            "file_name": request.slack_file_name,
            "file_owner": request.slack_file_owner,
        }
    else:
        media = {"url": recordable_url(request.media_url)}
    if request.consent_video_url:
        media["consent_video_url"] = recordable_url(request.consent_video_url)
    subject = request.subject
    approvers = request.approvers(requester)
    how: dict[str, Any]
    if approvers:
        # Each approver's answer follows as APPROVED / DECLINED (or EXPIRED).
        how = {"method": "approval", "approvers": list(approvers)}
        if request.attestation is not None:  # "me" on someone else's file: both
            how["text"] = request.attestation
            how["by"] = requester
    else:
        how = {"method": "attestation", "text": request.attestation, "by": requester, "at": at}
    if request.consent_reference:
        how["reference"] = recordable_url(request.consent_reference)
    return ConsentEvent(
        request_id=request_id,
        kind=ConsentEventKind.SUBMITTED,
        at=at,
        actor_id=requester,
        details={
            "requester_id": requester,
            "subject": {
                "kind": subject.kind.value,
                "user_id": subject.user_id,
                "name": subject.name,
            },
            "intended_use": request.intended_use,
            "how": how,
            "statement": {"text": request.statement, "version": STATEMENT_VERSION},
            "media": media,
            "mode": request.mode.value,
            "model": request.model_name,
            "replica_name": request.replica_name,
            "workspace": {"team_id": origin.team_id, "enterprise_id": origin.enterprise_id},
            "channel_id": origin.channel_id,
            "state": State.AWAITING_CONSENT.value if approvers else State.SUBMITTING.value,
        },
    )


def decided(
    request_id: int, at: str, *, by: str, approved: bool, role: str, statement: str | None
) -> ConsentEvent:
    """An approver's answer from their own Slack account: `role` says why they were asked
    ("subject": on camera; "file_owner": shared the footage), `statement` what they saw."""
    return ConsentEvent(
        request_id=request_id,
        kind=ConsentEventKind.APPROVED if approved else ConsentEventKind.DECLINED,
        at=at,
        actor_id=by,
        details={
            "by": by,
            "role": role,
            "statement": {"text": statement, "version": STATEMENT_VERSION},
        },
    )


def expired(request_id: int, at: str, *, waiting_for: list[str], days: int) -> ConsentEvent:
    """Nobody answered (or not everyone) within `days` days: the request ends uncreated."""
    return ConsentEvent(
        request_id=request_id,
        kind=ConsentEventKind.EXPIRED,
        at=at,
        details={"waiting_for": waiting_for, "days": days},
    )


def deletion_asked(request_id: int, at: str, *, by: str, revoked: bool) -> ConsentEvent:
    """Slack user `by` asked for the replica to be deleted: the subject withdrawing consent
    (`revoked`), or an admin or the requester. DELETED follows once it is gone at Tavus."""
    return ConsentEvent(
        request_id=request_id,
        kind=ConsentEventKind.REVOKED if revoked else ConsentEventKind.DELETE_REQUESTED,
        at=at,
        actor_id=by,
        details={"by": by},
    )


def state_changed(
    request_id: int,
    at: str,
    *,
    from_state: State,
    to_state: State,
    replica_id: str | None,
    reason: str | None,
    tavus_status: str | None,
) -> ConsentEvent:
    """A change of the request's state, with what the request then said: its Tavus replica id,
    the reason (a failure's message) and Tavus's raw status."""
    return ConsentEvent(
        request_id=request_id,
        kind=ConsentEventKind.STATE_CHANGED,
        at=at,
        details={
            "from": from_state.value,
            "to": to_state.value,
            "replica_id": replica_id,
            "reason": reason,
            "tavus_status": tavus_status,
        },
    )


def media_relayed(
    request_id: int,
    at: str,
    *,
    slack_file_id: str | None,
    file_name: str,
    size: int,
    sha256: str,
) -> ConsentEvent:
    """A Slack file's bytes copied for Tavus: exactly these bytes (sha256, hex) were trained
    on. The copy's URL is left out: it is a secret that lets anyone download the media."""
    return ConsentEvent(
        request_id=request_id,
        kind=ConsentEventKind.MEDIA_RELAYED,
        at=at,
        details={
            "slack_file_id": slack_file_id,
            "file_name": file_name,
            "size": size,
            "sha256": sha256,
        },
    )


def posted(request_id: int, at: str, *, channel_id: str, ts: str, permalink: str) -> ConsentEvent:
    """The request's status message in Slack, where its story is told."""
    return ConsentEvent(
        request_id=request_id,
        kind=ConsentEventKind.POSTED,
        at=at,
        details={"permalink": permalink, "channel_id": channel_id, "ts": ts},
    )


def deleted(request_id: int, at: str, *, by: str, hard: bool) -> ConsentEvent:
    """The replica was deleted by Slack user `by`: hard (gone at Tavus) or soft (hidden)."""
    return ConsentEvent(
        request_id=request_id,
        kind=ConsentEventKind.DELETED,
        at=at,
        actor_id=by,
        details={"by": by, "hard": hard},
    )
