"""The request form end to end: mode switch, voice search, validation, submission to Tavus."""

from __future__ import annotations

import json
import logging
import sqlite3
from typing import Any
from urllib.parse import quote

import pytest

from domain.states import State
from storage import replicas as store
from tests.conftest import PUBLIC_URL, Bot, eventually

VIDEO = {
    "replica_name": "Jane – sales",
    "mode": "video",
    "train_video_url": "https://cdn.example.com/jane.mp4",
    "model_name": "phoenix-4",
    "consent": True,
}
IMAGE = {
    "replica_name": "Jane photo",
    "mode": "image",
    "train_image_url": "https://cdn.example.com/jane.png",
    "voice_name": "anna",
    "auto_fix_training_image": True,
    "model_name": "phoenix-3",
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
        "model_name": "phoenix-3",
        "train_image_url": "https://cdn.example.com/jane.png",
        "voice_name": "anna",
        "auto_fix_training_image": True,
        "callback_url": bot.tavus.creates[0]["callback_url"],
    }


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
