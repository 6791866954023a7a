"""The request form's consent part: who is on camera, what the replica is for, the statement
the form shows, and the attestation the requester ticks.

Pure builders over slack_sdk.models; blocks/replica_modal.py puts them in the form. Like every
block of the form, each field keeps its block_id and action_id (its domain.form Field) in every
render, so Slack keeps what the user typed there.
"""

from __future__ import annotations

import re

from slack_sdk.models.blocks import (
    Block,
    CheckboxesElement,
    ContextBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    RadioButtonsElement,
    SectionBlock,
    UrlInputElement,
    UserSelectElement,
)
from slack_sdk.models.blocks.basic_components import DispatchActionConfig

from blocks import TEXT_LIMIT, escape, escape_within, plain_within
from domain.consent import (
    ATTESTATION_OUTSIDE,
    IMAGE_RIGHTS_STATEMENT,
    attestation,
    consent_sentence,
)
from domain.form import MAX_INTENDED_USE_LENGTH, UNAVAILABLE_ERRORS, Field, FormDraft
from domain.request import Mode
from domain.subject import MAX_SUBJECT_NAME_LENGTH, SubjectKind

CHECKED = "yes"
# Slack refuses longer option texts (also a button's text and an option's description);
# slack_sdk raises first.
OPTION_TEXT_LIMIT = 75
# The consent sentence holds a name that comes from Slack or was typed: bounded, with room for
# the words around it in its section.
CONSENT_LIMIT = TEXT_LIMIT - 200
# The section blocks showing the statement (not inputs: their ids only need to be unique).
SENTENCE_BLOCK = "consent_sentence"
IMAGE_RIGHTS_BLOCK = "image_rights"

SUBJECT_LABELS = {
    SubjectKind.ME: "Me",
    SubjectKind.MEMBER: "Someone in this workspace",
    SubjectKind.OUTSIDE: "Someone outside Slack",
}
# Fields that only exist for one kind of subject; their typed values survive a switch to
# another kind (and back) in the form's stash. Checkboxes are not kept: an attestation is
# ticked for the text shown next to it.
SUBJECT_FIELDS = {
    SubjectKind.MEMBER: (Field.SUBJECT_USER,),
    SubjectKind.OUTSIDE: (Field.SUBJECT_NAME, Field.CONSENT_REFERENCE),
}
# A Slack user id as users_select and file objects give it: safe inside <@…>.
SLACK_USER_ID = re.compile(r"[UW][A-Z0-9]{1,30}")
ENTER_HINT = "Press Enter to put the name in the consent sentence below."


def option(value: str, text: str) -> Option:
    return Option(value=value, text=plain_within(text, OPTION_TEXT_LIMIT))


def whole_option(value: str, text: str) -> Option:
    """An option showing all of `text`, word for word: over an option text's 75 characters,
    the rest goes on the description line below it (75 more), split after a comma if one
    fits, else between words. Text too long even for both is cut (never happens for the
    domain's attestations: a test checks)."""
    if len(text) <= OPTION_TEXT_LIMIT:
        return Option(value=value, text=text)
    head = text[: OPTION_TEXT_LIMIT + 1]
    cut = head.rfind(", ")
    cut = cut + 1 if cut > 0 else head.rfind(" ")
    if cut <= 0:
        cut = OPTION_TEXT_LIMIT
    first, rest = text[:cut].rstrip(), text[cut:].lstrip()
    return Option(
        value=value,
        text=plain_within(first, OPTION_TEXT_LIMIT),
        description=plain_within(rest, OPTION_TEXT_LIMIT),
    )


def shown_option_text(shown: dict[str, object]) -> str:
    """The whole text an option (as rendered, `to_dict()`) shows: text, then description."""
    parts = [shown.get("text"), shown.get("description")]
    return " ".join(str(p["text"]) for p in parts if isinstance(p, dict) and p.get("text"))


def note(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=text)])


def checkbox(
    block: Field, label: str, option_text: str, checked: bool, *, optional: bool
) -> InputBlock:
    choice = whole_option(CHECKED, option_text)
    return InputBlock(
        block_id=block,
        label=label,
        optional=optional,
        element=CheckboxesElement(
            action_id=block, options=[choice], initial_options=[choice] if checked else None
        ),
    )


def mention(user_id: str | None) -> str | None:
    """`<@U…>` for a well-formed Slack user id; None for anything else (outside text)."""
    if user_id and SLACK_USER_ID.fullmatch(user_id):
        return f"<@{user_id}>"
    return None


# -- who is on camera --------------------------------------------------------------------------


def subject_blocks(
    draft: FormDraft, *, member_name: str | None, unavailable: str | None
) -> list[Block]:
    """The subject radio and what the chosen kind asks for: a member picker (with who will be
    asked to approve), or the full name of someone outside Slack. `member_name`: the picked
    member's Slack real name, if known; `unavailable`: why they cannot approve, if so."""
    options = {kind: option(kind.value, label) for kind, label in SUBJECT_LABELS.items()}
    blocks: list[Block] = [
        InputBlock(
            block_id=Field.SUBJECT,
            label="Who is on camera?",
            dispatch_action=True,  # choosing re-renders the form for that person
            element=RadioButtonsElement(
                action_id=Field.SUBJECT,
                options=list(options.values()),
                initial_option=options[draft.subject_kind],
            ),
        )
    ]
    if draft.subject_kind is SubjectKind.MEMBER:
        blocks += _member(draft, member_name=member_name, unavailable=unavailable)
    elif draft.subject_kind is SubjectKind.OUTSIDE:
        blocks.append(_outside_name(draft))
    return blocks


def _member(draft: FormDraft, *, member_name: str | None, unavailable: str | None) -> list[Block]:
    picker = InputBlock(
        block_id=Field.SUBJECT_USER,
        label="Person on camera",
        dispatch_action=True,  # picking looks up their name for the consent sentence
        element=UserSelectElement(
            action_id=Field.SUBJECT_USER,
            placeholder="Choose someone",
            initial_user=draft.subject_user_id or None,
        ),
    )
    if unavailable is not None and draft.subject_user_id:
        why = UNAVAILABLE_ERRORS.get(unavailable, "They can't approve a replica.")
        return [picker, note(f":warning: {escape(why)}")]
    who = mention(draft.subject_user_id) or "They"
    if member_name and who != "They":
        who = f"{who} ({escape_within(member_name, 200)})"
    return [
        picker,
        note(
            f"{who} will get a direct message asking them to approve. Nothing goes to Tavus "
            "until they do."
        ),
    ]


def _outside_name(draft: FormDraft) -> InputBlock:
    return InputBlock(
        block_id=Field.SUBJECT_NAME,
        label="Their full name",
        dispatch_action=True,
        hint=ENTER_HINT if draft.mode is Mode.VIDEO else None,
        element=PlainTextInputElement(
            action_id=Field.SUBJECT_NAME,
            initial_value=draft.subject_name[:MAX_SUBJECT_NAME_LENGTH] or None,
            max_length=MAX_SUBJECT_NAME_LENGTH,
            placeholder="e.g. Alex Rivera",
            dispatch_action_config=DispatchActionConfig(trigger_actions_on=["on_enter_pressed"]),
        ),
    )


def intended_use_block(draft: FormDraft) -> InputBlock:
    return InputBlock(
        block_id=Field.INTENDED_USE,
        label="What will the replica be used for?",
        hint="Shown to whoever is asked to approve, and kept with the request.",
        element=PlainTextInputElement(
            action_id=Field.INTENDED_USE,
            initial_value=draft.intended_use[:MAX_INTENDED_USE_LENGTH] or None,
            max_length=MAX_INTENDED_USE_LENGTH,
            placeholder="e.g. Onboarding videos for new sales hires",
        ),
    )


def file_owner_note(
    owner: str | None, *, requester_id: str, subject_user_id: str | None
) -> ContextBlock | None:
    """Who else approves because they shared the chosen file: not the requester, and not the
    member on camera (asked already)."""
    who = mention(owner)
    if who is None or owner in (requester_id, subject_user_id):
        return None
    return note(f"{who} shared this file, so they'll be asked to approve it too.")


# -- what the form shows and what is ticked ----------------------------------------------------


def statement_block(draft: FormDraft, subject_name: str | None) -> SectionBlock:
    """Video: the sentence the person on camera must say first, naming them (unless a consent
    video holds it). Photo: the image-rights statement. Word for word what the consent record
    keeps as the statement shown (domain.consent.statement_shown)."""
    if draft.mode is Mode.IMAGE:
        return SectionBlock(
            block_id=IMAGE_RIGHTS_BLOCK,
            text=MarkdownTextObject(
                text="*By submitting you confirm:*\n>" + escape(IMAGE_RIGHTS_STATEMENT)
            ),
        )
    # A section, not small print: this sentence has to be read out word for word.
    return SectionBlock(
        block_id=SENTENCE_BLOCK,
        text=MarkdownTextObject(
            text="*No consent video?* The training video must open with this "
            "sentence, spoken by the person on camera:\n>"
            + escape_within(consent_sentence(subject_name), CONSENT_LIMIT)
        ),
    )


def attestation_blocks(draft: FormDraft) -> list[Block]:
    """What the requester ticks, whose text the consent record keeps: for themselves on
    camera, their own consent; for someone outside Slack, that they hold that person's written
    consent (and, optionally, where it is). A member approves for themselves: nothing."""
    if draft.subject_kind is SubjectKind.ME:
        return [
            checkbox(
                Field.CONSENT,
                "Consent",
                attestation(draft.mode, SubjectKind.ME) or "",
                draft.consent,
                optional=False,
            )
        ]
    if draft.subject_kind is SubjectKind.OUTSIDE:
        return [
            checkbox(
                Field.OUTSIDE_CONSENT,
                "Their consent",
                ATTESTATION_OUTSIDE,
                draft.outside_consent,
                optional=False,
            ),
            InputBlock(
                block_id=Field.CONSENT_REFERENCE,
                label="Signed release",
                optional=True,
                hint="A link to their signed consent; it is kept with the request.",
                element=UrlInputElement(
                    action_id=Field.CONSENT_REFERENCE,
                    initial_value=draft.consent_reference or None,
                    placeholder="https://…/release.pdf",
                ),
            ),
        ]
    return []
