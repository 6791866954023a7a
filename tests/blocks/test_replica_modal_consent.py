"""The request form's consent part: who is on camera, what for, the statement shown and the
attestation ticked (blocks.replica_form_consent, as blocks.replica_modal renders it)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from blocks.replica_form_consent import OPTION_TEXT_LIMIT, shown_option_text, whole_option
from blocks.replica_modal import (
    MAX_MEMBERS_KEPT,
    ModalContext,
    build_replica_modal,
    read_form,
    switch_mode,
    switch_subject,
)
from domain.consent import (
    ATTESTATION_ME_PHOTO,
    ATTESTATION_ME_VIDEO,
    ATTESTATION_OUTSIDE,
    IMAGE_RIGHTS_STATEMENT,
    attestation,
    consent_sentence,
)
from domain.form import MAX_INTENDED_USE_LENGTH, FormDraft, Unavailable, validate
from domain.request import Mode, ReplicaRequest
from domain.slack_files import SlackFile
from domain.subject import MAX_SUBJECT_NAME_LENGTH, Subject, SubjectKind
from tests.blocks.test_replica_modal_builder import input_blocks, state_values

CONTEXT = ModalContext(
    channel_id="C1",
    requester_id="U1",
    requester_name="Jane Doe",
    member_names={"U2": "Sam Lee"},
    unavailable={"UBOT": Unavailable.BOT.value, "UGONE": Unavailable.DEACTIVATED.value},
)
ME = FormDraft()
MEMBER = FormDraft(subject_kind=SubjectKind.MEMBER, subject_user_id="U2")
OUTSIDE = FormDraft(subject_kind=SubjectKind.OUTSIDE, subject_name="Alex Rivera")
VIDEO_URL = "https://media.example/jane.mp4"


def modal(draft: FormDraft, context: ModalContext = CONTEXT) -> dict[str, Any]:
    return build_replica_modal(draft, context, form_key="k1").to_dict()


def ids(view: dict[str, Any]) -> list[str]:
    return list(input_blocks(view))


def text_of(view: dict[str, Any]) -> str:
    return json.dumps(view["blocks"], ensure_ascii=False)


def notes(view: dict[str, Any]) -> list[str]:
    return [
        element["text"]
        for block in view["blocks"]
        if block["type"] == "context"
        for element in block["elements"]
    ]


def sentence(view: dict[str, Any]) -> str:
    [block] = [b for b in view["blocks"] if b.get("block_id") == "consent_sentence"]
    return str(block["text"]["text"])


def only_option(view: dict[str, Any], block_id: str) -> dict[str, Any]:
    [option] = input_blocks(view)[block_id]["element"]["options"]
    return dict(option)


# -- the blocks of each kind -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("draft", "mode", "expected"),
    [
        (ME, Mode.VIDEO, ["subject", "intended_use", "consent"]),
        (MEMBER, Mode.VIDEO, ["subject", "subject_user", "intended_use"]),
        (
            OUTSIDE,
            Mode.VIDEO,
            ["subject", "subject_name", "intended_use", "outside_consent", "consent_reference"],
        ),
        (ME, Mode.IMAGE, ["subject", "intended_use", "consent"]),
        (MEMBER, Mode.IMAGE, ["subject", "subject_user", "intended_use"]),
        (
            OUTSIDE,
            Mode.IMAGE,
            ["subject", "subject_name", "intended_use", "outside_consent", "consent_reference"],
        ),
    ],
    ids=["me-video", "member-video", "outside-video", "me-photo", "member-photo", "outside-photo"],
)
def test_each_kind_shows_its_own_fields(draft: FormDraft, mode: Mode, expected: list[str]) -> None:
    view = modal(replace(draft, mode=mode))

    consent_fields = {
        "subject",
        "subject_user",
        "subject_name",
        "intended_use",
        "consent",
        "outside_consent",
        "consent_reference",
    }
    assert [block_id for block_id in ids(view) if block_id in consent_fields] == expected
    assert ids(view)[:2] == ["replica_name", "mode"]
    assert len(view["blocks"]) <= 100
    for block_id, block in input_blocks(view).items():
        assert block["element"]["action_id"] == block_id  # the same ids in every render


@pytest.mark.parametrize("kind", list(SubjectKind))
def test_the_subject_radio_dispatches_and_shows_the_kind_chosen(kind: SubjectKind) -> None:
    block = input_blocks(modal(replace(MEMBER, subject_kind=kind)))["subject"]

    assert block["dispatch_action"] is True
    element = block["element"]
    assert element["type"] == "radio_buttons"
    assert [(o["value"], o["text"]["text"]) for o in element["options"]] == [
        ("me", "Me"),
        ("member", "Someone in this workspace"),
        ("outside", "Someone outside Slack"),
    ]
    assert element["initial_option"]["value"] == kind.value
    assert element["initial_option"] in element["options"]


def test_a_member_is_picked_from_slack_and_asked_by_dm() -> None:
    view = modal(MEMBER)

    picker = input_blocks(view)["subject_user"]
    assert picker["dispatch_action"] is True
    assert picker["element"]["type"] == "users_select"
    assert picker["element"]["initial_user"] == "U2"
    [note] = [n for n in notes(view) if "direct message" in n]
    assert note.startswith("<@U2> (Sam Lee) will get a direct message asking them to approve")
    assert "Nothing goes to Tavus until they do" in note


def test_no_member_picked_yet_has_no_initial_user() -> None:
    view = modal(replace(MEMBER, subject_user_id=""))

    assert "initial_user" not in input_blocks(view)["subject_user"]["element"]
    assert any(n.startswith("They will get a direct message") for n in notes(view))
    assert "I, [your full name], am currently speaking" in sentence(view)


@pytest.mark.parametrize(("member", "phrase"), [("UBOT", "bot"), ("UGONE", "deactivated")])
def test_a_member_who_cannot_approve_is_said_so_at_once(member: str, phrase: str) -> None:
    view = modal(replace(MEMBER, subject_user_id=member))

    assert any(phrase in n and n.startswith(":warning:") for n in notes(view))
    assert not any("direct message" in n for n in notes(view))


def test_someone_outside_slack_is_named_and_enter_puts_the_name_in_the_sentence() -> None:
    view = modal(OUTSIDE)

    block = input_blocks(view)["subject_name"]
    element = block["element"]
    assert block["dispatch_action"] is True
    assert element["dispatch_action_config"] == {"trigger_actions_on": ["on_enter_pressed"]}
    assert element["max_length"] == MAX_SUBJECT_NAME_LENGTH
    assert element["initial_value"] == "Alex Rivera"
    assert "Enter" in block["hint"]["text"] and "sentence" in block["hint"]["text"]
    reference = input_blocks(view)["consent_reference"]
    assert reference["optional"] is True
    assert reference["element"]["type"] == "url_text_input"
    assert not input_blocks(view)["outside_consent"].get("optional", False)


def test_the_intended_use_is_required_and_short() -> None:
    block = input_blocks(modal(replace(ME, intended_use="Sales demos")))["intended_use"]

    assert not block.get("optional", False)
    assert block["element"]["type"] == "plain_text_input"
    assert block["element"]["max_length"] == MAX_INTENDED_USE_LENGTH
    assert block["element"]["initial_value"] == "Sales demos"


# -- the statement names the subject -----------------------------------------------------------


@pytest.mark.parametrize(
    ("draft", "name"),
    [(ME, "Jane Doe"), (MEMBER, "Sam Lee"), (OUTSIDE, "Alex Rivera")],
    ids=["me", "member", "outside"],
)
def test_the_sentence_names_the_person_on_camera(draft: FormDraft, name: str) -> None:
    shown = sentence(modal(draft))

    assert consent_sentence(name) in shown
    assert IMAGE_RIGHTS_STATEMENT not in text_of(modal(draft))


def test_the_sentence_shown_is_the_statement_recorded() -> None:
    """What validate records as the statement shown is, word for word, what the form shows."""
    for draft in (ME, MEMBER, OUTSIDE):
        complete = replace(
            draft, replica_name="R", train_video_url=VIDEO_URL, intended_use="Demos", consent=True
        )
        complete = replace(complete, outside_consent=True)
        request = validate(
            complete,
            frozenset(),
            requester_id="U1",
            requester_name=CONTEXT.requester_name,
            member_names=CONTEXT.member_names,
            unavailable=CONTEXT.unavailable,
        )
        assert isinstance(request, ReplicaRequest), request
        assert request.statement is not None and request.statement in sentence(modal(complete))


def test_a_member_whose_name_is_not_known_yet_gets_the_placeholder() -> None:
    view = modal(replace(MEMBER, subject_user_id="U9"))

    assert "I, [your full name], am currently speaking" in sentence(view)
    assert any(n.startswith("<@U9> will get a direct message") for n in notes(view))


def test_outside_without_a_name_yet_gets_the_placeholder() -> None:
    assert "I, [your full name]," in sentence(modal(replace(OUTSIDE, subject_name=" ")))


@pytest.mark.parametrize("draft", [ME, MEMBER, OUTSIDE], ids=["me", "member", "outside"])
def test_a_photo_shows_the_image_rights_statement_instead(draft: FormDraft) -> None:
    view = modal(replace(draft, mode=Mode.IMAGE))

    [block] = [b for b in view["blocks"] if b.get("block_id") == "image_rights"]
    assert IMAGE_RIGHTS_STATEMENT in block["text"]["text"]
    assert "am currently speaking" not in text_of(view)


def test_names_from_slack_and_typed_names_are_escaped_and_bounded() -> None:
    loud = "Sam <!here> & Co " + "x" * 5000
    context = replace(CONTEXT, member_names={"U2": loud})
    view = modal(MEMBER, context)  # slack_sdk raises past Slack's limits

    shown = text_of(view)
    assert "<!here>" not in shown and "Sam &lt;!here&gt; &amp; Co" in shown
    assert all(len(n) <= 3000 for n in notes(view))
    assert len(sentence(view)) <= 3000
    typed = modal(replace(OUTSIDE, subject_name="Alex <!channel>"))
    assert "I, Alex &lt;!channel&gt;, am currently speaking" in sentence(typed)


def test_an_odd_user_id_is_never_rendered_as_a_mention() -> None:
    view = modal(replace(MEMBER, subject_user_id="<!everyone>"))

    assert "<!everyone>" not in json.dumps(notes(view))


# -- the checkboxes show exactly what the record keeps -----------------------------------------


@pytest.mark.parametrize(
    ("mode", "text"), [(Mode.VIDEO, ATTESTATION_ME_VIDEO), (Mode.IMAGE, ATTESTATION_ME_PHOTO)]
)
def test_me_ticks_their_own_consent(mode: Mode, text: str) -> None:
    view = modal(replace(ME, mode=mode))

    assert shown_option_text(only_option(view, "consent")) == text == attestation(mode)


@pytest.mark.parametrize("mode", list(Mode))
def test_outside_ticks_the_exact_attestation_text(mode: Mode) -> None:
    """Longer than an option's 75 characters: the rest is on its description line, so the
    whole text is shown word for word."""
    option = only_option(modal(replace(OUTSIDE, mode=mode)), "outside_consent")

    assert shown_option_text(option) == ATTESTATION_OUTSIDE
    assert attestation(mode, SubjectKind.OUTSIDE) == ATTESTATION_OUTSIDE
    assert len(option["text"]["text"]) <= OPTION_TEXT_LIMIT
    assert "description" not in option or len(option["description"]["text"]) <= OPTION_TEXT_LIMIT


def test_a_member_ticks_nothing() -> None:
    view = modal(MEMBER)

    assert "consent" not in input_blocks(view) and "outside_consent" not in input_blocks(view)


@pytest.mark.parametrize(
    "text",
    [
        "short",
        "a" * 75,
        "word " * 20,
        "one, two, three, four, five, six, seven, eight, nine, ten, eleven, twelve, x",
        "b" * 120,
    ],
)
def test_whole_option_shows_every_word(text: str) -> None:
    shown = whole_option("yes", text).to_dict()  # slack_sdk raises past Slack's limits

    assert "".join(shown_option_text(shown).split()) == "".join(text.split())


# -- the file owner ----------------------------------------------------------------------------


def shared(owner: str) -> ModalContext:
    video = SlackFile(id="F1", name="clip.mp4", mimetype="video/mp4", size=10, owner=owner)
    return replace(CONTEXT, files=[video.to_metadata()])


def test_someone_else_s_file_says_they_will_be_asked_too() -> None:
    view = modal(replace(ME, slack_file_id="F1"), shared("U7"))

    assert "<@U7> shared this file, so they'll be asked to approve it too." in notes(view)


@pytest.mark.parametrize(
    ("draft", "owner"), [(ME, "U1"), (MEMBER, "U2")], ids=["requester", "member-on-camera"]
)
def test_no_owner_note_when_they_are_asked_anyway(draft: FormDraft, owner: str) -> None:
    view = modal(replace(draft, slack_file_id="F1"), shared(owner))

    assert not any("shared this file" in n for n in notes(view))


# -- reading back, switching -------------------------------------------------------------------


def test_read_form_reads_the_subject_fields() -> None:
    view = modal(OUTSIDE)
    values = state_values(
        view,
        {
            "subject_name": "Alex Rivera",
            "intended_use": "Sales demos",
            "outside_consent": True,
            "consent_reference": "https://docs.example/r.pdf",
        },
    )

    draft = read_form(values)

    assert (draft.subject_kind, draft.subject_name, draft.intended_use) == (
        SubjectKind.OUTSIDE,
        "Alex Rivera",
        "Sales demos",
    )
    assert draft.outside_consent is True
    assert draft.consent_reference == "https://docs.example/r.pdf"
    member = read_form(state_values(modal(MEMBER), {}))
    assert (member.subject_kind, member.subject_user_id) == (SubjectKind.MEMBER, "U2")


def test_a_form_without_the_subject_question_reads_as_me() -> None:
    assert read_form({}).subject_kind is SubjectKind.ME


def test_switching_subject_keeps_what_was_typed_for_each_kind() -> None:
    outside_values = state_values(
        modal(OUTSIDE),
        {
            "subject": "member",
            "subject_name": "Alex Rivera",
            "consent_reference": "https://docs.example/r.pdf",
            "intended_use": "Sales demos",
            "replica_name": "Alex",
        },
    )
    as_member, context = switch_subject(outside_values, CONTEXT, SubjectKind.MEMBER)

    assert as_member.subject_kind is SubjectKind.MEMBER
    assert (as_member.replica_name, as_member.intended_use) == ("Alex", "Sales demos")
    assert context.stash == {
        "subject_name": "Alex Rivera",
        "consent_reference": "https://docs.example/r.pdf",
    }
    member_view = modal(as_member, context)
    member_values = state_values(member_view, {"subject": "outside", "subject_user": "U2"})

    back, context = switch_subject(member_values, context, SubjectKind.OUTSIDE)

    assert back.subject_name == "Alex Rivera"
    assert back.consent_reference == "https://docs.example/r.pdf"
    assert back.outside_consent is False  # an attestation is ticked afresh
    assert context.stash == {"subject_user_id": "U2"}
    assert input_blocks(modal(back, context))["subject_name"]["element"]["initial_value"] == (
        "Alex Rivera"
    )
    again, _ = switch_subject(
        state_values(modal(back, context), {"subject": "member"}), context, SubjectKind.MEMBER
    )
    assert again.subject_user_id == "U2"


def test_switching_mode_keeps_the_subject() -> None:
    values = state_values(modal(MEMBER), {"mode": "image", "intended_use": "Demos"})

    draft, _ = switch_mode(values, CONTEXT, Mode.IMAGE)

    assert (draft.subject_kind, draft.subject_user_id, draft.intended_use) == (
        SubjectKind.MEMBER,
        "U2",
        "Demos",
    )
    assert "Sam Lee" in text_of(modal(draft))


def test_the_context_keeps_what_slack_said_of_the_latest_members() -> None:
    context = CONTEXT.knowing("U3", "Ana Diaz", None).knowing("UBOT", None, None)

    assert context.member_names == {"U2": "Sam Lee", "U3": "Ana Diaz"}
    assert context.unavailable == {"UGONE": "deactivated"}  # UBOT turned out a person
    assert ModalContext.from_json(context.to_json()) == context
    for number in range(30):
        context = context.knowing(f"U{100 + number}", f"Person {number}", None)
    assert len(context.member_names) == MAX_MEMBERS_KEPT
    assert "U129" in context.member_names and "U2" not in context.member_names


def test_a_subject_from_the_form_becomes_the_request_s() -> None:
    values = state_values(
        modal(MEMBER),
        {"replica_name": "Sam", "train_video_url": VIDEO_URL, "intended_use": "Demos"},
    )
    request = validate(
        read_form(values),
        frozenset(),
        requester_id="U1",
        member_names=CONTEXT.member_names,
        unavailable=CONTEXT.unavailable,
    )

    assert isinstance(request, ReplicaRequest)
    assert request.subject == Subject(SubjectKind.MEMBER, "U2", "Sam Lee")
