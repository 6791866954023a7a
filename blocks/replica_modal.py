"""The replica request modal: building it, reading it back, and switching its mode (or who is
on camera) in place. The consent part (subject, intended use, statement, attestation) is built
in blocks/replica_form_consent.py.

Pure functions: no Slack or Tavus I/O, so tests call them directly.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ExternalDataSelectElement,
    InputBlock,
    Option,
    PlainTextInputElement,
    RadioButtonsElement,
    StaticSelectElement,
    UrlInputElement,
)
from slack_sdk.models.views import View

from blocks import dry_run_block, plain_within
from blocks.replica_form_consent import (
    CHECKED,
    CONSENT_LIMIT,
    OPTION_TEXT_LIMIT,
    SUBJECT_FIELDS,
    attestation_blocks,
    checkbox,
    file_owner_note,
    intended_use_block,
    note,
    option,
    statement_block,
    subject_blocks,
)
from domain.form import Field, FormDraft
from domain.media import IMAGE_FORMATS, MAX_VIDEO_SIZE
from domain.request import (
    DEFAULT_MODEL,
    MAX_NAME_LENGTH,
    MODEL_DESCRIPTIONS,
    MODELS,
    Mode,
    model_label,
)
from domain.slack_files import SlackFile
from domain.subject import MAX_SUBJECT_NAME_LENGTH, SubjectKind

# Re-exported: where the form's option limits and checkbox value were always found.
__all__ = ["CHECKED", "CONSENT_LIMIT", "OPTION_TEXT_LIMIT"]

CALLBACK_ID = "replica_modal"
PRIVATE_METADATA_LIMIT = 3000
# The one key of a form's private_metadata: its session (see handlers/form_sessions.py).
FORM_KEY = "form"
# Buttons that swap a Slack file for a link field and back.
USE_LINK = "use_link"
USE_SLACK_FILE = "use_slack_file"
# Slack refuses longer option values; slack_sdk raises first.
OPTION_VALUE_LIMIT = 150
# The FormDraft attribute of a field whose name differs from it (the stash is keyed by these).
DRAFT_ATTRIBUTES = {Field.SUBJECT_USER: "subject_user_id"}
# Members looked up for the subject picker that a form's session remembers (the latest ones).
MAX_MEMBERS_KEPT = 10
NEEDS_PUBLIC_URL = (
    "To train from files shared in Slack, the bot needs a public URL that Tavus can download "
    "them from, and it doesn't have one yet: ask whoever runs the bot to set one up. Until "
    "then, paste a link."
)

MODE_LABELS = {Mode.VIDEO: "From a video", Mode.IMAGE: "From a photo"}
# Fields that only exist in one mode; their typed values survive a mode switch in the stash.
MODE_FIELDS = {
    Mode.VIDEO: (Field.TRAIN_VIDEO_URL, Field.CONSENT_VIDEO_URL),
    Mode.IMAGE: (Field.TRAIN_IMAGE_URL, Field.AUTO_FIX_TRAINING_IMAGE),
}


@dataclass(frozen=True)
class ModalContext:
    """What a form needs beyond what its fields hold (a submission has no channel, for one).

    Kept server-side, in the form's session: a view's private_metadata holds 3,000 characters,
    which the names of ten shared files can exceed.
    """

    channel_id: str
    requester_id: str
    requester_name: str | None = None
    thread_ts: str | None = None
    # Values typed into fields hidden by a mode switch, restored when switching back.
    stash: dict[str, str] = field(default_factory=dict)
    # Videos and photos of the Slack message the form was opened from (SlackFile.to_metadata).
    files: list[dict[str, Any]] = field(default_factory=list)
    use_link: bool = False  # the user chose a link over the Slack files
    can_relay: bool = True  # False without PUBLIC_URL: Tavus could not download the files
    # Members picked as the subject, as Slack described them when picked: real names, and why
    # some cannot approve (a domain.form.Unavailable value).
    member_names: dict[str, str] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)

    @property
    def slack_files(self) -> list[SlackFile]:
        found = (SlackFile.from_slack(item) for item in self.files)
        return [f for f in found if f is not None]

    def knowing(self, user_id: str, name: str | None, unavailable: str | None) -> ModalContext:
        """This context with what Slack says of member `user_id` now: their real name (None:
        they have none) and why they cannot approve (None: they can). The latest
        MAX_MEMBERS_KEPT members are kept."""

        def keep(found: dict[str, str], value: str | None) -> dict[str, str]:
            kept = {key: known for key, known in found.items() if key != user_id}
            if value is not None:
                kept[user_id] = value
            return dict(list(kept.items())[-MAX_MEMBERS_KEPT:])

        return replace(
            self,
            member_names=keep(self.member_names, name),
            unavailable=keep(self.unavailable, unavailable),
        )

    def to_json(self) -> str:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str) -> ModalContext:
        """The context `to_json` wrote (or a form's private_metadata before sessions existed);
        ValueError if it is not one. Unknown keys are ignored, missing ones take defaults."""
        data = json.loads(raw)
        if (
            not isinstance(data, dict)
            or not isinstance(data.get("files", []), list)
            or not isinstance(data.get("stash", {}), dict)
            or not isinstance(data.get("member_names", {}), dict)
            or not isinstance(data.get("unavailable", {}), dict)
        ):
            raise ValueError("not a JSON object of the expected shape")
        known = {f.name for f in fields(cls)}
        try:
            context = cls(**{key: value for key, value in data.items() if key in known})
        except TypeError as error:  # a required field is missing
            raise ValueError(str(error)) from error
        if not isinstance(context.channel_id, str) or not isinstance(context.requester_id, str):
            raise ValueError("channel_id and requester_id must be strings")
        return context


def form_metadata(key: str) -> str:
    """A form's private_metadata: only the key of its session, so it is small whatever the
    form shows."""
    return json.dumps({FORM_KEY: key}, separators=(",", ":"))


def read_metadata(raw: str) -> str | ModalContext:
    """The session key in a form's private_metadata, or, for a form opened before sessions
    existed, the whole context it carried. ValueError if it is neither."""
    data = json.loads(raw)
    if isinstance(data, dict) and set(data) == {FORM_KEY} and isinstance(data[FORM_KEY], str):
        return str(data[FORM_KEY])
    return ModalContext.from_json(raw)


def _url_input(
    block: Field, label: str, value: str, placeholder: str, *, optional: bool = False
) -> InputBlock:
    return InputBlock(
        block_id=block,
        label=label,
        optional=optional,
        element=UrlInputElement(
            action_id=block, initial_value=value or None, placeholder=placeholder
        ),
    )


def voice_option(voice_name: str) -> Option | None:
    """How a voice shows in the picker; the value is the slug Tavus expects. None for a name
    too long to be an option's value: Slack could never send that choice back."""
    if len(voice_name) > OPTION_VALUE_LIMIT:
        return None
    return option(voice_name, voice_name.capitalize())


def _file_option(slack_file: SlackFile) -> Option:
    return option(slack_file.id, slack_file.label)


def _button(text: str, action_id: str) -> ActionsBlock:
    return ActionsBlock(
        elements=[ButtonElement(text=plain_within(text, OPTION_TEXT_LIMIT), action_id=action_id)]
    )


def _media_input(
    draft: FormDraft,
    context: ModalContext,
    link_field: Field,
    label: str,
    placeholder: str,
    requirement: str,
) -> list[Block]:
    """The training media: a Slack file of this mode when there is one (with a way to paste
    a link instead), else the link field."""
    files = [f for f in context.slack_files if f.mode is draft.mode]
    if files and context.can_relay and not context.use_link:
        options = [_file_option(f) for f in files]
        chosen = next((o for o in options if o.value == draft.slack_file_id), options[0])
        owner = next(f.owner for f in files if f.id == chosen.value)
        shared_by = file_owner_note(
            owner,
            requester_id=context.requester_id,
            subject_user_id=(
                draft.subject_user_id if draft.subject_kind is SubjectKind.MEMBER else None
            ),
        )
        return [
            InputBlock(
                block_id=Field.SLACK_FILE,
                label=label,
                element=StaticSelectElement(
                    action_id=Field.SLACK_FILE, options=options, initial_option=chosen
                ),
                hint="Shared in Slack; the bot hands Tavus a private copy.",
            ),
            *([shared_by] if shared_by is not None else []),
            note(requirement),
            _button("Paste a link instead", USE_LINK),
        ]
    blocks: list[Block] = [
        _url_input(link_field, f"{label} link", getattr(draft, link_field), placeholder),
        note(requirement),
    ]
    if files:
        if context.can_relay:
            name = files[0].name if len(files) == 1 else "a file"
            # Bound the name, not the sentence: "Use 名前… from Slack" still says what it does.
            room = OPTION_TEXT_LIMIT - len("Use  from Slack")
            blocks.append(_button(f"Use {plain_within(name, room)} from Slack", USE_SLACK_FILE))
        else:
            blocks.append(note(NEEDS_PUBLIC_URL))
    return blocks


def _name_and_mode(draft: FormDraft) -> list[Block]:
    mode_options = {mode: option(mode.value, label) for mode, label in MODE_LABELS.items()}
    return [
        InputBlock(
            block_id=Field.REPLICA_NAME,
            label="Replica name",
            element=PlainTextInputElement(
                action_id=Field.REPLICA_NAME,
                initial_value=draft.replica_name or None,
                max_length=MAX_NAME_LENGTH,
                placeholder="e.g. Jane – sales demos",
            ),
        ),
        InputBlock(
            block_id=Field.MODE,
            label="Train from",
            dispatch_action=True,  # switching mode re-renders the form in place
            element=RadioButtonsElement(
                action_id=Field.MODE,
                options=list(mode_options.values()),
                initial_option=mode_options[draft.mode],
            ),
        ),
    ]


def subject_name_shown(draft: FormDraft, context: ModalContext) -> str | None:
    """The name the consent sentence gives the person on camera: the requester's or the picked
    member's Slack real name, or the full name typed for someone outside Slack; None if not
    known (yet)."""
    if draft.subject_kind is SubjectKind.MEMBER:
        return context.member_names.get(draft.subject_user_id) if draft.subject_user_id else None
    if draft.subject_kind is SubjectKind.OUTSIDE:
        return draft.subject_name.strip()[:MAX_SUBJECT_NAME_LENGTH] or None
    return context.requester_name


def _video_media(draft: FormDraft, context: ModalContext) -> list[Block]:
    """The training video, the consent video, and the sentence that can stand in for it."""
    return [
        *_media_input(
            draft,
            context,
            Field.TRAIN_VIDEO_URL,
            "Training video",
            "https://…/training.mp4",
            "A direct download link Tavus can fetch without signing in, valid for 24 h, or a "
            "video shared in Slack: .mp4 (H.264 + AAC), 1080p, 25 fps or more, "
            f"under {MAX_VIDEO_SIZE}, at least 1 minute.",
        ),
        _url_input(
            Field.CONSENT_VIDEO_URL,
            "Consent video link",
            draft.consent_video_url,
            "https://…/consent.mp4",
            optional=True,
        ),
        statement_block(draft, subject_name_shown(draft, context)),
    ]


def _image_media(draft: FormDraft, context: ModalContext) -> list[Block]:
    """The photo, and the image-rights statement submitting it confirms."""
    return [
        *_media_input(
            draft,
            context,
            Field.TRAIN_IMAGE_URL,
            "Photo",
            "https://…/photo.png",
            f"A public {IMAGE_FORMATS} of at least 512×512: one person, head and shoulders "
            "visible, facing the camera, even light.",
        ),
        statement_block(draft, None),
    ]


def _voice(draft: FormDraft) -> InputBlock:
    video = draft.mode is Mode.VIDEO
    return InputBlock(
        block_id=Field.VOICE_NAME,
        label="Voice",
        optional=video,
        hint="Optional: a video replica speaks with the video's voice." if video else None,
        element=ExternalDataSelectElement(
            action_id=Field.VOICE_NAME,
            placeholder="Search Tavus voices",
            min_query_length=0,
            initial_option=voice_option(draft.voice_name) if draft.voice_name else None,
        ),
    )


def model_option(model: str) -> Option:
    """How a model shows in the picker: its name, and what choosing it means underneath."""
    description = MODEL_DESCRIPTIONS.get(model)
    return Option(
        value=model,
        text=plain_within(model_label(model), OPTION_TEXT_LIMIT),
        description=plain_within(description, OPTION_TEXT_LIMIT) if description else None,
    )


def _model(draft: FormDraft) -> InputBlock:
    model_options = {model: model_option(model) for model in MODELS}
    return InputBlock(
        block_id=Field.MODEL_NAME,
        label="Model",
        element=StaticSelectElement(
            action_id=Field.MODEL_NAME,
            options=list(model_options.values()),
            # A model no longer offered (a form opened before a release) shows the default.
            initial_option=model_options.get(draft.model_name, model_options[DEFAULT_MODEL]),
        ),
    )


def build_replica_modal(
    draft: FormDraft, context: ModalContext, *, form_key: str, dry_run: bool = False
) -> View:
    """The request form for the draft's mode, prefilled with what the draft holds; its
    private_metadata names the form's session, `form_key`. `dry_run`: the dry run's marker
    first.

    Every mode renders the same block_id and action_id for the same field, so Slack keeps what
    the user typed there across any re-render.
    """
    member = draft.subject_user_id
    blocks = [
        *_name_and_mode(draft),
        *subject_blocks(
            draft,
            member_name=context.member_names.get(member) if member else None,
            unavailable=context.unavailable.get(member) if member else None,
        ),
        intended_use_block(draft),
    ]
    if draft.mode is Mode.VIDEO:
        blocks += [*_video_media(draft, context), _voice(draft)]
    else:
        blocks += [
            *_image_media(draft, context),
            _voice(draft),
            checkbox(
                Field.AUTO_FIX_TRAINING_IMAGE,
                "Image fixer",
                "Let Tavus fix up the photo before training",
                draft.auto_fix_training_image,
                optional=True,
            ),
        ]
    # Last: the attestation texts refer to what the form says above them.
    blocks += [_model(draft), *attestation_blocks(draft)]
    if dry_run:
        blocks.insert(0, dry_run_block())
    return View(
        type="modal",
        callback_id=CALLBACK_ID,
        title="Create a replica",
        submit="Start training",
        close="Cancel",
        private_metadata=form_metadata(form_key),
        blocks=blocks,
    )


def _state_value(values: dict[str, Any], block: Field) -> dict[str, Any]:
    found = values.get(block, {}).get(block)
    return found if isinstance(found, dict) else {}


def _text(values: dict[str, Any], block: Field) -> str:
    return str(_state_value(values, block).get("value") or "")


def _selected(values: dict[str, Any], block: Field) -> str:
    option = _state_value(values, block).get("selected_option")
    return str(option.get("value") or "") if isinstance(option, dict) else ""


def _checked(values: dict[str, Any], block: Field) -> bool:
    options = _state_value(values, block).get("selected_options") or []
    return any(isinstance(o, dict) and o.get("value") == CHECKED for o in options)


def read_form(values: dict[str, Any]) -> FormDraft:
    """The draft held by a view's `state.values`; missing or cleared inputs read as empty."""
    mode_value = _selected(values, Field.MODE)
    kind = _selected(values, Field.SUBJECT)
    member = _state_value(values, Field.SUBJECT_USER).get("selected_user")
    return FormDraft(
        replica_name=_text(values, Field.REPLICA_NAME),
        mode=Mode(mode_value) if mode_value in Mode.__members__.values() else Mode.VIDEO,
        train_video_url=_text(values, Field.TRAIN_VIDEO_URL),
        consent_video_url=_text(values, Field.CONSENT_VIDEO_URL),
        train_image_url=_text(values, Field.TRAIN_IMAGE_URL),
        voice_name=_selected(values, Field.VOICE_NAME),
        auto_fix_training_image=_checked(values, Field.AUTO_FIX_TRAINING_IMAGE),
        model_name=_selected(values, Field.MODEL_NAME) or FormDraft.model_name,
        consent=_checked(values, Field.CONSENT),
        slack_file_id=_selected(values, Field.SLACK_FILE),
        # A form from before the subject was asked: the requester is on camera, as then.
        subject_kind=(
            SubjectKind(kind) if kind in SubjectKind.__members__.values() else SubjectKind.ME
        ),
        subject_user_id=member if isinstance(member, str) else "",
        subject_name=_text(values, Field.SUBJECT_NAME),
        intended_use=_text(values, Field.INTENDED_USE),
        outside_consent=_checked(values, Field.OUTSIDE_CONSENT),
        consent_reference=_text(values, Field.CONSENT_REFERENCE),
    )


def _swap(
    draft: FormDraft,
    context: ModalContext,
    groups: Mapping[Any, tuple[Field, ...]],
    chosen: Any,
) -> tuple[FormDraft, ModalContext]:
    """Fields of the groups not `chosen` go into the stash when they hold something; fields
    of the `chosen` group that are empty come back out of it."""
    stash = dict(context.stash)
    restored: dict[str, Any] = {}
    for group, group_fields in groups.items():
        for form_field in group_fields:
            name = DRAFT_ATTRIBUTES.get(form_field, form_field.value)
            current = getattr(draft, name)
            if group == chosen:
                if not current and name in stash:
                    saved = stash.pop(name)
                    restored[name] = saved == CHECKED if isinstance(current, bool) else saved
            elif current:
                stash[name] = CHECKED if current is True else str(current)
    return replace(draft, **restored), replace(context, stash=stash)


def switch_mode(
    values: dict[str, Any], context: ModalContext, mode: Mode
) -> tuple[FormDraft, ModalContext]:
    """The draft and context to re-render with after the mode radio changed to `mode`.

    Fields of the mode being left go into the stash; fields of the new mode come back out.
    """
    return _swap(replace(read_form(values), mode=mode), context, MODE_FIELDS, mode)


def switch_subject(
    values: dict[str, Any], context: ModalContext, kind: SubjectKind
) -> tuple[FormDraft, ModalContext]:
    """The draft and context to re-render with after "who is on camera" changed to `kind`:
    the picked member, or the name and release typed for someone outside Slack, wait in the
    stash while another kind is shown."""
    return _swap(replace(read_form(values), subject_kind=kind), context, SUBJECT_FIELDS, kind)
