"""The request form opened from files shared in Slack."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from blocks.replica_modal import (
    NEEDS_PUBLIC_URL,
    USE_LINK,
    USE_SLACK_FILE,
    ModalContext,
    build_replica_modal,
    read_form,
)
from domain.form import Field, FormDraft, draft_from_files, validate
from domain.media import MAX_VIDEO_BYTES
from domain.request import Mode
from domain.slack_files import SlackFile
from tests.blocks.test_replica_modal_builder import input_blocks, state_values

VIDEO = SlackFile(id="F1", name="jane_intro.mp4", mimetype="video/mp4", size=5_000_000)
OTHER_VIDEO = SlackFile(id="F2", name="take2.mov", mimetype="video/quicktime", size=1000)
PHOTO = SlackFile(id="F3", name="jane.png", mimetype="image/png", size=1000)
FILES = [VIDEO, OTHER_VIDEO, PHOTO]


def context(*files: SlackFile, **overrides: Any) -> ModalContext:
    return ModalContext(
        channel_id="C1",
        requester_id="U1",
        thread_ts="1700000000.000100",
        files=[f.to_metadata() for f in files],
        **overrides,
    )


def modal(draft: FormDraft, ctx: ModalContext) -> dict[str, Any]:
    return build_replica_modal(draft, ctx, form_key="k1").to_dict()


def buttons(view: dict[str, Any]) -> list[str]:
    return [e["action_id"] for b in view["blocks"] if b["type"] == "actions" for e in b["elements"]]


def test_draft_from_files_takes_mode_name_and_file_from_the_first_usable_one() -> None:
    assert draft_from_files(FILES) == FormDraft(
        replica_name="jane intro", mode=Mode.VIDEO, slack_file_id="F1"
    )
    assert draft_from_files([PHOTO, VIDEO]).mode is Mode.IMAGE
    gif = SlackFile(id="F9", name="x.gif", mimetype="image/gif", size=1)
    assert draft_from_files([gif, PHOTO]).slack_file_id == "F3"
    assert draft_from_files([gif]).slack_file_id == "F9"  # refused at validation, with why
    assert draft_from_files([]) == FormDraft()


def test_the_slack_file_replaces_the_link_field() -> None:
    view = modal(draft_from_files(FILES), context(*FILES))
    inputs = input_blocks(view)
    assert Field.SLACK_FILE in inputs and Field.TRAIN_VIDEO_URL not in inputs
    select = inputs[Field.SLACK_FILE]["element"]
    assert [o["value"] for o in select["options"]] == ["F1", "F2"]  # videos only
    assert select["initial_option"]["value"] == "F1"
    assert select["options"][0]["text"]["text"] == "jane_intro.mp4 (5.0 MB)"
    assert buttons(view) == [USE_LINK]
    assert Field.CONSENT_VIDEO_URL in inputs  # the consent clip is still a link


def test_photo_mode_lists_the_photos() -> None:
    view = modal(
        replace(draft_from_files(FILES), mode=Mode.IMAGE, slack_file_id=""), context(*FILES)
    )
    select = input_blocks(view)[Field.SLACK_FILE]["element"]
    assert [o["value"] for o in select["options"]] == ["F3"]


def test_a_mode_without_files_shows_the_link_field() -> None:
    view = modal(FormDraft(mode=Mode.IMAGE), context(VIDEO))
    inputs = input_blocks(view)
    assert Field.TRAIN_IMAGE_URL in inputs and Field.SLACK_FILE not in inputs
    assert buttons(view) == []


def test_use_link_shows_the_link_field_and_a_way_back() -> None:
    view = modal(draft_from_files([VIDEO]), context(VIDEO, use_link=True))
    inputs = input_blocks(view)
    assert Field.TRAIN_VIDEO_URL in inputs and Field.SLACK_FILE not in inputs
    assert buttons(view) == [USE_SLACK_FILE]
    back = next(b for b in view["blocks"] if b["type"] == "actions")["elements"][0]
    assert back["text"]["text"] == "Use jane_intro.mp4 from Slack"


def test_without_a_public_url_the_form_says_so_and_offers_the_link() -> None:
    view = modal(draft_from_files([VIDEO]), context(VIDEO, can_relay=False))
    inputs = input_blocks(view)
    assert Field.TRAIN_VIDEO_URL in inputs and Field.SLACK_FILE not in inputs
    assert "public URL" in NEEDS_PUBLIC_URL and NEEDS_PUBLIC_URL in str(view)
    assert "PUBLIC_URL" not in NEEDS_PUBLIC_URL  # words for users, not settings
    assert buttons(view) == []


def test_files_survive_the_session() -> None:
    ctx = context(*FILES, use_link=True)
    back = ModalContext.from_json(ctx.to_json())
    assert back == ctx
    assert back.slack_files == [
        SlackFile(id=f.id, name=f.name, mimetype=f.mimetype, size=f.size) for f in FILES
    ]


def test_read_form_and_validate_a_slack_file_choice() -> None:
    ctx = context(*FILES)
    view = modal(draft_from_files(FILES), ctx)
    draft = read_form(
        state_values(
            view, {Field.SLACK_FILE: "F2", Field.CONSENT: True, Field.INTENDED_USE: "Demos"}
        )
    )
    assert draft.slack_file_id == "F2"
    request = validate(draft, frozenset(), ctx.slack_files, requester_id="U1")
    assert not isinstance(request, dict)
    assert request.slack_file_id == "F2" and request.slack_file_name == "take2.mov"
    assert request.train_video_url is None  # filled in by the relay
    assert request.tavus_body(None)["train_video_url"] is None
    assert (
        request.with_media_url("https://bot/media/t/take2.mov").tavus_body(None)["train_video_url"]
        == "https://bot/media/t/take2.mov"
    )


def test_validate_refuses_what_tavus_would_refuse_under_the_file_field() -> None:
    big = SlackFile(id="F7", name="long.mp4", mimetype="video/mp4", size=MAX_VIDEO_BYTES + 1)
    draft = FormDraft(replica_name="x", slack_file_id="F7", consent=True, intended_use="Demos")
    errors = validate(draft, frozenset(), [big], requester_id="U1")
    assert isinstance(errors, dict)
    assert errors == {
        Field.SLACK_FILE: "long.mp4 is 750.0 MB. Tavus trains from .mp4, .webm "
        "or .mov videos up to 750 MB."
    }


def test_validate_refuses_an_unknown_or_wrong_kind_of_file() -> None:
    draft = FormDraft(replica_name="x", slack_file_id="F404", consent=True, intended_use="Demos")
    assert Field.SLACK_FILE in validate(draft, frozenset(), FILES, requester_id="U1")  # type: ignore[operator]
    photo_as_video = FormDraft(
        replica_name="x", slack_file_id="F3", consent=True, intended_use="Demos"
    )
    errors = validate(photo_as_video, frozenset(), FILES, requester_id="U1")
    assert isinstance(errors, dict) and "is not a video" in errors[Field.SLACK_FILE]


def test_a_link_still_works_when_files_were_offered() -> None:
    draft = FormDraft(
        replica_name="x",
        train_video_url="https://m.example/a.mp4",
        consent=True,
        intended_use="Demos",
    )
    request = validate(draft, frozenset(), FILES, requester_id="U1")
    assert not isinstance(request, dict) and request.slack_file_id is None


def test_long_file_names_are_cut_to_slacks_limits() -> None:
    long = SlackFile(id="F8", name="長" * 200 + ".mp4", mimetype="video/mp4", size=1000)
    view = modal(draft_from_files([long]), context(long))  # slack_sdk raises past the limits
    shown = input_blocks(view)[Field.SLACK_FILE]["element"]["options"][0]["text"]["text"]
    assert len(shown) == 75 and shown.endswith("…")

    with_link = modal(draft_from_files([long]), context(long, use_link=True))
    back = next(b for b in with_link["blocks"] if b["type"] == "actions")["elements"][0]
    text = back["text"]["text"]
    assert len(text) <= 75
    assert text.startswith("Use 長長") and text.endswith("… from Slack")
