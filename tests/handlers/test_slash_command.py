"""`/replica` end to end: signed command in, views.open out; or, for a subcommand (help,
list, status, prompts), an answer only the asker sees, and never the form."""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import time
from typing import Any

import pytest
import sqlite_utils

from blocks.library import PAGE_SIZE
from domain.request import Mode, ReplicaRequest, SlackOrigin
from domain.subject import Subject, SubjectKind
from handlers import commands
from storage import replicas as store
from storage import uploads
from tests.conftest import Bot, BotFactory, eventually
from tests.handlers.test_file_shares import upload_event


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


# -- subcommands: list, status, prompts; a subcommand word is never a replica name ------------

ADMIN = "UADMIN"
_VIEWS = itertools.count(1)


async def recorded(
    bot: Bot,
    name: str,
    *,
    requester: str = "U1",
    subject: str | None = None,
    owner: str | None = None,
) -> int:
    """A request in the database, as the form's submission records it (nothing posted)."""
    request = ReplicaRequest(
        replica_name=name,
        mode=Mode.VIDEO,
        train_video_url="https://media.example/video.mp4",
        subject=Subject(SubjectKind.MEMBER, subject, "Sam Roe")
        if subject
        else Subject(SubjectKind.ME, requester, "Jane Doe"),
        slack_file_owner=owner,
        intended_use="Demos",
    )
    origin = SlackOrigin(requester_id=requester, channel_id="C1", team_id="T1")

    def insert(db: sqlite_utils.Database) -> int | None:
        return store.insert_request(
            db,
            view_id=f"VL{next(_VIEWS)}",
            request=request,
            origin=origin,
            callback_token_hash=secrets.token_hex(16),
        )

    request_id = await bot.services.storage.run(insert)
    assert request_id is not None
    return request_id


async def answer(bot: Bot, text: str, *, user: str = "U1") -> dict[str, Any]:
    """`/replica text`: the ephemeral answer it is acknowledged with."""
    response = await bot.command(text, user=user)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    assert found["response_type"] == "ephemeral"
    return found


def shown(found: dict[str, Any]) -> str:
    return json.dumps([found.get("text"), found.get("blocks")], ensure_ascii=False)


async def people(bot: Bot) -> dict[str, int]:
    """Requests by U1, of U1, from U1's footage, and one of nobody U1 knows."""
    return {
        "mine": await recorded(bot, "Jane – sales"),
        "of me": await recorded(bot, "Jane by Sam", requester="U2", subject="U1"),
        "my footage": await recorded(bot, "From Jane's clip", requester="U2", owner="U1"),
        "other": await recorded(bot, "Sam alone", requester="U2"),
    }


async def test_list_shows_my_replicas_only(bot: Bot) -> None:
    await people(bot)

    found = await answer(bot, "list")

    text = shown(found)
    for name in ("Jane – sales", "Jane by Sam", "From Jane's clip"):
        assert name in text
    assert "Sam alone" not in text
    assert found["text"] == "Your replicas"
    assert len(found["blocks"]) <= 50
    assert bot.slack.views == {}


async def test_list_with_nothing_yet_says_how_to_start(bot: Bot) -> None:
    found = await answer(bot, "list")
    assert "no replicas yet" in shown(found) and "/replica" in shown(found)


async def test_list_all_is_everyones_for_an_admin(make_bot: BotFactory) -> None:
    bot = await make_bot(replica_admins=(ADMIN,))
    await people(bot)

    found = await answer(bot, "list all", user=ADMIN)

    text = shown(found)
    for name in ("Jane – sales", "Jane by Sam", "From Jane's clip", "Sam alone"):
        assert name in text
    assert found["text"] == "Everyone's replicas"


async def test_list_all_is_refused_to_others_naming_the_admins(make_bot: BotFactory) -> None:
    bot = await make_bot(replica_admins=(ADMIN,))
    await people(bot)

    found = await answer(bot, "list all")

    assert "admins" in found["text"] and f"<@{ADMIN}>" in found["text"]
    assert "Sam alone" not in shown(found)


async def test_list_many_shows_a_page_and_points_to_home(bot: Bot) -> None:
    for number in range(PAGE_SIZE + 5):
        await recorded(bot, f"Take {number}")

    found = await answer(bot, "list")

    text = shown(found)
    assert f"*Take {PAGE_SIZE + 4}*" in text and "*Take 0*" not in text  # newest first
    assert f"1–{PAGE_SIZE} of {PAGE_SIZE + 5}" in text and "/replica status <name>" in text
    assert len(found["blocks"]) <= 50


async def test_status_by_name_finds_mine_in_any_case(bot: Bot) -> None:
    await people(bot)

    found = await answer(bot, "status jane BY sam")

    assert "Jane by Sam" in shown(found) and "Sam alone" not in shown(found)
    assert found["text"] == "The replica matching “jane BY sam”"


async def test_status_takes_the_whole_name(bot: Bot) -> None:
    # Found by the name's index: the whole name (any case), not a part of it.
    await people(bot)

    found = await answer(bot, "status by sam")

    assert found["text"].startswith("No replica of yours is named “by sam”")
    assert not found.get("blocks")


async def test_status_by_replica_id(bot: Bot) -> None:
    workflow = bot.services.workflow
    request = ReplicaRequest(
        replica_name="Jane – sales",
        mode=Mode.VIDEO,
        train_video_url="https://media.example/jane.mp4",
        subject=Subject(SubjectKind.ME, "U1", "Jane Doe"),
        intended_use="Demos",
    )
    accepted = await workflow.accept("VS1", request, SlackOrigin("U1", "C1", "T1"))
    assert accepted is not None
    workflow.start_submission(accepted)
    await eventually(lambda: bot.tavus.creates)
    await bot.settle()
    await recorded(bot, "Another")

    found = await answer(bot, "status r0001")

    assert "Jane – sales" in shown(found) and "Training" in shown(found)
    assert "Another" not in shown(found)


async def test_status_with_no_match_says_so(bot: Bot) -> None:
    await people(bot)

    found = await answer(bot, "status Sam alone")  # someone else's: not found for U1

    assert found["text"] == (
        "No replica of yours is named “Sam alone” or has that replica id. `/replica list` lists "
        "yours."
    )
    assert not found.get("blocks")


async def test_an_admins_status_searches_everyones(make_bot: BotFactory) -> None:
    bot = await make_bot(replica_admins=(ADMIN,))
    await people(bot)

    found = await answer(bot, "status Sam alone", user=ADMIN)

    assert "Sam alone" in shown(found)


async def test_status_with_several_matches_lists_ten_at_most(bot: Bot) -> None:
    # Names are not unique: the newest PAGE_SIZE, and how to find one of them.
    for _ in range(3):
        await recorded(bot, "Demo")
    found = await answer(bot, "status demo")
    assert found["text"] == "3 replicas match “demo”"
    assert shown(found).count("*Demo*") == 3

    for _ in range(PAGE_SIZE):
        await recorded(bot, "DEMO")
    found = await answer(bot, "status Demo")
    text = shown(found)
    assert found["text"].startswith(f"More than {PAGE_SIZE} replicas match “Demo”")
    assert text.count("*DEMO*") == PAGE_SIZE and "*Demo*" not in text  # the newest
    assert "type its replica id" in text


async def test_status_text_is_escaped(bot: Bot) -> None:
    # Slack sends & < > as entities; the query is read as typed and shown escaped.
    await recorded(bot, "Tom & Jerry <3")

    found = await answer(bot, "status Tom &amp; Jerry &lt;3")

    assert "Tom &amp; Jerry &lt;3" in found["text"] and "<3" not in found["text"]
    assert found["text"].startswith("The replica matching")


@pytest.mark.parametrize(
    ("text", "usage"),
    [
        ("status", "Usage: `/replica status"),
        ("status   ", "Usage: `/replica status"),
        ("list mine", "Usage: `/replica list`"),
        ("list all please", "Usage: `/replica list`"),
        ("prompts", "Usage: `/replica prompts on`"),
        ("prompts off", "Usage: `/replica prompts on`"),
        ("Prompts maybe", "Usage: `/replica prompts on`"),
    ],
)
async def test_wrong_usage_gets_a_usage_line_not_the_form(bot: Bot, text: str, usage: str) -> None:
    found = await answer(bot, text)

    assert found["text"].startswith(usage)
    assert bot.slack.views == {} and not bot.slack.calls_to("views.open")


@pytest.mark.parametrize(
    "text", [*sorted(commands.SUBCOMMANDS), "LIST", "Status", "Help me", "list all", "audit x"]
)
async def test_a_subcommand_word_never_opens_the_form(bot: Bot, text: str) -> None:
    response = await bot.command(text)

    assert response.status_code == 200
    assert response.json()["response_type"] == "ephemeral"
    await bot.settle()
    assert not bot.slack.calls_to("views.open")


async def test_a_name_that_only_contains_a_subcommand_word_opens_the_form(bot: Bot) -> None:
    _, view = await bot.open_form("Listening Jane")
    inputs = {b["block_id"]: b["element"] for b in view["blocks"] if b["type"] == "input"}
    assert inputs["replica_name"]["initial_value"] == "Listening Jane"


async def test_prompts_on_undoes_dont_ask_me_again(bot: Bot) -> None:
    storage = bot.services.storage
    await storage.run(uploads.set_prompts, "U1", wanted=False)
    video = bot.slack.add_file("jane.mp4", "video/mp4", b"video")
    await bot.event(upload_event([video]), event_id="EvP1")
    await bot.settle()
    assert bot.slack.ephemerals == []  # opted out: no offer

    found = await answer(bot, "prompts on")

    assert found["text"].startswith("Done: I'll offer to create a replica again")
    assert await storage.run(uploads.prompts_wanted, "U1")
    again = await answer(bot, "prompts ON")
    assert again["text"].startswith("You already get those offers")
    await bot.event(upload_event([video], ts="1700000200.000300"), event_id="EvP2")
    offers = await eventually(lambda: bot.slack.ephemerals)
    assert offers[0].user == "U1"


async def test_a_slow_database_answers_by_response_url(
    bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    await recorded(bot, "Jane – sales")
    monkeypatch.setattr(commands, "ANSWER_SECONDS", 0.05)
    storage = bot.services.storage
    busy = asyncio.ensure_future(storage.run(lambda db: time.sleep(0.5)))
    await asyncio.sleep(0.05)  # the database thread is busy now

    response = await bot.command("list")

    assert response.status_code == 200 and response.text == ""  # acknowledged in time
    answers = await eventually(lambda: bot.slack.responses)
    assert answers[0]["response_type"] == "ephemeral"
    assert "Jane – sales" in json.dumps(answers[0]["blocks"], ensure_ascii=False)
    await busy


async def test_help_lists_every_subcommand(make_bot: BotFactory) -> None:
    bot = await make_bot(replica_admins=(ADMIN,))

    everyone = shown(await answer(bot, "help"))
    admin = shown(await answer(bot, "help", user=ADMIN))

    for command in ("/replica list", "/replica status", "/replica prompts on", "/replica help"):
        assert command in everyone and command in admin
    assert "/replica list all" not in everyone and "/replica audit" not in everyone
    assert "/replica list all" in admin and "/replica audit" in admin
