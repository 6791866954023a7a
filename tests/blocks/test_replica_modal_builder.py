"""blocks.replica_modal: the request modal's blocks, reading its state back and mode switching."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from blocks.replica_modal import (
    CALLBACK_ID,
    OPTION_TEXT_LIMIT,
    PRIVATE_METADATA_LIMIT,
    ModalContext,
    build_replica_modal,
    form_metadata,
    read_form,
    read_metadata,
    switch_mode,
    voice_option,
)
from domain.consent import ATTESTATION_ME_PHOTO, ATTESTATION_ME_VIDEO, consent_sentence
from domain.form import FormDraft
from domain.request import Mode

CONTEXT = ModalContext(channel_id="C1", requester_id="U1", requester_name="Jane Doe")
VIDEO_URL = "https://media.example/jane.mp4"
CONSENT_URL = "https://media.example/consent.mp4"
IMAGE_URL = "https://media.example/jane.png"

VIDEO_BLOCKS = [
    "replica_name",
    "mode",
    "subject",
    "intended_use",
    "train_video_url",
    "consent_video_url",
    "voice_name",
    "model_name",
    "consent",
]
IMAGE_BLOCKS = [
    "replica_name",
    "mode",
    "subject",
    "intended_use",
    "train_image_url",
    "voice_name",
    "auto_fix_training_image",
    "model_name",
    "consent",
]


def modal(draft: FormDraft, context: ModalContext = CONTEXT) -> dict[str, Any]:
    return build_replica_modal(draft, context, form_key="k1").to_dict()


def input_blocks(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {block["block_id"]: block for block in view["blocks"] if block["type"] == "input"}


def all_text(view: dict[str, Any]) -> str:
    return json.dumps(view, ensure_ascii=False)


def option(value: str) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": value, "emoji": True}, "value": value}


def state_values(view: dict[str, Any], typed: dict[str, Any]) -> dict[str, Any]:
    """`view.state.values` as Slack sends it (slack-platform.md §4) for every input of `view`.

    `typed` maps block_id to a str (text/URL/select value), a bool (checkbox) or None (cleared).
    Inputs not in `typed` keep the view's initial value, as in Slack.
    """
    values: dict[str, Any] = {}
    for block_id, block in input_blocks(view).items():
        element = block["element"]
        kind = element["type"]
        state: dict[str, Any] = {"type": kind}
        if kind in ("plain_text_input", "url_text_input"):
            state["value"] = typed.get(block_id, element.get("initial_value"))
        elif kind == "users_select":
            state["selected_user"] = typed.get(block_id, element.get("initial_user"))
        elif kind in ("radio_buttons", "static_select", "external_select"):
            if block_id in typed:
                chosen = typed[block_id]
                state["selected_option"] = None if chosen is None else option(chosen)
            else:
                state["selected_option"] = element.get("initial_option")
        elif kind == "checkboxes":
            if block_id in typed:
                state["selected_options"] = element["options"] if typed[block_id] else []
            else:
                state["selected_options"] = element.get("initial_options") or []
        values[block_id] = {element["action_id"]: state}
    return values


# -- build_replica_modal -----------------------------------------------------------------------


def test_video_mode_blocks() -> None:
    view = modal(FormDraft(mode=Mode.VIDEO))

    assert list(input_blocks(view)) == VIDEO_BLOCKS
    inputs = input_blocks(view)
    assert inputs["voice_name"]["optional"] is True
    assert inputs["consent_video_url"]["optional"] is True
    assert not inputs["train_video_url"].get("optional", False)
    assert not inputs["consent"].get("optional", False)
    assert inputs["train_video_url"]["element"]["type"] == "url_text_input"
    assert inputs["voice_name"]["element"]["type"] == "external_select"
    assert inputs["voice_name"]["element"]["min_query_length"] == 0


def test_image_mode_blocks() -> None:
    view = modal(FormDraft(mode=Mode.IMAGE))

    assert list(input_blocks(view)) == IMAGE_BLOCKS
    inputs = input_blocks(view)
    assert not inputs["voice_name"].get("optional", False)
    assert inputs["auto_fix_training_image"]["optional"] is True
    assert inputs["train_image_url"]["element"]["type"] == "url_text_input"


@pytest.mark.parametrize("mode", list(Mode))
def test_action_ids_equal_block_ids(mode: Mode) -> None:
    for block_id, block in input_blocks(modal(FormDraft(mode=mode))).items():
        assert block["element"]["action_id"] == block_id


@pytest.mark.parametrize("mode", list(Mode))
def test_view_frame(mode: Mode) -> None:
    view = modal(FormDraft(mode=mode))

    assert view["type"] == "modal"
    assert view["callback_id"] == CALLBACK_ID == "replica_modal"
    for key in ("title", "submit", "close"):
        assert view[key]["type"] == "plain_text"
        assert 0 < len(view[key]["text"]) <= 24
    assert len(view["blocks"]) <= 100


@pytest.mark.parametrize("mode", list(Mode))
def test_mode_block_dispatches_and_shows_current_mode(mode: Mode) -> None:
    block = input_blocks(modal(FormDraft(mode=mode)))["mode"]

    assert block["dispatch_action"] is True
    assert block["element"]["type"] == "radio_buttons"
    assert [o["value"] for o in block["element"]["options"]] == ["video", "image"]
    assert block["element"]["initial_option"]["value"] == mode.value
    assert block["element"]["initial_option"] in block["element"]["options"]


def test_video_mode_shows_consent_sentence_with_requesters_name() -> None:
    text = all_text(modal(FormDraft(mode=Mode.VIDEO)))

    assert consent_sentence("Jane Doe") in text
    assert "I, Jane Doe, am currently speaking" in text


def test_video_mode_without_a_name_shows_the_placeholder() -> None:
    context = ModalContext(channel_id="C1", requester_id="U1")

    assert "I, [your full name], am currently speaking" in all_text(modal(FormDraft(), context))


def test_consent_sentence_escapes_mrkdwn_in_the_name() -> None:
    context = ModalContext(channel_id="C1", requester_id="U1", requester_name="Jo <!here> & Co")

    shown = all_text({"blocks": modal(FormDraft(), context)["blocks"]})

    assert "I, Jo &lt;!here&gt; &amp; Co, am currently speaking" in shown
    assert "<!here>" not in shown


def test_image_mode_has_no_spoken_consent_sentence() -> None:
    assert "am currently speaking" not in all_text(modal(FormDraft(mode=Mode.IMAGE)))


@pytest.mark.parametrize(
    ("mode", "attestation"),
    [(Mode.VIDEO, ATTESTATION_ME_VIDEO), (Mode.IMAGE, ATTESTATION_ME_PHOTO)],
)
def test_the_consent_checkbox_shows_the_attestation_the_record_keeps(
    mode: Mode, attestation: str
) -> None:
    """Whole: the consent record keeps this constant as what the requester ticked, so the
    form must show exactly it (not cut to an option's 75 characters, say)."""
    [option] = input_blocks(modal(FormDraft(mode=mode)))["consent"]["element"]["options"]
    assert option["text"]["text"] == attestation


def test_empty_draft_sets_no_initial_values() -> None:
    inputs = input_blocks(modal(FormDraft()))

    assert "initial_value" not in inputs["replica_name"]["element"]
    assert "initial_value" not in inputs["train_video_url"]["element"]
    assert "initial_option" not in inputs["voice_name"]["element"]
    assert "initial_options" not in inputs["consent"]["element"]
    assert inputs["model_name"]["element"]["initial_option"]["value"] == "phoenix-4"


def test_video_values_are_prefilled() -> None:
    draft = FormDraft(
        replica_name="Jane",
        mode=Mode.VIDEO,
        train_video_url=VIDEO_URL,
        consent_video_url=CONSENT_URL,
        voice_name="anna",
        model_name="phoenix-3",
        consent=True,
    )

    inputs = input_blocks(modal(draft))

    assert inputs["replica_name"]["element"]["initial_value"] == "Jane"
    assert inputs["replica_name"]["element"]["max_length"] == 100
    assert inputs["train_video_url"]["element"]["initial_value"] == VIDEO_URL
    assert inputs["consent_video_url"]["element"]["initial_value"] == CONSENT_URL
    anna = voice_option("anna")
    assert anna is not None
    assert inputs["voice_name"]["element"]["initial_option"] == anna.to_dict()
    assert inputs["voice_name"]["element"]["initial_option"]["value"] == "anna"
    model = inputs["model_name"]["element"]
    assert model["initial_option"]["value"] == "phoenix-3"
    assert model["initial_option"] in model["options"]
    consent = inputs["consent"]["element"]
    assert consent["initial_options"] == consent["options"]


def test_image_values_are_prefilled() -> None:
    draft = FormDraft(
        replica_name="Jane",
        mode=Mode.IMAGE,
        train_image_url=IMAGE_URL,
        voice_name="julia",
        auto_fix_training_image=True,
        consent=True,
    )

    inputs = input_blocks(modal(draft))

    assert inputs["train_image_url"]["element"]["initial_value"] == IMAGE_URL
    assert inputs["voice_name"]["element"]["initial_option"]["value"] == "julia"
    fixer = inputs["auto_fix_training_image"]["element"]
    assert fixer["initial_options"] == fixer["options"]


def test_unknown_model_falls_back_to_the_default() -> None:
    model = input_blocks(modal(FormDraft(model_name="phoenix-99")))["model_name"]["element"]

    assert model["initial_option"]["value"] == "phoenix-4"
    assert model["initial_option"] in model["options"]


@pytest.mark.parametrize("mode", list(Mode))
def test_the_model_picker_says_what_each_model_means(mode: Mode) -> None:
    model = input_blocks(modal(FormDraft(mode=mode)))["model_name"]["element"]

    assert [
        (o["value"], o["text"]["text"], o["description"]["text"]) for o in model["options"]
    ] == [
        (
            "phoenix-4.5",
            "Phoenix-4.5",
            "a watermarked preview in about a minute, then a few hours of tuning",
        ),
        ("phoenix-4", "Phoenix-4", "ready in a few hours"),
        ("phoenix-3", "Phoenix-3", "legacy; video only"),
    ]
    assert all(len(o["description"]["text"]) <= OPTION_TEXT_LIMIT for o in model["options"])
    assert model["initial_option"]["value"] == "phoenix-4"


def test_a_chosen_model_stays_chosen_across_a_rerender() -> None:
    model = input_blocks(modal(FormDraft(model_name="phoenix-4.5")))["model_name"]["element"]

    assert model["initial_option"]["value"] == "phoenix-4.5"
    assert model["initial_option"] == model["options"][0]


def test_voice_option() -> None:
    option = voice_option("anna")
    assert option is not None
    assert option.to_dict() == {
        "text": {"type": "plain_text", "text": "Anna", "emoji": True},
        "value": "anna",
    }


def test_a_long_voice_name_is_shown_cut_and_sent_whole() -> None:
    name = "v" * 149 + "w"

    option = voice_option(name)

    assert option is not None
    shown = option.to_dict()  # slack_sdk raises past Slack's limits
    assert len(shown["text"]["text"]) == OPTION_TEXT_LIMIT == 75
    assert shown["text"]["text"].endswith("…")
    assert shown["value"] == name


def test_a_voice_name_too_long_to_send_back_is_no_option() -> None:
    assert voice_option("v" * 151) is None


def test_a_prefilled_voice_too_long_for_an_option_is_left_unselected() -> None:
    long = input_blocks(modal(FormDraft(mode=Mode.IMAGE, voice_name="v" * 80)))["voice_name"]
    too_long = input_blocks(modal(FormDraft(mode=Mode.IMAGE, voice_name="v" * 151)))

    assert len(long["element"]["initial_option"]["text"]["text"]) == 75
    assert long["element"]["initial_option"]["value"] == "v" * 80
    assert "initial_option" not in too_long["voice_name"]["element"]


# -- private_metadata --------------------------------------------------------------------------


def test_private_metadata_carries_only_the_form_key() -> None:
    view = modal(FormDraft())

    assert view["private_metadata"] == form_metadata("k1") == '{"form":"k1"}'
    assert read_metadata(view["private_metadata"]) == "k1"


def test_private_metadata_stays_small_whatever_the_context_holds() -> None:
    huge = "https://media.example/" + "a" * 5000 + ".mp4"
    files = [
        {"id": f"F{i}", "name": "長" * 200 + ".mp4", "mimetype": "video/mp4", "size": 1}
        for i in range(10)
    ]
    context = replace(CONTEXT, stash={"train_video_url": huge}, files=files)

    assert len(modal(FormDraft(), context)["private_metadata"]) <= PRIVATE_METADATA_LIMIT == 3000


def test_context_round_trips_through_json() -> None:
    context = ModalContext(
        channel_id="C1",
        requester_id="U1",
        requester_name="Jane Doe",
        thread_ts="1700000000.000100",
        stash={"train_video_url": VIDEO_URL},
        files=[{"id": "F1", "name": "名前.mp4", "mimetype": "video/mp4", "size": 3}],
        use_link=True,
        can_relay=False,
    )

    assert ModalContext.from_json(context.to_json()) == context
    assert "名前" in context.to_json()  # stored as is, not as six-character escapes


def test_metadata_of_a_form_opened_before_sessions_is_its_context() -> None:
    old = json.dumps({"channel_id": "C9", "requester_id": "U9", "thread_ts": "1.2"})

    assert read_metadata(old) == ModalContext(channel_id="C9", requester_id="U9", thread_ts="1.2")


def test_from_json_ignores_unknown_keys_and_fills_defaults() -> None:
    raw = json.dumps({"channel_id": "C9", "requester_id": "U9", "from_a_newer_version": 1})

    assert ModalContext.from_json(raw) == ModalContext(channel_id="C9", requester_id="U9")


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "{not json",
        "[]",
        '"k1"',
        "{}",
        '{"form": 7}',
        '{"channel_id": "C1"}',
        '{"channel_id": "C1", "requester_id": 5}',
        '{"channel_id": "C1", "requester_id": "U1", "files": {}}',
        '{"channel_id": "C1", "requester_id": "U1", "stash": []}',
    ],
)
def test_unreadable_metadata_is_a_value_error(raw: str) -> None:
    with pytest.raises(ValueError):
        read_metadata(raw)


# -- read_form ---------------------------------------------------------------------------------


def test_read_form_video_submission() -> None:
    view = modal(FormDraft())
    values = state_values(
        view,
        {
            "replica_name": "Jane Doe",
            "mode": "video",
            "train_video_url": VIDEO_URL,
            "consent_video_url": CONSENT_URL,
            "voice_name": "anna",
            "model_name": "phoenix-3",
            "consent": True,
        },
    )

    assert read_form(values) == FormDraft(
        replica_name="Jane Doe",
        mode=Mode.VIDEO,
        train_video_url=VIDEO_URL,
        consent_video_url=CONSENT_URL,
        voice_name="anna",
        model_name="phoenix-3",
        consent=True,
    )


def test_read_form_image_submission() -> None:
    view = modal(FormDraft(mode=Mode.IMAGE))
    values = state_values(
        view,
        {
            "replica_name": "Jane",
            "train_image_url": IMAGE_URL,
            "voice_name": "julia",
            "auto_fix_training_image": True,
            "consent": True,
        },
    )

    assert read_form(values) == FormDraft(
        replica_name="Jane",
        mode=Mode.IMAGE,
        train_image_url=IMAGE_URL,
        voice_name="julia",
        auto_fix_training_image=True,
        consent=True,
    )


def test_read_form_with_cleared_and_null_inputs() -> None:
    prefilled = FormDraft(
        replica_name="Jane",
        train_video_url=VIDEO_URL,
        voice_name="anna",
        model_name="phoenix-3",
        consent=True,
    )
    view = modal(prefilled)
    values = state_values(
        view,
        {
            "replica_name": None,
            "train_video_url": None,
            "consent_video_url": None,
            "voice_name": None,
            "model_name": None,
            "consent": False,
        },
    )

    assert read_form(values) == FormDraft(mode=Mode.VIDEO, model_name="phoenix-4")


def test_read_form_of_slack_literal_payload() -> None:
    values = {
        "replica_name": {"replica_name": {"type": "plain_text_input", "value": "Jane"}},
        "mode": {
            "mode": {
                "type": "radio_buttons",
                "selected_option": {
                    "value": "image",
                    "text": {"type": "plain_text", "text": "From a photo"},
                },
            }
        },
        "train_image_url": {"train_image_url": {"type": "url_text_input", "value": IMAGE_URL}},
        "voice_name": {"voice_name": {"type": "external_select", "selected_option": None}},
        "auto_fix_training_image": {
            "auto_fix_training_image": {"type": "checkboxes", "selected_options": []}
        },
        "model_name": {"model_name": {"type": "static_select", "selected_option": None}},
        "consent": {
            "consent": {
                "type": "checkboxes",
                "selected_options": [{"value": "yes", "text": {"type": "plain_text", "text": "."}}],
            }
        },
    }

    assert read_form(values) == FormDraft(
        replica_name="Jane", mode=Mode.IMAGE, train_image_url=IMAGE_URL, consent=True
    )


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"mode": {"mode": {"type": "radio_buttons", "selected_option": None}}},
        {"mode": {"mode": {"type": "radio_buttons", "selected_option": {"value": "audio"}}}},
        {"mode": {"other_action": {"type": "radio_buttons", "selected_option": option("image")}}},
        {"consent": {"consent": {"type": "checkboxes", "selected_options": None}}},
        {"consent": {"consent": {"type": "checkboxes", "selected_options": [{"value": "no"}]}}},
        {"replica_name": {"replica_name": None}},
    ],
    ids=[
        "empty",
        "mode-null",
        "mode-unknown",
        "wrong-action-id",
        "checkbox-null",
        "checkbox-other",
        "null-state",
    ],
)
def test_read_form_missing_or_odd_values_read_as_defaults(values: dict[str, Any]) -> None:
    assert read_form(values) == FormDraft()


# -- switch_mode -------------------------------------------------------------------------------


def test_switch_video_to_image_and_back_restores_video_links() -> None:
    video_view = modal(FormDraft(mode=Mode.VIDEO))
    typed_video = {
        "replica_name": "Jane",
        "mode": "image",  # the radio was just changed
        "train_video_url": VIDEO_URL,
        "consent_video_url": CONSENT_URL,
        "voice_name": "anna",
        "model_name": "phoenix-3",
        "consent": True,
    }

    image_draft, image_context = switch_mode(
        state_values(video_view, typed_video), CONTEXT, Mode.IMAGE
    )

    assert image_draft.mode is Mode.IMAGE
    assert (image_draft.replica_name, image_draft.voice_name, image_draft.model_name) == (
        "Jane",
        "anna",
        "phoenix-3",
    )
    assert image_draft.consent is True
    assert image_draft.train_image_url == ""
    assert image_context.stash == {
        "train_video_url": VIDEO_URL,
        "consent_video_url": CONSENT_URL,
    }
    assert (image_context.channel_id, image_context.requester_name) == ("C1", "Jane Doe")

    # The image form is rendered (the stash stays in the form's session), and the user
    # switches back.
    image_view = modal(image_draft, image_context)
    carried = ModalContext.from_json(image_context.to_json())
    assert carried == image_context
    typed_image = {"mode": "video", "train_image_url": IMAGE_URL, "auto_fix_training_image": True}

    video_draft, video_context = switch_mode(
        state_values(image_view, typed_image), carried, Mode.VIDEO
    )

    assert video_draft == FormDraft(
        replica_name="Jane",
        mode=Mode.VIDEO,
        train_video_url=VIDEO_URL,
        consent_video_url=CONSENT_URL,
        train_image_url=IMAGE_URL,
        voice_name="anna",
        auto_fix_training_image=True,
        model_name="phoenix-3",
        consent=True,
    )
    assert video_context.stash == {
        "train_image_url": IMAGE_URL,
        "auto_fix_training_image": "yes",
    }
    rendered = input_blocks(modal(video_draft, video_context))
    assert rendered["train_video_url"]["element"]["initial_value"] == VIDEO_URL
    assert rendered["consent_video_url"]["element"]["initial_value"] == CONSENT_URL

    # And to image again: the photo link and the fixer choice come back.
    image_again, _ = switch_mode(
        state_values(modal(video_draft, video_context), {"mode": "image"}),
        video_context,
        Mode.IMAGE,
    )
    assert image_again.train_image_url == IMAGE_URL
    assert image_again.auto_fix_training_image is True


def test_switch_with_nothing_typed_stashes_nothing() -> None:
    view = modal(FormDraft())

    draft, context = switch_mode(state_values(view, {"mode": "image"}), CONTEXT, Mode.IMAGE)

    assert draft == FormDraft(mode=Mode.IMAGE)
    assert context.stash == {}


def test_unchecked_fixer_is_not_stashed() -> None:
    view = modal(FormDraft(mode=Mode.IMAGE))
    values = state_values(view, {"mode": "video", "train_image_url": IMAGE_URL})

    draft, context = switch_mode(values, CONTEXT, Mode.VIDEO)

    assert context.stash == {"train_image_url": IMAGE_URL}
    assert draft.auto_fix_training_image is False


def test_switch_does_not_change_the_given_context() -> None:
    view = modal(FormDraft())
    values = state_values(view, {"train_video_url": VIDEO_URL})

    switch_mode(values, CONTEXT, Mode.IMAGE)

    assert CONTEXT.stash == {}
