"""Consent: the statement Tavus requires at the start of a training video, the request form's
attestation texts, and the consent record's events (what each kind records)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from domain.request import Mode, ReplicaRequest, SlackOrigin
from domain.states import State

# The canonical wording from Tavus's API spec (train_video_url) and consent troubleshooting page.
CONSENT_TEMPLATE = (
    "I, {full_name}, am currently speaking and consent Tavus to create an AI clone of me by "
    "using the audio and video samples I provide. I understand that this AI clone can be used "
    "to create videos that look and sound like me."
)
NAME_PLACEHOLDER = "[your full name]"

# The request form's consent checkbox, per mode, word for word (blocks/replica_modal.py shows
# these very strings): a requester's attestation is recorded as the text they ticked.
ATTESTATION_VIDEO = "The person shown has consented to an AI replica of them"
ATTESTATION_PHOTO = "I have the rights to this likeness and the person shown has consented"


def consent_sentence(full_name: str | None) -> str:
    """The sentence the person on camera must say first, with their name filled in."""
    return CONSENT_TEMPLATE.format(full_name=(full_name or "").strip() or NAME_PLACEHOLDER)


def attestation(mode: Mode) -> str:
    """The consent checkbox's text in `mode`'s form."""
    return ATTESTATION_VIDEO if mode is Mode.VIDEO else ATTESTATION_PHOTO


def statement_for(request: ReplicaRequest, full_name: str | None) -> str | None:
    """The consent sentence a request relies on: the one its form showed, which must open the
    training video. None when nothing spoken is relied on: a photo, or a video with a separate
    consent video (that video holds the statement)."""
    if request.mode is not Mode.VIDEO or request.consent_video_url:
        return None
    return consent_sentence(full_name)


# -- the consent record ------------------------------------------------------------------------
# An append-only log per request (storage/consent.py): nothing in it is updated in place. The
# audit export (CSV) folds each request's events into one row.

# Bump whenever CONSENT_TEMPLATE or an ATTESTATION_* above changes wording: the record keeps the
# exact text shown and this version, so an old record still says what was agreed to.
STATEMENT_VERSION = "1"


class ConsentEventKind(StrEnum):
    SUBMITTED = "submitted"  # the form: statement shown, attestation ticked, media, requester
    MEDIA_RELAYED = "media_relayed"  # a Slack file copied for Tavus: its sha256
    POSTED = "posted"  # the status message: its permalink
    STATE_CHANGED = "state_changed"  # every state change: from, to, replica id, reason
    DELETED = "deleted"  # when, by whom, hard or soft


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
    request_id: int,
    at: str,
    request: ReplicaRequest,
    origin: SlackOrigin,
    *,
    requester_name: str | None,
) -> ConsentEvent:
    """The request as its form was submitted: who asked, whose likeness, what they were shown
    and agreed to, and the media. `requester_name`: the name the form's consent sentence
    showed (None: Slack did not say, and the form showed NAME_PLACEHOLDER, as recorded)."""
    requester = origin.requester_id
    media: dict[str, Any]
    if request.slack_file_id is not None:
        # Its bytes' sha256 follows in MEDIA_RELAYED, once they are copied for Tavus.
        media = {"slack_file_id": request.slack_file_id, "file_name": request.slack_file_name}
    else:
        media = {"url": recordable_url(request.media_url)}
    if request.consent_video_url:
        media["consent_video_url"] = recordable_url(request.consent_video_url)
    return ConsentEvent(
        request_id=request_id,
        kind=ConsentEventKind.SUBMITTED,
        at=at,
        actor_id=requester,
        details={
            "requester_id": requester,
            # Whose likeness: today always the requester ("me"). Later also
            # {"kind": "member", "user_id": …} and {"kind": "outside", "name": …}.
            "subject": {"kind": "me", "user_id": requester},
            "intended_use": None,  # not asked yet
            # How consent was given: today the requester's attestation (the ticked checkbox).
            # Later also {"method": "approval", "user_id": …, "at": …} from the subject.
            "how": {"method": "attestation", "text": attestation(request.mode), "by": requester},
            "statement": {
                "text": statement_for(request, requester_name),
                "version": STATEMENT_VERSION,
            },
            "media": media,
            "mode": request.mode.value,
            "model": request.model_name,
            "replica_name": request.replica_name,
            "workspace": {"team_id": origin.team_id, "enterprise_id": origin.enterprise_id},
            "channel_id": origin.channel_id,
            "state": State.SUBMITTING.value,
        },
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
