"""Who may create, end to end: every door that opens the form asks first (REPLICA_CREATORS with
user ids and user groups, REPLICA_MONTHLY_LIMIT, REPLICA_ADMINS), and the submission asks again.

A refused requester gets an ephemeral answer saying why and whom to ask, no form opens, and
nothing is recorded or sent to Tavus."""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from domain.states import State
from replicas.access import GROUP_CHECK_SECONDS, next_month_start
from storage import replicas as store
from tests.conftest import Bot, BotFactory, eventually
from tests.handlers.test_file_shares import VIDEO_BYTES, buttons, upload_event

VIDEO = {
    "replica_name": "Jane",
    "mode": "video",
    "train_video_url": "https://cdn.example.com/jane.mp4",
    "model_name": "phoenix-4",
    "intended_use": "Sales demos",
    "consent": True,
}
DOORS = ["command", "upload_button", "shortcut"]
GROUPS = "usergroups.users.list"
_uploads = itertools.count(1)


async def knock(bot: Bot, door: str, user: str) -> None:
    """Ask for the form through `door` as `user` (each call a fresh upload or message)."""
    if door == "command":
        response = await bot.command(user=user)
    else:
        ts = f"1700000200.{next(_uploads):06d}"
        file = bot.slack.add_file("jane.mp4", "video/mp4", VIDEO_BYTES)
        if door == "upload_button":
            prompts = len(bot.slack.ephemerals)
            assert (await bot.event(upload_event([file], ts=ts, event_ts=ts))).status_code == 200
            await eventually(lambda: len(bot.slack.ephemerals) > prompts)
            button = buttons(bot.slack.ephemerals[-1].blocks)[0]
            response = await bot.click(button["action_id"], button["value"], user=user)
        else:
            message = {"type": "message", "user": "U2", "ts": ts, "files": [file]}
            response = await bot.shortcut(message, user=user)
    assert response.status_code == 200, response.text


async def refused_at(bot: Bot, door: str, user: str = "U1") -> dict[str, Any]:
    """Knock and return the ephemeral answer; no form opened meanwhile."""
    answers, views = len(bot.slack.responses), len(bot.slack.calls_to("views.open"))
    await knock(bot, door, user)
    await eventually(lambda: len(bot.slack.responses) > answers)
    answer = bot.slack.responses[-1]
    assert answer["response_type"] == "ephemeral"
    if door == "upload_button":
        assert answer["replace_original"] is False  # the prompt stays
    # The refusal comes before views.open, so none can follow it.
    assert len(bot.slack.calls_to("views.open")) == views
    return answer


async def opened_at(bot: Bot, door: str, user: str = "U1") -> tuple[str, dict[str, Any]]:
    """Knock and return the form that opened; nothing was said to the requester."""
    answers, views = len(bot.slack.responses), len(bot.slack.views)
    await knock(bot, door, user)
    await eventually(lambda: len(bot.slack.views) > views)
    await bot.settle_views()
    assert len(bot.slack.responses) == answers, bot.slack.responses[answers:]
    return bot.slack.latest_view()


async def requests_recorded(bot: Bot) -> int:
    return await bot.services.storage.run(lambda db: db.table("replica_requests").count)


# -- REPLICA_CREATORS: refused --------------------------------------------------------------


@pytest.mark.parametrize("door", DOORS)
async def test_someone_not_listed_is_refused_at_every_door(make_bot: BotFactory, door: str) -> None:
    bot = await make_bot(replica_creators=("U2",), replica_admins=("UADMIN1", "UADMIN2"))

    answer = await refused_at(bot, door, user="U1")

    assert "you aren't one of them" in answer["text"]
    assert "ask <@UADMIN1> or <@UADMIN2>" in answer["text"]
    assert bot.slack.calls_to(GROUPS) == []  # no user group listed: nothing to ask Slack
    assert bot.slack.views == {}


@pytest.mark.parametrize("door", DOORS)
async def test_someone_outside_the_listed_user_groups_is_refused_at_every_door(
    make_bot: BotFactory, door: str
) -> None:
    bot = await make_bot(replica_creators=("U9", "SSALES", "SEMPTY"))
    bot.slack.user_groups.update(SSALES=["U2", "U3"], SEMPTY=[])

    answer = await refused_at(bot, door, user="U1")

    assert "you aren't one of them" in answer["text"]
    assert "whoever runs this bot" in answer["text"]  # no REPLICA_ADMINS to name
    assert sorted(c.params["usergroup"] for c in bot.slack.calls_to(GROUPS)) == [
        "SEMPTY",
        "SSALES",
    ]
    assert bot.slack.views == {}


# -- REPLICA_CREATORS: allowed --------------------------------------------------------------


@pytest.mark.parametrize("door", DOORS)
async def test_a_member_of_a_listed_user_group_gets_the_form_at_every_door(
    make_bot: BotFactory, door: str
) -> None:
    bot = await make_bot(replica_creators=("U9", "SEMPTY", "SSALES"))
    bot.slack.user_groups.update(SSALES=["U2", "U1"], SEMPTY=[])

    view_id, view = await opened_at(bot, door, user="U1")

    response = await bot.submit(
        view_id,
        view,
        VIDEO if door == "command" else {"intended_use": "Sales demos", "consent": True},
    )
    assert response.status_code == 200 and response.text == ""
    await bot.settle()
    assert len(bot.tavus.creates) == 1


async def test_user_group_members_are_remembered_so_views_open_comes_first(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot(replica_creators=("SSALES",))
    bot.slack.user_groups["SSALES"] = ["U1"]
    await opened_at(bot, "command")
    before = len(bot.slack.calls)

    await opened_at(bot, "command")

    assert len(bot.slack.calls_to(GROUPS)) == 1  # the second door used what Slack said
    assert bot.slack.calls[before].method == "views.open"


async def test_a_user_listed_by_id_needs_no_slack_call_before_the_form(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot(replica_creators=("U1", "SSALES"))

    await opened_at(bot, "command")

    assert bot.slack.calls_to(GROUPS) == []
    methods = [c.method for c in bot.slack.calls if c.method != "auth.test"]
    assert methods[:3] == ["views.open", "users.info", "views.update"]


async def test_admins_may_always_create(make_bot: BotFactory) -> None:
    bot = await make_bot(
        replica_creators=("SSALES",), replica_admins=("U1",), replica_monthly_limit=1
    )
    for _ in range(2):
        view_id, view = await opened_at(bot, "command")
        assert (await bot.submit(view_id, view, VIDEO)).text == ""
    await bot.settle()

    assert len(bot.tavus.creates) == 2  # over the limit, and in no listed group
    assert bot.slack.calls_to(GROUPS) == []


# -- Slack cannot say who is in a group ------------------------------------------------------


@pytest.mark.parametrize("failure", ["http_500", "missing_scope", "no_such_subteam"])
async def test_when_slack_cannot_list_a_group_the_door_says_it_could_not_check(
    make_bot: BotFactory, failure: str
) -> None:
    bot = await make_bot(replica_creators=("SSALES",), replica_admins=("UADMIN1",))
    bot.slack.user_groups["SSALES"] = ["U1"]
    bot.slack.fail_next[GROUPS] = [failure]

    answer = await refused_at(bot, "command")

    assert "I couldn't check" in answer["text"] and "try again" in answer["text"]
    assert "<@UADMIN1>" in answer["text"]
    assert bot.slack.views == {}
    # A failure is not remembered: trying again asks Slack again.
    await opened_at(bot, "command")
    assert len(bot.slack.calls_to(GROUPS)) == 2


async def test_one_group_slack_cannot_list_does_not_refuse_a_member_of_another(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot(replica_creators=("SGONE", "SSALES"))  # SGONE: Slack knows no such
    bot.slack.user_groups["SSALES"] = ["U1"]

    await opened_at(bot, "command", user="U1")
    answer = await refused_at(bot, "command", user="U2")  # maybe in SGONE: cannot tell

    assert "I couldn't check" in answer["text"]


async def test_a_slow_answer_from_slack_is_a_refusal_in_time(make_bot: BotFactory) -> None:
    bot = await make_bot(replica_creators=("SSALES",))
    bot.slack.user_groups["SSALES"] = ["U1"]
    hold = bot.slack.hold(GROUPS, then_answer=True)
    started = time.monotonic()

    answer = await refused_at(bot, "command")

    # Within the trigger_id's ~3 s, so the requester hears at once rather than never.
    assert time.monotonic() - started < GROUP_CHECK_SECONDS + 1.0
    assert "I couldn't check" in answer["text"]
    hold.release()


# -- REPLICA_MONTHLY_LIMIT --------------------------------------------------------------------


@pytest.mark.parametrize("door", DOORS)
async def test_the_monthly_limit_allows_n_creates_and_refuses_the_next_at_every_door(
    make_bot: BotFactory, door: str
) -> None:
    bot = await make_bot(replica_monthly_limit=2, replica_admins=("UADMIN1",))
    for _ in range(2):
        view_id, view = await opened_at(bot, "command")
        assert (await bot.submit(view_id, view, VIDEO)).text == ""
    await bot.settle()

    answer = await refused_at(bot, door)

    first = next_month_start(datetime.now(UTC))
    assert "this month's limit of 2 replicas per person" in answer["text"]
    assert f"from {first.day} {first:%B %Y} (UTC)" in answer["text"]
    assert "ask <@UADMIN1>" in answer["text"]
    assert len(bot.tavus.creates) == 2
    # The limit is per requester.
    await opened_at(bot, door, user="U2")


async def test_the_limit_is_checked_again_at_submit(make_bot: BotFactory) -> None:
    bot = await make_bot(replica_monthly_limit=1, replica_admins=("UADMIN1",))
    first = await opened_at(bot, "command")
    second = await opened_at(bot, "command")  # both open before anything was created
    assert (await bot.submit(*first, VIDEO)).text == ""

    response = await bot.submit(*second, VIDEO)

    answer = response.json()
    assert answer["response_action"] == "errors"
    error = answer["errors"]["replica_name"]
    assert "this month's limit of 1 replica per person" in error
    assert "one of this bot's admins" in error and "<@" not in error  # a field is plain text
    await bot.settle()
    assert len(bot.tavus.creates) == 1
    assert await requests_recorded(bot) == 1


async def test_a_repeated_submission_at_the_limit_is_ignored_not_refused(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot(replica_monthly_limit=1)
    view_id, view = await opened_at(bot, "command")
    await bot.submit(view_id, view, VIDEO)

    again = await bot.submit(view_id, view, VIDEO)

    assert again.status_code == 200 and again.text == ""  # the form closes as before
    await bot.settle()
    assert len(bot.tavus.creates) == 1


async def test_a_create_tavus_refused_does_not_use_up_the_month(make_bot: BotFactory) -> None:
    bot = await make_bot(replica_monthly_limit=1)
    bot.tavus.answer_next_create(400, {"error": "Invalid training video"})
    view_id, view = await opened_at(bot, "command")
    await bot.submit(view_id, view, VIDEO)
    await bot.settle()
    assert (await bot.services.storage.run(store.get_request, 1)).state is State.NOT_CREATED

    view_id, view = await opened_at(bot, "command")
    assert (await bot.submit(view_id, view, VIDEO)).text == ""
    await bot.settle()
    assert len(bot.tavus.creates) == 2


# -- the configuration changed while a form was open ---------------------------------------


async def test_a_form_opened_before_the_creators_changed_is_refused_at_submit(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot()
    view_id, view = await opened_at(bot, "command")
    bot.settings = replace(bot.settings, replica_creators=("U2",), replica_admins=("UADMIN1",))
    await bot.restart()

    response = await bot.submit(view_id, view, VIDEO)

    error = response.json()["errors"]["replica_name"]
    assert "you aren't one of them" in error and "one of this bot's admins" in error
    await bot.settle()
    assert bot.tavus.creates == [] and await requests_recorded(bot) == 0


async def test_a_submission_slack_cannot_check_is_refused_and_not_recorded(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot()
    view_id, view = await opened_at(bot, "command")
    bot.settings = replace(bot.settings, replica_creators=("SSALES",))
    await bot.restart()
    bot.slack.user_groups["SSALES"] = ["U1"]
    bot.slack.fail_next[GROUPS] = ["http_500"]

    response = await bot.submit(view_id, view, VIDEO)

    assert "I couldn't check" in response.json()["errors"]["replica_name"]
    await bot.settle()
    assert bot.tavus.creates == [] and await requests_recorded(bot) == 0
    # Submitted again once Slack answers, the same form goes through.
    assert (await bot.submit(view_id, view, VIDEO)).text == ""
    await bot.settle()
    assert len(bot.tavus.creates) == 1


async def test_two_forms_submitted_at_once_cannot_both_pass_the_limit(make_bot: BotFactory) -> None:
    bot = await make_bot(replica_monthly_limit=1, replica_admins=("UADMIN1",))
    first = await opened_at(bot, "command")
    second = await opened_at(bot, "command")
    # Hold the database thread, so both submissions' checks are counted before either is
    # recorded: only the count in the recording transaction can tell them apart.
    busy = asyncio.create_task(bot.services.storage.run(lambda db: time.sleep(0.3)))
    await asyncio.sleep(0.01)

    answers = await asyncio.gather(bot.submit(*first, VIDEO), bot.submit(*second, VIDEO))

    await busy
    closed, refused = sorted((answer.text for answer in answers), key=len)
    assert closed == ""
    assert "this month's limit of 1 replica per person" in refused
    await bot.settle()
    assert len(bot.tavus.creates) == 1
    assert await requests_recorded(bot) == 1
