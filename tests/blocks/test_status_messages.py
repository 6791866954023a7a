"""blocks.messages (status and outcome messages), blocks.help and blocks.Message."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from slack_sdk.models.blocks import SectionBlock

from blocks import Message, escape
from blocks.help import help_message
from blocks.messages import moved_to_dm_notice, outcome_reply, status_message
from domain.record import ReplicaRecord
from domain.request import Mode, ReplicaRequest, SlackOrigin
from domain.states import State
from domain.subject import Subject, SubjectKind
from domain.training_errors import hint_for
from tests.blocks.test_library import texts

VIDEO = ReplicaRequest(
    replica_name="Jane Doe", mode=Mode.VIDEO, train_video_url="https://media.example/j.mp4"
)
IMAGE = ReplicaRequest(
    replica_name="Jane Doe",
    mode=Mode.IMAGE,
    model_name="phoenix-3",
    train_image_url="https://media.example/j.png",
    voice_name="anna",
)
ORIGIN = SlackOrigin(requester_id="U123", channel_id="C1", team_id="T1")
DURATION_ERROR = (
    "There was an issue processing your training video. The video provided does not meet the "
    "minimum duration requirement for training"
)


def record(state: State, **changes: Any) -> ReplicaRecord:
    base = ReplicaRecord(
        id=7,
        state=state,
        request=VIDEO,
        origin=ORIGIN,
        created_at="2026-01-01T00:00:00.000+00:00",
    )
    return replace(base, **changes)


def block_text(message: Message) -> str:
    """Every mrkdwn/plain text string in the message's blocks, joined."""
    return "\n".join(texts(message.as_kwargs()["blocks"]))


# -- status_message ----------------------------------------------------------------------------

EXPECTED_STATUS = {
    State.SUBMITTING: (":hourglass_flowing_sand:", "Sending to Tavus"),
    State.TRAINING: (":gear:", "Training"),
    State.SUCCEEDED: (":white_check_mark:", "Ready"),
    State.FAILED: (":x:", "Training failed"),
    State.NOT_CREATED: (":x:", "Not created"),
    State.UNCERTAIN: (":mag:", "Checking with Tavus whether training started"),
    State.AWAITING_CONSENT: (":raised_hand:", "Waiting for consent"),
    State.DELETED: (":wastebasket:", "Deleted"),
    State.PREVIEW_READY: (":eyes:", "Preview ready"),
}


@pytest.mark.parametrize("state", list(State))
def test_status_message_for_every_state(state: State) -> None:
    emoji, label = EXPECTED_STATUS[state]

    message = status_message(record(state))

    text = block_text(message)
    first_line = text.splitlines()[0]
    assert first_line.startswith(f"{emoji} *Jane Doe*")
    assert label in first_line
    assert "<@U123>" in text
    assert "From a video" in text
    assert "phoenix-4" in text
    assert message.text.startswith("Replica Jane Doe")
    assert label in message.text


def test_status_labels_are_distinct() -> None:
    labels = {block_text(status_message(record(state))).splitlines()[0] for state in State}

    assert len(labels) == len(State)


def test_status_message_image_request_shows_voice() -> None:
    text = block_text(status_message(record(State.TRAINING, request=IMAGE)))

    assert "From a photo" in text
    assert "phoenix-3" in text
    assert "Voice: anna" in text


def test_status_message_without_voice_does_not_mention_one() -> None:
    assert "Voice" not in block_text(status_message(record(State.TRAINING)))


def test_status_message_shows_replica_id_when_set() -> None:
    assert "r90bbd427f71" not in block_text(status_message(record(State.SUBMITTING)))

    text = block_text(status_message(record(State.TRAINING, replica_id="r90bbd427f71")))

    assert "`r90bbd427f71`" in text


@pytest.mark.parametrize("state", [State.FAILED, State.NOT_CREATED, State.UNCERTAIN])
def test_status_message_shows_error_for_failed_states(state: State) -> None:
    text = block_text(status_message(record(state, error_message="Invalid voice_name")))

    assert "Invalid voice_name" in text


@pytest.mark.parametrize("state", [State.SUBMITTING, State.TRAINING, State.SUCCEEDED])
def test_status_message_hides_error_for_other_states(state: State) -> None:
    text = block_text(status_message(record(state, error_message="stale error")))

    assert "stale error" not in text


def test_status_message_escapes_mrkdwn_in_blocks() -> None:
    request = replace(IMAGE, replica_name="<!channel> R&D <b>", voice_name="a<b>&c")
    message = status_message(
        record(State.FAILED, request=request, replica_id="r<1>", error_message="bad <url> & co")
    )

    text = block_text(message)

    assert "*&lt;!channel&gt; R&amp;D &lt;b&gt;*" in text
    assert "<!channel>" not in text
    assert "Voice: a&lt;b&gt;&amp;c" in text
    assert "`r&lt;1&gt;`" in text
    assert "bad &lt;url&gt; &amp; co" in text


def test_status_message_escapes_mrkdwn_in_fallback_text() -> None:
    request = replace(VIDEO, replica_name="<!channel> R&D")

    message = status_message(record(State.TRAINING, request=request))

    assert "<!channel>" not in message.text
    assert "&lt;!channel&gt; R&amp;D" in message.text


def test_escape() -> None:
    assert escape("a & b < c > d") == "a &amp; b &lt; c &gt; d"
    assert escape("&lt;") == "&amp;lt;"
    assert escape("plain") == "plain"


# -- outcome_reply -----------------------------------------------------------------------------


def test_outcome_success() -> None:
    message = outcome_reply(record(State.SUCCEEDED, replica_id="r90bbd427f71"))

    assert message.text.startswith("<@U123>")
    assert "*Jane Doe*" in message.text
    assert "ready" in message.text
    assert "`r90bbd427f71`" in message.text
    assert block_text(message) == message.text


def test_outcome_failure_includes_tavus_message_and_hint() -> None:
    message = outcome_reply(record(State.FAILED, error_message=DURATION_ERROR))

    hint = hint_for(DURATION_ERROR)
    assert hint is not None
    assert message.text.startswith("<@U123>")
    assert DURATION_ERROR in message.text
    assert hint in message.text
    assert "How to fix it" in message.text


def test_outcome_failure_without_known_hint() -> None:
    message = outcome_reply(record(State.FAILED, error_message="Something odd happened"))

    assert "Something odd happened" in message.text
    assert "How to fix it" not in message.text


def test_outcome_failure_without_message() -> None:
    message = outcome_reply(record(State.FAILED))

    assert "Tavus gave no reason." in message.text
    assert "How to fix it" not in message.text


def test_outcome_failure_escapes_tavus_message() -> None:
    message = outcome_reply(record(State.FAILED, error_message="<script> & stuff"))

    assert "&lt;script&gt; &amp; stuff" in message.text
    assert "<script>" not in message.text


def test_outcome_not_created() -> None:
    message = outcome_reply(
        record(State.NOT_CREATED, error_message="Invalid voice_name", request=IMAGE)
    )

    assert message.text.startswith("<@U123>")
    assert "not created" in message.text
    assert "Invalid voice_name" in message.text


def test_outcome_uncertain_says_it_will_not_resend() -> None:
    message = outcome_reply(record(State.UNCERTAIN, error_message="no answer from Tavus"))

    assert message.text.startswith("<@U123>")
    assert "no answer from Tavus" in message.text
    assert "will not send it again" in message.text
    assert "asking Tavus whether it created the replica" in message.text


def test_outcome_escapes_the_name() -> None:
    message = outcome_reply(
        record(State.SUCCEEDED, replica_id="r1", request=replace(VIDEO, replica_name="A<&>B"))
    )

    assert "*A&lt;&amp;&gt;B*" in message.text


def test_waiting_for_consent_names_who_has_not_approved_yet() -> None:
    member = replace(VIDEO, subject=Subject(SubjectKind.MEMBER, "U2"), slack_file_owner="U3")
    waiting = record(State.AWAITING_CONSENT, request=member, approvers=("U2", "U3"))
    assert "Waiting for consent from <@U2> and <@U3>" in status_message(waiting).text
    one_left = replace(waiting, approved_by=("U2",))
    first_line = block_text(status_message(one_left)).splitlines()[0]
    assert first_line == ":raised_hand: *Jane Doe* – Waiting for <@U3>'s consent"
    assert "On camera: <@U2>" in block_text(status_message(one_left))


def test_someone_outside_slack_is_named_bounded_and_escaped() -> None:
    outside = replace(VIDEO, subject=Subject(SubjectKind.OUTSIDE, None, "<b>" * 400))
    text = block_text(status_message(record(State.TRAINING, request=outside)))
    assert "On camera: &lt;b&gt;" in text and "<b>" not in text
    assert len(text) < 1000


@pytest.mark.parametrize(
    ("by", "said"),
    [("U2", "because <@U2> withdrew their consent"), ("UADMIN", "as <@UADMIN> asked")],
)
def test_outcome_deleted_says_who_asked_and_why(by: str, said: str) -> None:
    member = replace(VIDEO, subject=Subject(SubjectKind.MEMBER, "U2"))
    message = outcome_reply(record(State.DELETED, request=member, delete_requested_by=by))
    assert message.text.startswith("<@U123> :wastebasket: *Jane Doe* was deleted at Tavus")
    assert said in message.text


@pytest.mark.parametrize("state", [State.SUBMITTING, State.TRAINING, State.AWAITING_CONSENT])
def test_outcome_of_an_open_request_raises(state: State) -> None:
    with pytest.raises(ValueError, match="7"):
        outcome_reply(record(state))


# -- other messages ----------------------------------------------------------------------------


def test_moved_to_dm_notice() -> None:
    message = moved_to_dm_notice("C42")

    assert "<#C42>" in message.text
    assert block_text(message) == message.text


def test_help_message() -> None:
    message = help_message()

    assert message.text
    text = block_text(message)
    for fragment in ("/replica", "/replica help", ".mp4", ".jpg", ".png"):
        assert fragment in text
    # Every subcommand; the admins' only to admins.
    for fragment in ("/replica list", "/replica status", "/replica prompts on", "Home"):
        assert fragment in text
    assert "/replica list all" not in text and "/replica audit" not in text
    admin = block_text(help_message(admin=True))
    assert "/replica list all" in admin and "/replica audit" in admin


def test_message_as_kwargs_gives_plain_dicts() -> None:
    message = Message(text="fallback", blocks=[SectionBlock(text="hello", block_id="b1")])

    kwargs = message.as_kwargs()

    assert kwargs == {
        "text": "fallback",
        "blocks": [{"type": "section", "block_id": "b1", "text": kwargs["blocks"][0]["text"]}],
    }
    assert kwargs["blocks"][0]["text"]["text"] == "hello"
    json.dumps(kwargs)  # serialisable as is


def test_message_without_blocks() -> None:
    assert Message(text="only text").as_kwargs() == {"text": "only text", "blocks": []}


@pytest.mark.parametrize(
    "message",
    [
        status_message(record(State.TRAINING)),
        outcome_reply(record(State.SUCCEEDED, replica_id="r1")),
        moved_to_dm_notice("C1"),
        help_message(),
    ],
    ids=["status", "outcome", "dm-notice", "help"],
)
def test_every_message_serialises(message: Message) -> None:
    kwargs = message.as_kwargs()

    assert isinstance(kwargs["text"], str) and kwargs["text"]
    assert all(isinstance(block, dict) for block in kwargs["blocks"])
    json.dumps(kwargs)


# -- outside text is bounded before it is rendered ---------------------------------------------

FFMPEG_LOG = "ffmpeg version 6.1 Copyright (c) 2000-2023 the FFmpeg developers\n" * 60
HOSTILE = [FFMPEG_LOG[:3000], "<" * 700 + "&" * 700, "&" * 5000, "é<>" * 2000]


def all_texts(message: Message) -> list[str]:
    texts: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") in ("mrkdwn", "plain_text") and isinstance(node.get("text"), str):
                texts.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    kwargs = message.as_kwargs()
    walk(kwargs["blocks"])
    return [kwargs["text"], *texts]


@pytest.mark.parametrize("outside", HOSTILE, ids=["ffmpeg-log", "markup", "ampersands", "mixed"])
@pytest.mark.parametrize("state", [State.FAILED, State.NOT_CREATED, State.UNCERTAIN])
def test_long_or_markup_heavy_outside_text_fits_slacks_limits(outside: str, state: State) -> None:
    request = replace(
        VIDEO,
        replica_name=outside[:100],
        slack_file_name=outside,
        voice_name=outside,
        slack_file_id="F1",
    )
    bad = record(state, request=request, error_message=outside, replica_id=outside)
    for message in (status_message(bad), outcome_reply(bad)):
        texts = all_texts(message)
        assert all(len(text) <= 3000 for text in texts)
        # Never half an escape: every "&" still starts one.
        for text in texts[1:]:
            assert all(
                text.startswith(("&amp;", "&lt;", "&gt;"), i)
                for i, c in enumerate(text)
                if c == "&"
            )


def test_a_shortened_tavus_message_keeps_its_start_and_says_where_the_rest_is() -> None:
    message = outcome_reply(record(State.FAILED, error_message=FFMPEG_LOG))
    text = message.as_kwargs()["blocks"][0]["text"]["text"]
    assert "ffmpeg version 6.1" in text
    assert "… (shortened: the bot's admin can read the whole message in its log)" in text


def test_short_outside_text_is_left_whole() -> None:
    message = outcome_reply(record(State.FAILED, error_message="Bad <codec> & more"))
    assert "Bad &lt;codec&gt; &amp; more" in message.as_kwargs()["blocks"][0]["text"]["text"]
    assert "shortened" not in message.as_kwargs()["text"]
