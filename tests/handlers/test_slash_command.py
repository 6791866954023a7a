"""`/replica` end to end: signed command in, views.open out."""

from __future__ import annotations

import time

from tests.conftest import Bot, eventually


async def test_bad_signature_is_rejected(bot: Bot) -> None:
    response = await bot.slack_request(
        "command=%2Freplica", "application/x-www-form-urlencoded", signed=False
    )
    assert response.status_code == 401
    assert bot.slack.views == {}


async def test_stale_timestamp_is_rejected(bot: Bot) -> None:
    response = await bot.slack_request(
        "command=%2Freplica", "application/x-www-form-urlencoded", timestamp=int(time.time()) - 600
    )
    assert response.status_code == 401


async def test_opens_the_form_then_fills_in_the_requesters_name(bot: Bot) -> None:
    _, view = await bot.open_form()
    opened = bot.slack.calls_to("views.open")[0].params
    assert opened["trigger_id"] == "1337.42.abcd"
    assert opened["view"]["callback_id"] == "replica_modal"
    block_ids = [b.get("block_id") for b in view["blocks"] if b["type"] == "input"]
    assert block_ids == [
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
    # views.open came before any other call of the command's (the trigger expires in 3 s)
    methods = [c.method for c in bot.slack.calls if c.method != "auth.test"]
    assert methods[:3] == ["views.open", "users.info", "views.update"]
    assert "I, Jane Doe, am currently speaking" in str(view["blocks"])


async def test_prefills_a_video_link_and_a_name(bot: Bot) -> None:
    _, view = await bot.open_form("Jane Sales https://cdn.example.com/jane.mp4")
    inputs = {b["block_id"]: b["element"] for b in view["blocks"] if b["type"] == "input"}
    assert inputs["replica_name"]["initial_value"] == "Jane Sales"
    assert inputs["train_video_url"]["initial_value"] == "https://cdn.example.com/jane.mp4"
    assert inputs["mode"]["initial_option"]["value"] == "video"


async def test_prefills_an_image_link_in_photo_mode(bot: Bot) -> None:
    _, view = await bot.open_form("https://cdn.example.com/jane.PNG")
    inputs = {b["block_id"]: b["element"] for b in view["blocks"] if b["type"] == "input"}
    assert inputs["mode"]["initial_option"]["value"] == "image"
    assert inputs["train_image_url"]["initial_value"] == "https://cdn.example.com/jane.PNG"
    assert "train_video_url" not in inputs


async def test_help_answers_ephemerally_without_a_form(bot: Bot) -> None:
    response = await bot.command("help")
    assert response.status_code == 200
    answer = response.json()
    assert answer["response_type"] == "ephemeral"
    assert "/replica" in answer["text"] + str(answer["blocks"])
    assert bot.slack.views == {}


async def test_form_still_opens_when_the_name_lookup_fails(bot: Bot) -> None:
    bot.slack.fail_next["users.info"] = ["user_not_found"]
    _, view = await bot.open_form()
    assert "[your full name]" in str(view["blocks"])


async def test_expired_trigger_tells_the_user(bot: Bot) -> None:
    bot.slack.fail_next["views.open"] = ["expired_trigger_id"]
    response = await bot.command()
    assert response.status_code == 200
    answer = await eventually(lambda: bot.slack.responses)
    assert "run /replica again" in answer[0]["text"]


async def test_unknown_callback_id_is_404(bot: Bot) -> None:
    view = {"id": "V9", "type": "modal", "callback_id": "someone_elses", "state": {"values": {}}}
    response = await bot.interaction("view_submission", view=view)
    assert response.status_code == 404


async def test_unparseable_payload_is_400(bot: Bot) -> None:
    response = await bot.slack_request("payload=not-json", "application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert bot.slack.views == {}


async def test_help_explains_who_is_on_camera(bot: Bot) -> None:
    answer = (await bot.command("help")).json()

    shown = str(answer["blocks"])
    assert "who is on camera" in shown and "what the replica is for" in shown
    assert "approve" in shown and "written consent" in shown
