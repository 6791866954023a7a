"""blocks.replica_form_render: the form as Slack JSON, built once per distinct form.

The memo must never hand out a shared object or an earlier form's content: every case here
compares with the builder itself (blocks.replica_modal), which keeps nothing.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from blocks.replica_form_render import form_view, pickled_form
from blocks.replica_modal import ModalContext, build_replica_modal, form_metadata
from domain.form import Field, FormDraft
from domain.request import Mode
from domain.slack_files import SlackFile
from domain.subject import SubjectKind

VIDEO = SlackFile(id="F1", name="jane_intro.mp4", mimetype="video/mp4", size=5_000_000, owner="U7")
PHOTO = SlackFile(id="F3", name="jane.png", mimetype="image/png", size=1000)
BASE = ModalContext(channel_id="C1", requester_id="U1", requester_name="Jane Doe")
WITH_FILES = replace(BASE, files=[VIDEO.to_metadata(), PHOTO.to_metadata()])


def render_replica_modal(
    draft: FormDraft, context: ModalContext, *, form_key: str, dry_run: bool = False
) -> dict[str, Any]:
    """The view a form session hands Slack: its pickled form, with its session key."""
    return form_view(pickled_form(draft, context, dry_run=dry_run), form_key=form_key)


CASES: list[tuple[FormDraft, ModalContext, bool]] = [
    (FormDraft(), BASE, False),
    (FormDraft(), BASE, True),
    (FormDraft(), replace(BASE, requester_name=None), False),
    (FormDraft(replica_name="Jane", train_video_url="https://x.example/a.mp4"), BASE, False),
    (FormDraft(mode=Mode.IMAGE, train_image_url="https://x.example/a.png"), BASE, False),
    (FormDraft(mode=Mode.IMAGE, auto_fix_training_image=True, consent=True), BASE, False),
    (FormDraft(subject_kind=SubjectKind.MEMBER, subject_user_id="U2"), BASE, False),
    (
        FormDraft(subject_kind=SubjectKind.MEMBER, subject_user_id="U2"),
        BASE.knowing("U2", "Alex Member", None),
        False,
    ),
    (
        FormDraft(subject_kind=SubjectKind.MEMBER, subject_user_id="U2"),
        BASE.knowing("U2", None, "deactivated"),
        False,
    ),
    (
        FormDraft(
            subject_kind=SubjectKind.OUTSIDE,
            subject_name="Alex Rivera",
            outside_consent=True,
            consent_reference="https://x.example/release.pdf",
        ),
        BASE,
        False,
    ),
    (FormDraft(slack_file_id="F1", intended_use="Sales demos"), WITH_FILES, False),
    (FormDraft(mode=Mode.IMAGE, slack_file_id="F3"), WITH_FILES, False),
    (FormDraft(), replace(WITH_FILES, use_link=True), False),
    (FormDraft(), replace(WITH_FILES, can_relay=False), False),
    (FormDraft(voice_name="anna", model_name="phoenix-3"), BASE, False),
    (FormDraft(), replace(BASE, requester_name="<Ana & Bo>"), True),
    (FormDraft(mode=Mode.IMAGE), replace(BASE, requester_name="Ana Photo"), False),
    (
        FormDraft(subject_kind=SubjectKind.OUTSIDE, subject_name="Alex Rivera"),
        replace(BASE, requester_name="Ana Outside"),
        False,
    ),
]


def built(draft: FormDraft, context: ModalContext, *, key: str, dry_run: bool) -> Any:
    """What the uncached builder makes, as the JSON Slack receives."""
    view = build_replica_modal(draft, context, form_key=key, dry_run=dry_run).to_dict()
    return json.loads(json.dumps(view))


@pytest.mark.parametrize(("draft", "context", "dry_run"), CASES)
def test_the_same_as_the_builder_first_time_and_from_the_memo(
    draft: FormDraft, context: ModalContext, dry_run: bool
) -> None:
    expected = built(draft, context, key="k1", dry_run=dry_run)
    assert render_replica_modal(draft, context, form_key="k1", dry_run=dry_run) == expected
    assert render_replica_modal(draft, context, form_key="k1", dry_run=dry_run) == expected


def test_every_distinct_form_gets_its_own_content() -> None:
    """No two cases render alike, so a memo answering one with another would fail above; and
    rendering them all in turn, twice, gives each its own content every time."""
    keys = [f"k{n}" for n in range(len(CASES))]
    for _ in range(2):
        for key, (draft, context, dry_run) in zip(keys, CASES, strict=True):
            view = render_replica_modal(draft, context, form_key=key, dry_run=dry_run)
            assert view == built(draft, context, key=key, dry_run=dry_run)
    shown = {
        json.dumps(render_replica_modal(d, c, form_key="k", dry_run=r)["blocks"])
        for d, c, r in CASES
    }
    assert len(shown) == len(CASES)


def test_two_requesters_get_their_own_names_and_their_own_keys() -> None:
    jane = render_replica_modal(FormDraft(), BASE, form_key="jane")
    omar = replace(BASE, requester_id="U9", requester_name="Omar Haddad")
    other = render_replica_modal(FormDraft(), omar, form_key="omar")
    assert "Jane Doe" in json.dumps(jane) and "Jane Doe" not in json.dumps(other)
    assert "Omar Haddad" in json.dumps(other) and "Omar Haddad" not in json.dumps(jane)
    assert jane["private_metadata"] == form_metadata("jane")
    assert other["private_metadata"] == form_metadata("omar")


def test_a_changed_name_or_draft_is_never_answered_with_the_earlier_form() -> None:
    before = render_replica_modal(FormDraft(), BASE, form_key="k")
    renamed = replace(BASE, requester_name="Jane Q. Doe")
    after = render_replica_modal(FormDraft(), renamed, form_key="k")
    assert after == built(FormDraft(), renamed, key="k", dry_run=False) != before
    named = FormDraft(replica_name="Second")
    assert render_replica_modal(named, BASE, form_key="k") == built(
        named, BASE, key="k", dry_run=False
    )


def test_changing_a_returned_view_changes_no_other() -> None:
    first = render_replica_modal(FormDraft(), BASE, form_key="k1")
    expected = built(FormDraft(), BASE, key="k2", dry_run=False)
    first["blocks"][0]["element"]["initial_value"] = "mutated"
    first["blocks"].append({"type": "divider"})
    first["title"]["text"] = "Changed"
    second = render_replica_modal(FormDraft(), BASE, form_key="k2")
    assert second == expected
    assert second is not first and second["blocks"] is not first["blocks"]
    second["blocks"].clear()
    assert render_replica_modal(FormDraft(), BASE, form_key="k3")["blocks"] == expected["blocks"]


def test_where_it_was_opened_its_stash_and_who_asked_without_files_are_not_shown() -> None:
    """The memo ignores these fields (forms differing only there share one entry): the
    builder must not show them either."""
    elsewhere = replace(
        BASE,
        requester_id="U9",
        channel_id="C2",
        thread_ts="1700000000.000100",
        stash={Field.TRAIN_IMAGE_URL.value: "https://x.example/a.png"},
    )
    assert built(FormDraft(), elsewhere, key="k", dry_run=False) == built(
        FormDraft(), BASE, key="k", dry_run=False
    )
    assert render_replica_modal(FormDraft(), elsewhere, form_key="k") == render_replica_modal(
        FormDraft(), BASE, form_key="k"
    )


def test_with_shared_files_who_asked_is_part_of_the_form() -> None:
    """The file's owner is asked to approve unless they are the requester: the same files
    make another form for its owner."""
    draft = FormDraft(slack_file_id="F1")
    owner = replace(WITH_FILES, requester_id="U7")
    mine = render_replica_modal(draft, owner, form_key="k")
    theirs = render_replica_modal(draft, WITH_FILES, form_key="k")
    assert mine == built(draft, owner, key="k", dry_run=False)
    assert theirs == built(draft, WITH_FILES, key="k", dry_run=False)
    assert "<@U7>" in json.dumps(theirs) and "<@U7>" not in json.dumps(mine)
