"""The replica form: its fields, prefilling from `/replica <text>`, and validation.

Field names double as the modal's block_ids and action_ids (a public contract), so a
validation error keyed by field shows under the right input.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import PurePosixPath

from domain.consent import attestation, statement_shown
from domain.media import listing
from domain.request import (
    DEFAULT_MODEL,
    MAX_NAME_LENGTH,
    MODELS,
    VIDEO_ONLY_MODELS,
    Mode,
    ReplicaRequest,
    is_http_url,
    mode_for_url,
    model_label,
)
from domain.slack_files import SlackFile
from domain.subject import MAX_SUBJECT_NAME_LENGTH, Subject, SubjectKind

# Slack may send a link as <url> or <url|label>; the label may contain spaces.
SLACK_LINK = re.compile(r"<(https?://[^\s|>]+)(?:\|[^>]*)?>")
# What the replica is for: a short phrase, shown to whoever approves and kept in the record.
MAX_INTENDED_USE_LENGTH = 150
# A link to a signed release (someone outside Slack); the consent record keeps it.
MAX_REFERENCE_LENGTH = 1000


class Field(StrEnum):
    REPLICA_NAME = "replica_name"
    MODE = "mode"
    SLACK_FILE = "slack_file"  # a video or photo shared in Slack, shown instead of a link
    TRAIN_VIDEO_URL = "train_video_url"
    CONSENT_VIDEO_URL = "consent_video_url"
    TRAIN_IMAGE_URL = "train_image_url"
    VOICE_NAME = "voice_name"
    AUTO_FIX_TRAINING_IMAGE = "auto_fix_training_image"
    MODEL_NAME = "model_name"
    CONSENT = "consent"  # "me": the requester's own attestation
    SUBJECT = "subject"  # who is on camera: SubjectKind
    SUBJECT_USER = "subject_user"  # someone in this workspace (a user picker)
    SUBJECT_NAME = "subject_name"  # someone outside Slack: their full name
    INTENDED_USE = "intended_use"
    OUTSIDE_CONSENT = "outside_consent"  # the requester holds their written consent
    CONSENT_REFERENCE = "consent_reference"  # e.g. a link to the signed release


class Unavailable(StrEnum):
    """Why a workspace member picked as the subject cannot approve (users.info says so)."""

    BOT = "bot"
    DEACTIVATED = "deactivated"


UNAVAILABLE_ERRORS: dict[str, str] = {
    Unavailable.BOT: "That's a bot, not a person: choose who is on camera.",
    Unavailable.DEACTIVATED: (
        "That account is deactivated, so they can't approve: choose “Someone outside Slack” "
        "instead."
    ),
}


@dataclass(frozen=True)
class FormDraft:
    """What the form holds, typed in or prefilled; nothing checked yet."""

    replica_name: str = ""
    mode: Mode = Mode.VIDEO
    train_video_url: str = ""
    consent_video_url: str = ""
    train_image_url: str = ""
    voice_name: str = ""
    auto_fix_training_image: bool = False
    model_name: str = DEFAULT_MODEL
    consent: bool = False
    slack_file_id: str = ""
    subject_kind: SubjectKind = SubjectKind.ME
    subject_user_id: str = ""
    subject_name: str = ""
    intended_use: str = ""
    outside_consent: bool = False
    consent_reference: str = ""


def draft_from_command_text(text: str) -> FormDraft:
    """Prefill from `/replica <text>`: links go to the media field their extension suggests
    (and set the mode); everything else becomes the name."""
    draft = FormDraft()
    name_words: list[str] = []
    for word in SLACK_LINK.sub(r"\1", text).split():
        link = word.strip("<>")
        if is_http_url(link):
            if mode_for_url(link) is Mode.IMAGE:
                draft = replace(draft, mode=Mode.IMAGE, train_image_url=link)
            else:
                draft = replace(draft, mode=Mode.VIDEO, train_video_url=link)
        else:
            name_words.append(word)
    return replace(draft, replica_name=" ".join(name_words)[:MAX_NAME_LENGTH])


def draft_from_files(files: Sequence[SlackFile]) -> FormDraft:
    """Prefill from files shared in Slack: the first one Tavus can use (else the first one)
    sets the mode and is chosen, and its name, without the extension, names the replica."""
    usable = [f for f in files if f.mode is not None]
    if not usable:
        return FormDraft()
    chosen = next((f for f in usable if f.problem() is None), usable[0])
    assert chosen.mode is not None
    name = PurePosixPath(chosen.name).stem.replace("_", " ").strip()
    return FormDraft(replica_name=name[:MAX_NAME_LENGTH], mode=chosen.mode, slack_file_id=chosen.id)


def _chosen_file(draft: FormDraft, files: Sequence[SlackFile]) -> SlackFile | str:
    """The Slack file the draft chose, or why it cannot train this replica."""
    chosen = next((f for f in files if f.id == draft.slack_file_id), None)
    if chosen is None:
        return "Choose one of the files shared in Slack, or paste a link instead."
    if chosen.mode is not draft.mode:
        wanted = "video" if draft.mode is Mode.VIDEO else "photo"
        return f"{chosen.name or chosen.id} is not a {wanted}. Choose a {wanted}."
    return chosen.problem() or chosen


def unavailable_reason(*, is_bot: bool, deleted: bool) -> Unavailable | None:
    """Why a member Slack describes so cannot approve a replica of them; None if they can."""
    if is_bot:
        return Unavailable.BOT
    if deleted:
        return Unavailable.DEACTIVATED
    return None


def video_only(model: str) -> str:
    """The error under the model when it cannot train from the photo chosen."""
    others = listing(model_label(m) for m in MODELS if m not in VIDEO_ONLY_MODELS)
    return f"{model_label(model)} cannot train from a photo: choose {others}."


def _too_long(what: str, limit: int, length: int) -> str:
    return f"Keep {what} to {limit} characters (this one has {length})."


def _subject(
    draft: FormDraft,
    errors: dict[str, str],
    *,
    requester_id: str,
    requester_name: str | None,
    member_names: Mapping[str, str],
    unavailable: Mapping[str, str],
) -> Subject | None:
    """Who is on camera, as the draft says; None (with errors) if it does not say well."""
    if draft.subject_kind is SubjectKind.MEMBER:
        user_id = draft.subject_user_id.strip()
        if not user_id:
            errors[Field.SUBJECT_USER] = "Choose the person on camera."
        elif user_id == requester_id:
            errors[Field.SUBJECT_USER] = "That's you: choose “Me” instead."
        elif user_id in unavailable:
            errors[Field.SUBJECT_USER] = UNAVAILABLE_ERRORS.get(
                unavailable[user_id], "They can't approve a replica: choose someone else."
            )
        else:
            return Subject(SubjectKind.MEMBER, user_id, member_names.get(user_id) or None)
        return None
    if draft.subject_kind is SubjectKind.OUTSIDE:
        name = draft.subject_name.strip()
        if not name:
            errors[Field.SUBJECT_NAME] = "Give the full name of the person on camera."
        elif len(name) > MAX_SUBJECT_NAME_LENGTH:
            errors[Field.SUBJECT_NAME] = _too_long("the name", MAX_SUBJECT_NAME_LENGTH, len(name))
        else:
            return Subject(SubjectKind.OUTSIDE, None, name)
        return None
    return Subject(SubjectKind.ME, requester_id, requester_name or None)


def validate(
    draft: FormDraft,
    known_voices: Collection[str],
    files: Sequence[SlackFile] = (),
    *,
    requester_id: str,
    requester_name: str | None = None,
    member_names: Mapping[str, str] | None = None,
    unavailable: Mapping[str, str] | None = None,
) -> ReplicaRequest | dict[str, str]:
    """A ReplicaRequest, or error messages keyed by the field (block_id) they belong under.

    `files` are the Slack files the form offered; a draft that chose one trains from it.
    `requester_id`, `requester_name`: who submits, and their Slack real name if known (the
    consent sentence names them when they are on camera). `member_names`: the real names the
    form looked up for members it offered as the subject; `unavailable`: members who cannot
    approve, and why (an Unavailable value).
    """
    errors: dict[str, str] = {}
    name = draft.replica_name.strip()
    if not name:
        errors[Field.REPLICA_NAME] = "Give the replica a name."
    elif len(name) > MAX_NAME_LENGTH:
        errors[Field.REPLICA_NAME] = _too_long("the name", MAX_NAME_LENGTH, len(name))

    def url_field(field: Field, value: str, *, required: bool, what: str) -> str | None:
        value = value.strip()
        if not value:
            if required:
                errors[field] = f"Paste a link to the {what}."
            return None
        if not is_http_url(value):
            errors[field] = "Use a full http:// or https:// link, e.g. https://example.com/clip.mp4"
            return None
        return value

    subject = _subject(
        draft,
        errors,
        requester_id=requester_id,
        requester_name=requester_name,
        member_names=member_names or {},
        unavailable=unavailable or {},
    )
    intended_use = draft.intended_use.strip()
    if not intended_use:
        errors[Field.INTENDED_USE] = "Say what the replica will be used for."
    elif len(intended_use) > MAX_INTENDED_USE_LENGTH:
        errors[Field.INTENDED_USE] = _too_long(
            "what it is for", MAX_INTENDED_USE_LENGTH, len(intended_use)
        )

    slack_file: SlackFile | None = None
    if draft.slack_file_id:
        chosen = _chosen_file(draft, files)
        if isinstance(chosen, str):
            errors[Field.SLACK_FILE] = chosen
        else:
            slack_file = chosen

    voice = draft.voice_name.strip().lower() or None
    if draft.mode is Mode.VIDEO:
        # A Slack file stands in for the link; the relay fills the link in after submission.
        video = None
        if not draft.slack_file_id:
            video = url_field(
                Field.TRAIN_VIDEO_URL, draft.train_video_url, required=True, what="training video"
            )
        consent_video = url_field(
            Field.CONSENT_VIDEO_URL, draft.consent_video_url, required=False, what="consent video"
        )
        image = None
    else:
        image = None
        if not draft.slack_file_id:
            image = url_field(
                Field.TRAIN_IMAGE_URL, draft.train_image_url, required=True, what="photo"
            )
        video = consent_video = None
        if voice is None:
            errors[Field.VOICE_NAME] = "A replica trained from a photo needs a voice."

    if voice is not None and voice not in known_voices:
        errors[Field.VOICE_NAME] = f"Tavus has no voice called “{voice}”. Pick one from the list."
    if draft.model_name not in MODELS:
        errors[Field.MODEL_NAME] = f"Choose one of: {listing(model_label(m) for m in MODELS)}."
    elif draft.mode is Mode.IMAGE and draft.model_name in VIDEO_ONLY_MODELS:
        errors[Field.MODEL_NAME] = video_only(draft.model_name)

    reference: str | None = None
    if draft.subject_kind is SubjectKind.ME and not draft.consent:
        errors[Field.CONSENT] = (
            "Confirm consent: Tavus only trains replicas of people who agreed to it."
        )
    elif draft.subject_kind is SubjectKind.OUTSIDE:
        if not draft.outside_consent:
            errors[Field.OUTSIDE_CONSENT] = (
                "Confirm that you hold their written consent: without it nothing is sent to Tavus."
            )
        reference = draft.consent_reference.strip() or None
        if reference is not None and (
            not is_http_url(reference) or len(reference) > MAX_REFERENCE_LENGTH
        ):
            errors[Field.CONSENT_REFERENCE] = (
                "Use a full http:// or https:// link to the signed release (at most "
                f"{MAX_REFERENCE_LENGTH} characters), or leave this empty."
            )
    if errors or subject is None:
        return errors
    return ReplicaRequest(
        replica_name=name,
        mode=draft.mode,
        model_name=draft.model_name,
        train_video_url=video,
        consent_video_url=consent_video,
        train_image_url=image,
        voice_name=voice,
        auto_fix_training_image=draft.mode is Mode.IMAGE and draft.auto_fix_training_image,
        slack_file_id=slack_file.id if slack_file else None,
        slack_file_name=slack_file.name if slack_file else None,
        slack_file_owner=slack_file.owner if slack_file else None,
        slack_file_permalink=slack_file.permalink if slack_file else None,
        subject=subject,
        intended_use=intended_use,
        statement=statement_shown(draft.mode, subject.name, consent_video=bool(consent_video)),
        attestation=attestation(draft.mode, subject.kind),
        consent_reference=reference,
    )
