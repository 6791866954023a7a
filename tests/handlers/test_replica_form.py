"""The request form end to end: mode switch, voice search, validation, submission to Tavus."""

from __future__ import annotations

import json
import logging
import sqlite3
from typing import Any
from urllib.parse import quote

import pytest

from domain.consent import ATTESTATION_OUTSIDE, ConsentEventKind, consent_sentence
from domain.states import State
from domain.subject import SubjectKind
from storage import consent
from storage import replicas as store
from tests.conftest import PUBLIC_URL, Bot, eventually

VIDEO = {
    "replica_name": "Jane – sales",
    "mode": "video",
    "train_video_url": "https://cdn.example.com/jane.mp4",
    "model_name": "phoenix-4",
    "intended_use": "Sales demos",
    "consent": True,
}
IMAGE = {
    "replica_name": "Jane photo",
    "mode": "image",
    "train_image_url": "https://cdn.example.com/jane.png",
    "voice_name": "anna",
    "auto_fix_training_image": True,
    "model_name": "phoenix-4",
    "intended_use": "Sales demos",
    "consent": True,
}


def input_ids(view: dict[str, Any]) -> list[str]:
    return [b["block_id"] for b in view["blocks"] if b["type"] == "input"]


async def switch(bot: Bot, mode: str, inputs: dict[str, Any]) -> dict[str, Any]:
    view_id, view = bot.slack.latest_view()
    before = view["hash"]
    response = await bot.choose_mode(view_id, view, mode, inputs)
    assert response.status_code == 200
    await eventually(lambda: bot.slack.views[view_id]["hash"] != before)
    return bot.slack.views[view_id]


async def test_switching_mode_shows_only_that_modes_fields_and_keeps_input(bot: Bot) -> None:
    await bot.open_form()
    typed = {"replica_name": "Jane", "train_video_url": "https://cdn.example.com/a.mp4"}
    image_view = await switch(bot, "image", {**typed, "mode": "video"})
    assert input_ids(image_view) == [
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
    by_id = {b["block_id"]: b["element"] for b in image_view["blocks"] if b["type"] == "input"}
    assert by_id["replica_name"]["initial_value"] == "Jane"
    assert by_id["mode"]["initial_option"]["value"] == "image"
    # Back to video: the link typed before the switch is still there.
    video_view = await switch(bot, "video", {"replica_name": "Jane"})
    by_id = {b["block_id"]: b["element"] for b in video_view["blocks"] if b["type"] == "input"}
    assert by_id["train_video_url"]["initial_value"] == "https://cdn.example.com/a.mp4"
    assert "Jane Doe" in str(video_view["blocks"])  # the consent sentence keeps the name


async def test_voice_search_lists_matching_tavus_voices(bot: Bot) -> None:
    view_id, view = await bot.open_form()
    response = await bot.voice_search(view_id, view, "AN")
    assert response.status_code == 200
    assert [o["value"] for o in response.json()["options"]] == ["anna"]
    response = await bot.voice_search(view_id, view, "")
    assert len(response.json()["options"]) == 6


async def test_voice_search_reads_every_page_of_voices(bot: Bot) -> None:
    bot.tavus.voices = [{"voice_name": f"voice{i:03d}"} for i in range(250)]
    view_id, view = await bot.open_form()
    # A fresh catalogue (the warm-up may have cached the six defaults): restart and search.
    await bot.restart()
    response = await bot.voice_search(view_id, view, "voice2")
    values = [o["value"] for o in response.json()["options"]]
    assert values == [f"voice{i}" for i in range(200, 250)]  # page 3 of 3 was read too


@pytest.mark.parametrize(
    ("inputs", "field", "phrase"),
    [
        ({**VIDEO, "replica_name": None}, "replica_name", "name"),
        ({**VIDEO, "replica_name": "x" * 101}, "replica_name", "100 characters"),
        ({**VIDEO, "train_video_url": None}, "train_video_url", "training video"),
        (
            {**VIDEO, "train_video_url": "ftp://cdn.example.com/a.mp4"},
            "train_video_url",
            "https://",
        ),
        ({**VIDEO, "consent_video_url": "consent.mp4"}, "consent_video_url", "https://"),
        ({**VIDEO, "consent": False}, "consent", "consent"),
        ({**VIDEO, "voice_name": "gandalf"}, "voice_name", "no voice"),
        ({**IMAGE, "train_image_url": None}, "train_image_url", "photo"),
        ({**IMAGE, "voice_name": None}, "voice_name", "needs a voice"),
    ],
)
async def test_invalid_input_is_answered_under_the_field_and_never_reaches_tavus(
    bot: Bot, inputs: dict[str, Any], field: str, phrase: str
) -> None:
    await bot.open_form()
    if inputs["mode"] == "image":
        await switch(bot, "image", {"mode": "video"})
    view_id, view = bot.slack.latest_view()
    response = await bot.submit(view_id, view, inputs)
    assert response.status_code == 200
    answer = response.json()
    assert answer["response_action"] == "errors"
    assert list(answer["errors"]) == [field]
    assert phrase in answer["errors"][field].lower()
    await bot.settle()
    assert bot.tavus.creates == []
    assert bot.slack.messages == []


async def test_video_request_goes_to_tavus_and_is_announced(bot: Bot) -> None:
    view_id, view = await bot.open_form()
    response = await bot.submit(
        view_id, view, {**VIDEO, "consent_video_url": "https://cdn.example.com/ok.mp4"}
    )
    assert response.status_code == 200
    assert response.text == ""  # closes the modal
    await bot.settle()
    body = bot.tavus.creates[0]
    token = bot.callback_token()
    assert body == {
        "replica_name": "Jane – sales",
        "model_name": "phoenix-4",
        "train_video_url": "https://cdn.example.com/jane.mp4",
        "consent_video_url": "https://cdn.example.com/ok.mp4",
        "callback_url": f"{PUBLIC_URL}/tavus/callback/{token}",
    }
    [root] = bot.slack.messages_in("C1")
    assert root.thread_ts is None
    assert "<@U1>" in str(root.blocks)
    assert "Training" in root.text and "r0001" in str(root.blocks)  # updated with the replica id
    record = await bot.services.storage.run(store.get_request, 1)
    assert record.state is State.TRAINING and record.replica_id == "r0001"
    assert record.message_ts == root.ts
    # Only a hash of the callback token is stored.
    rows = await bot.services.storage.run(lambda db: list(db["replica_requests"].rows))
    assert token not in str(rows)


async def test_image_request_sends_exactly_the_image_fields(bot: Bot) -> None:
    await bot.open_form()
    image_view = await switch(
        bot, "image", {"mode": "video", "train_video_url": "https://x.example/v.mp4"}
    )
    view_id, _ = bot.slack.latest_view()
    response = await bot.submit(view_id, image_view, IMAGE)
    assert response.status_code == 200 and response.text == ""
    await bot.settle()
    assert bot.tavus.creates[0] == {
        "replica_name": "Jane photo",
        "model_name": "phoenix-4",
        "train_image_url": "https://cdn.example.com/jane.png",
        "voice_name": "anna",
        "auto_fix_training_image": True,
        "callback_url": bot.tavus.creates[0]["callback_url"],
    }


async def test_the_form_offers_each_model_with_what_it_means(bot: Bot) -> None:
    _, view = await bot.open_form()
    [picker] = [b["element"] for b in view["blocks"] if b.get("block_id") == "model_name"]
    assert [(o["value"], o["description"]["text"]) for o in picker["options"]] == [
        ("phoenix-4.5", "a watermarked preview in about a minute, then a few hours of tuning"),
        ("phoenix-4", "ready in a few hours"),
        ("phoenix-3", "legacy; video only"),
    ]
    assert picker["initial_option"]["value"] == "phoenix-4"


@pytest.mark.parametrize("mode", ["video", "image"])
async def test_phoenix_4_5_is_sent_by_name(bot: Bot, mode: str) -> None:
    await bot.open_form()
    inputs = {**(VIDEO if mode == "video" else IMAGE), "model_name": "phoenix-4.5"}
    if mode == "image":
        await switch(bot, "image", {"mode": "video"})
    view_id, view = bot.slack.latest_view()
    response = await bot.submit(view_id, view, inputs)
    assert response.status_code == 200 and response.text == ""
    await bot.settle()
    [create] = bot.tavus.creates
    assert create["model_name"] == "phoenix-4.5"
    record = await bot.services.storage.run(store.get_request, 1)
    assert record.request.model_name == "phoenix-4.5" and record.state is State.TRAINING


async def test_phoenix_3_from_a_photo_is_refused_under_the_model(bot: Bot) -> None:
    await bot.open_form()
    image_view = await switch(bot, "image", {"mode": "video"})
    view_id, _ = bot.slack.latest_view()
    response = await bot.submit(view_id, image_view, {**IMAGE, "model_name": "phoenix-3"})
    assert response.json() == {
        "response_action": "errors",
        "errors": {
            "model_name": "Phoenix-3 cannot train from a photo: choose Phoenix-4.5 or Phoenix-4."
        },
    }
    await bot.settle()
    assert bot.tavus.creates == [] and bot.slack.messages == []


async def test_without_public_url_no_callback_url_is_sent(bot: Bot) -> None:
    bot.settings = bot.settings.__class__(**{**bot.settings.__dict__, "public_url": None})
    await bot.restart()
    view_id, view = await bot.open_form()
    await bot.submit(view_id, view, VIDEO)
    await bot.settle()
    assert "callback_url" not in bot.tavus.creates[0]


async def test_a_repeated_submission_starts_one_training(bot: Bot) -> None:
    view_id, view = await bot.open_form()
    await bot.submit(view_id, view, VIDEO)
    await bot.submit(view_id, view, VIDEO)
    await bot.settle()
    assert len(bot.tavus.creates) == 1
    assert len(bot.slack.messages_in("C1")) == 1


@pytest.mark.parametrize(
    ("status", "body", "state", "phrase"),
    [
        (400, {"error": "Invalid voice_name"}, State.NOT_CREATED, "Tavus said: Invalid voice_name"),
        (401, {"message": "Invalid access token"}, State.NOT_CREATED, "check its Tavus key"),
        (500, "upstream exploded", State.UNCERTAIN, "asking Tavus whether it created"),
        (503, {"error": "busy"}, State.UNCERTAIN, "will not send it again"),
    ],
)
async def test_tavus_refusals_and_failures_reach_the_requester(
    bot: Bot, status: int, body: Any, state: State, phrase: str
) -> None:
    bot.tavus.answer_next_create(status, body)
    view_id, view = await bot.open_form()
    await bot.submit(view_id, view, VIDEO)
    await bot.settle()
    assert len(bot.tavus.creates) == 1  # never re-sent
    record = await bot.services.storage.run(store.get_request, 1)
    assert record.state is state
    root, reply = bot.slack.messages_in("C1")
    assert reply.thread_ts == root.ts
    assert reply.text.startswith("<@U1>")
    assert phrase in reply.text
    emoji = ":x:" if state is State.NOT_CREATED else ":mag:"
    assert root.blocks[0]["text"]["text"].startswith(emoji)


async def test_unreachable_tavus_says_nothing_was_created(bot: Bot, fake_tavus) -> None:
    await fake_tavus.stop()  # connection refused: the request never left
    view_id, view = await bot.open_form()
    await bot.submit(view_id, view, VIDEO)
    await bot.settle()
    record = await bot.services.storage.run(store.get_request, 1)
    assert record.state is State.NOT_CREATED
    _, reply = bot.slack.messages_in("C1")
    assert "nothing was created" in reply.text


async def test_public_channel_the_bot_is_not_in_is_joined(bot: Bot) -> None:
    bot.slack.not_member.add("C1")
    view_id, view = await bot.open_form()
    await bot.submit(view_id, view, VIDEO)
    await bot.settle()
    assert [c.params["channel"] for c in bot.slack.calls_to("conversations.join")] == ["C1"]
    assert len(bot.slack.messages_in("C1")) == 1


async def test_private_channel_falls_back_to_a_dm_with_the_requester(bot: Bot) -> None:
    bot.slack.private.add("G1")
    view_id, view = await bot.open_form(channel="G1")
    await bot.submit(view_id, view, VIDEO)
    await bot.settle()
    notice, root = bot.slack.messages_in("DU1")
    assert "<#G1>" in notice.text
    assert "Jane – sales" in root.text
    token = bot.callback_token()
    bot.tavus.set_status("r0001", "completed")
    response = await bot.tavus_callback(token, {"replica_id": "r0001", "status": "ready"})
    assert response.status_code == 202
    await bot.settle()
    reply = bot.slack.messages_in("DU1")[-1]
    assert reply.thread_ts == root.ts and "is ready" in reply.text


async def test_a_request_that_cannot_be_saved_keeps_the_form_open(bot: Bot) -> None:
    view_id, view = await bot.open_form()
    with sqlite3.connect(bot.settings.database_path) as db:  # the disk "fails" under the bot
        db.execute("ALTER TABLE replica_requests RENAME TO lost")
    response = await bot.submit(view_id, view, VIDEO)
    assert response.json()["response_action"] == "errors"
    assert "couldn't save" in response.json()["errors"]["replica_name"]
    await bot.settle()
    assert bot.tavus.creates == [] and bot.slack.messages == []


@pytest.mark.parametrize("metadata", ["{not json", "[]", '{"channel_id": "C1"}'])
async def test_a_form_with_unreadable_metadata_asks_to_start_again(bot: Bot, metadata: str) -> None:
    view_id, view = await bot.open_form()
    response = await bot.submit(view_id, {**view, "private_metadata": metadata}, VIDEO)
    assert response.json()["errors"] == {
        "replica_name": "This form is out of date. Run /replica again."
    }
    await bot.settle()
    assert bot.tavus.creates == []


async def test_voice_search_cuts_long_names_and_leaves_out_what_slack_cannot_send_back(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="handlers.replica_modal")
    long, too_long = "a" * 80, "b" * 200  # option text holds 75 characters, a value 150
    bot.tavus.voices = [{"voice_name": name} for name in (long, too_long, "anna")]
    await bot.restart()  # a fresh voice catalogue
    view_id, view = await bot.open_form()

    response = await bot.voice_search(view_id, view, "")

    assert response.status_code == 200
    options = response.json()["options"]
    assert [o["value"] for o in options] == [long, "anna"]
    assert options[0]["text"]["text"] == "A" + "a" * 73 + "…"
    assert (await bot.voice_search(view_id, view, "bbb")).json()["options"] == []
    assert len([r for r in caplog.records if "too long for Slack" in r.getMessage()]) == 1
    # The long voice can be chosen, and goes to Tavus whole.
    response = await bot.submit(view_id, view, {**VIDEO, "voice_name": long})
    assert response.status_code == 200 and response.text == ""
    await bot.settle()
    assert bot.tavus.creates[0]["voice_name"] == long


@pytest.mark.parametrize(
    ("submitter_team", "enterprise", "stored"),
    [
        ("TGUEST", {"id": "E1", "name": "Acme Group"}, ("T1", "E1")),
        ("T1", None, ("T1", None)),
    ],
    ids=["slack-connect-guest-on-grid", "member"],
)
async def test_a_request_belongs_to_the_workspace_that_installed_the_app(
    bot: Bot, submitter_team: str, enterprise: dict[str, str] | None, stored: tuple[str, Any]
) -> None:
    view_id, view = await bot.open_form()
    payload = bot.interaction_payload(
        "view_submission", **bot.submission_fields(view_id, view, VIDEO)
    )
    payload["team"] = {"id": submitter_team, "domain": "guests"}
    payload["user"]["team_id"] = submitter_team
    if enterprise is not None:
        payload["enterprise"] = enterprise
    assert payload["view"]["app_installed_team_id"] == "T1"

    response = await bot.slack_request(
        "payload=" + quote(json.dumps(payload)), "application/x-www-form-urlencoded"
    )

    assert response.status_code == 200 and response.text == ""
    await bot.settle()
    record = await bot.services.storage.run(store.get_request, 1)
    assert (record.origin.team_id, record.origin.enterprise_id) == stored


# -- who is on camera, and what for --------------------------------------------------------------


async def rerender(bot: Bot, view_id: str, before: str) -> dict[str, Any]:
    """The form once the bot has re-rendered it (its hash was `before`)."""
    await eventually(lambda: bot.slack.views[view_id]["hash"] != before)
    return bot.slack.views[view_id]


async def as_member(bot: Bot, member: str = "U2", **typed: Any) -> tuple[str, dict[str, Any]]:
    """Open the form, choose "Someone in this workspace" and pick `member`."""
    view_id, view = await bot.open_form()
    response = await bot.choose_subject(view_id, view, "member", typed)
    assert response.status_code == 200
    view = await rerender(bot, view_id, view["hash"])
    response = await bot.pick_member(view_id, view, member, typed)
    assert response.status_code == 200
    await bot.settle_views()
    await eventually(lambda: bot.slack.calls_to("users.info")[-1].params["user"] == member)
    await eventually(lambda: "direct message" in str(bot.slack.views[view_id]["blocks"]))
    return view_id, bot.slack.views[view_id]


async def as_outside(bot: Bot, name: str = "Alex Rivera") -> tuple[str, dict[str, Any]]:
    """Open the form, choose "Someone outside Slack", type `name` and press Enter."""
    view_id, view = await bot.open_form()
    await bot.choose_subject(view_id, view, "outside", {})
    view = await rerender(bot, view_id, view["hash"])
    await bot.enter_subject_name(view_id, view, name, {"subject": "outside"})
    return view_id, await rerender(bot, view_id, view["hash"])


def sentence_in(view: dict[str, Any]) -> str:
    [block] = [b for b in view["blocks"] if b.get("block_id") == "consent_sentence"]
    return str(block["text"]["text"])


async def test_picking_a_member_names_them_in_the_sentence(bot: Bot) -> None:
    bot.slack.real_names["U2"] = "Sam Lee"

    _, view = await as_member(bot, replica_name="Sam")

    assert "I, Sam Lee, am currently speaking" in sentence_in(view)
    by_id = {b["block_id"]: b["element"] for b in view["blocks"] if b["type"] == "input"}
    assert by_id["subject_user"]["initial_user"] == "U2"
    assert by_id["replica_name"]["initial_value"] == "Sam"  # typed before the pick: kept
    assert "consent" not in by_id  # the member approves for themselves
    # Switching to a photo keeps the member, and shows the image-rights statement instead.
    photo = await switch(bot, "image", {"subject": "member", "subject_user": "U2"})
    by_id = {b["block_id"]: b["element"] for b in photo["blocks"] if b["type"] == "input"}
    assert by_id["subject"]["initial_option"]["value"] == "member"
    assert by_id["subject_user"]["initial_user"] == "U2"
    assert "image_rights" in [b.get("block_id") for b in photo["blocks"]]


async def test_an_outside_name_is_put_in_the_sentence_when_enter_is_pressed(bot: Bot) -> None:
    _, view = await as_outside(bot, "Alex Rivera")

    assert "I, Alex Rivera, am currently speaking" in sentence_in(view)
    assert "outside_consent" in input_ids(view) and "consent" not in input_ids(view)


async def test_a_second_form_opens_with_the_name_already_in_it(bot: Bot) -> None:
    await bot.open_form()
    first = bot.slack.calls_to("views.open")[0].params["view"]
    assert "[your full name]" in str(first["blocks"])  # nobody knew the name yet
    lookup = bot.slack.hold("users.info", then_answer=True)  # Slack slow this time

    assert (await bot.command()).status_code == 200
    await eventually(lambda: len(bot.slack.calls_to("views.open")) == 2)

    second = bot.slack.calls_to("views.open")[1].params["view"]
    assert "I, Jane Doe, am currently speaking" in str(second["blocks"])
    lookup.release()
    await bot.settle()
    # Learnt within the hour: not asked again, and the form is not re-rendered for it.
    assert len(bot.slack.calls_to("users.info")) == 1
    assert len(bot.slack.calls_to("views.update")) == 1  # the first form's fill-in only


async def test_a_member_on_camera_is_asked_by_dm_and_nothing_goes_to_tavus(bot: Bot) -> None:
    bot.slack.real_names["U2"] = "Sam Lee"
    view_id, view = await as_member(bot)

    response = await bot.submit(
        view_id, view, {**VIDEO, "subject": "member", "subject_user": "U2", "consent": None}
    )

    assert response.status_code == 200 and response.text == ""
    await bot.settle()
    assert bot.tavus.creates == []
    dms = [c.params for c in bot.slack.calls_to("chat.postMessage") if c.params["channel"] == "U2"]
    assert len(dms) == 1, "the member on camera was not asked to approve"
    action_ids = {
        element.get("action_id")
        for block in dms[0].get("blocks") or []
        for element in block.get("elements") or []
    }
    assert {"consent_approve", "consent_decline"} <= action_ids
    record = await bot.services.storage.run(store.get_request, 1)
    assert record.state is State.AWAITING_CONSENT
    request = record.request
    assert (request.subject.kind, request.subject.user_id, request.subject.name) == (
        SubjectKind.MEMBER,
        "U2",
        "Sam Lee",
    )
    assert request.statement == consent_sentence("Sam Lee") and request.attestation is None
    assert request.intended_use == "Sales demos"


async def test_a_member_picked_just_before_submitting_is_looked_up_then(bot: Bot) -> None:
    """The pick's own lookup has not landed (or failed): the submission asks Slack itself."""
    bot.slack.real_names["U3"] = "Ana Diaz"
    view_id, view = await bot.open_form()
    await bot.choose_subject(view_id, view, "member", {})
    view = await rerender(bot, view_id, view["hash"])

    response = await bot.submit(view_id, view, {**VIDEO, "subject": "member", "subject_user": "U3"})

    assert response.status_code == 200 and response.text == ""
    await bot.settle()
    record = await bot.services.storage.run(store.get_request, 1)
    assert record.request.subject.name == "Ana Diaz"
    assert record.request.statement == consent_sentence("Ana Diaz")


async def test_someone_outside_slack_goes_to_tavus_with_the_attestation_recorded(
    bot: Bot,
) -> None:
    view_id, view = await as_outside(bot)
    reference = "https://docs.example/alex-release.pdf"

    response = await bot.submit(
        view_id,
        view,
        {
            **VIDEO,
            "subject": "outside",
            "subject_name": "Alex Rivera",
            "outside_consent": True,
            "consent_reference": reference,
        },
    )

    assert response.status_code == 200 and response.text == ""
    await bot.settle()
    assert len(bot.tavus.creates) == 1
    [submitted] = [
        e
        for e in await bot.services.storage.run(consent.events_for, 1)
        if e.kind is ConsentEventKind.SUBMITTED
    ]
    assert submitted.details["how"]["text"] == ATTESTATION_OUTSIDE
    assert submitted.details["how"]["reference"] == reference
    assert submitted.details["subject"] == {
        "kind": "outside",
        "user_id": None,
        "name": "Alex Rivera",
    }
    assert submitted.details["statement"]["text"] == consent_sentence("Alex Rivera")
    assert submitted.details["intended_use"] == "Sales demos"


async def test_someone_else_s_file_says_they_approve_too_and_they_are_asked(bot: Bot) -> None:
    file = bot.slack.add_file("sam.mp4", "video/mp4", b"\x00" * 64, user="U2")
    message = {"type": "message", "user": "U2", "ts": "1700000100.000200", "files": [file]}
    assert (await bot.shortcut(message)).status_code == 200
    await eventually(lambda: bot.slack.views)
    await bot.settle_views()
    view_id, view = bot.slack.latest_view()
    assert "<@U2> shared this file, so they'll be asked to approve it too." in str(view["blocks"])

    response = await bot.submit(
        view_id, view, {"slack_file": file["id"], "intended_use": "Demos", "consent": True}
    )

    assert response.status_code == 200 and response.text == ""
    await bot.settle()
    assert bot.tavus.creates == []
    assert [c.params["channel"] for c in bot.slack.calls_to("chat.postMessage")].count("U2") == 1
    record = await bot.services.storage.run(store.get_request, 1)
    assert record.request.slack_file_owner == "U2"
    assert record.request.slack_file_permalink == file["permalink"]


@pytest.mark.parametrize(
    ("member", "phrase"),
    [("U1", "that's you"), ("UBOT", "bot"), ("UGONE", "deactivated")],
)
async def test_a_member_who_cannot_be_asked_is_refused(bot: Bot, member: str, phrase: str) -> None:
    bot.slack.bots.add("UBOT")
    bot.slack.deactivated.add("UGONE")
    view_id, view = await bot.open_form()
    await bot.choose_subject(view_id, view, "member", {})
    view = await rerender(bot, view_id, view["hash"])
    await bot.pick_member(view_id, view, member, {})
    await eventually(lambda: bot.slack.calls_to("users.info")[-1].params["user"] == member)
    await bot.settle()
    view = bot.slack.views[view_id]

    response = await bot.submit(
        view_id, view, {**VIDEO, "subject": "member", "subject_user": member}
    )

    answer = response.json()
    assert answer["response_action"] == "errors"
    assert list(answer["errors"]) == ["subject_user"]
    assert phrase in answer["errors"]["subject_user"].lower()
    await bot.settle()
    assert bot.tavus.creates == [] and bot.slack.messages == []


@pytest.mark.parametrize(
    ("inputs", "field", "phrase"),
    [
        ({"subject_name": None}, "subject_name", "full name"),
        ({"outside_consent": False}, "outside_consent", "written consent"),
        ({"consent_reference": "release.pdf"}, "consent_reference", "link"),
        ({"intended_use": None}, "intended_use", "used for"),
    ],
)
async def test_an_outside_subject_missing_something_is_refused(
    bot: Bot, inputs: dict[str, Any], field: str, phrase: str
) -> None:
    view_id, view = await as_outside(bot)
    complete = {
        **VIDEO,
        "subject": "outside",
        "subject_name": "Alex Rivera",
        "outside_consent": True,
    }

    response = await bot.submit(view_id, view, {**complete, **inputs})

    answer = response.json()
    assert answer["response_action"] == "errors"
    assert list(answer["errors"]) == [field]
    assert phrase in answer["errors"][field].lower()
    await bot.settle()
    assert bot.tavus.creates == []


async def test_an_error_for_a_field_the_form_does_not_show_goes_under_the_subject(
    bot: Bot,
) -> None:
    """Submitted before the re-render for "someone outside Slack" landed: Slack refuses an
    answer naming a block the view lacks, so the error goes under the question."""
    view_id, view = await bot.open_form()

    response = await bot.submit(view_id, view, {**VIDEO, "subject": "outside"})

    answer = response.json()
    assert answer["response_action"] == "errors"
    assert list(answer["errors"]) == ["subject"]
    assert "full name" in answer["errors"]["subject"]
    assert "written consent" in answer["errors"]["subject"]


async def test_a_form_from_before_the_subject_question_is_out_of_date(bot: Bot) -> None:
    view_id, view = await bot.open_form()
    asked = ("subject", "subject_user", "subject_name", "intended_use")
    old = {**view, "blocks": [b for b in view["blocks"] if b.get("block_id") not in asked]}
    typed = {key: value for key, value in VIDEO.items() if key != "intended_use"}

    response = await bot.submit(view_id, old, typed)

    assert response.json() == {
        "response_action": "errors",
        "errors": {"replica_name": "This form is out of date. Run /replica again."},
    }
    await bot.settle()
    assert bot.tavus.creates == []
