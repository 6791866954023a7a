"""App Home end to end: opening the tab publishes it (views.publish) with the viewer's
replicas, an admin's with everyone's a page at a time; a change to a replica re-publishes the
tabs that show it, at most every 30 s per user; New replica opens the request form, whose
status message goes to the user's DM with the bot."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlite_utils

from blocks.library import HOME_PAGE, NEW_REPLICA, PAGE_SIZE
from domain.request import Mode, ReplicaRequest, SlackOrigin
from domain.subject import Subject, SubjectKind
from replicas.home import HomeScreens
from storage import home, outbox
from storage import replicas as store
from storage.outbox import HOME_THROTTLE_SECONDS, OUTBOX
from tests.conftest import Bot, BotFactory, eventually
from tests.handlers.test_replica_form import VIDEO
from tests.handlers.test_slash_command import ADMIN, people, recorded

_EVENTS = itertools.count(1)
_VIEWS = itertools.count(1)


async def open_home(bot: Bot, user: str = "U1", *, tab: str = "home") -> None:
    response = await bot.event(
        {
            "type": "app_home_opened",
            "user": user,
            "channel": f"D{user}",
            "tab": tab,
            "event_ts": "1700000000.000100",
        },
        event_id=f"EvHome{next(_EVENTS)}",
    )
    assert response.status_code == 200


async def published(bot: Bot, user: str = "U1", count: int = 1) -> dict[str, Any]:
    """`user`'s Home once it has been published `count` times."""
    await eventually(lambda: bot.slack.home_publishes(user) >= count)
    await bot.settle()
    return bot.slack.homes[user]


def shown(view: dict[str, Any]) -> str:
    return json.dumps(view["blocks"], ensure_ascii=False)


def buttons(view: dict[str, Any], block_id: str) -> dict[str, str]:
    """text -> value of the buttons in the block `block_id`."""
    [block] = [b for b in view["blocks"] if b.get("block_id") == block_id]
    return {e["text"]["text"]: e.get("value", "") for e in block["elements"]}


async def home_click(bot: Bot, action_id: str, value: str = "", *, user: str = "U1") -> None:
    """A button on `user`'s Home tab (Slack sends the view, no channel and no response_url)."""
    view = {
        "id": f"VH{user}",
        "type": "home",
        "blocks": [],
        "private_metadata": "",
        "callback_id": "",
        "state": {"values": {}},
        "hash": "h1",
        "app_installed_team_id": "T1",
    }
    response = await bot.interaction(
        "block_actions",
        user=user,
        trigger_id="1337.49.home",
        container={"type": "view", "view_id": f"VH{user}"},
        view=view,
        actions=[
            {
                "type": "button",
                "action_id": action_id,
                "block_id": "home_actions",
                "value": value,
                "action_ts": "1700000000.3",
            }
        ],
    )
    assert response.status_code == 200


async def backdate_home(bot: Bot, user: str, seconds: float) -> None:
    """As if `user`'s Home had last been published `seconds` ago."""
    stamp = (datetime.now(UTC) - timedelta(seconds=seconds)).isoformat(timespec="milliseconds")

    def change(db: sqlite_utils.Database) -> None:
        db.execute(f"UPDATE {OUTBOX} SET sent_at = ? WHERE key = ?", [stamp, f"home:{user}"])

    await bot.services.storage.run(change)


async def home_row(bot: Bot, user: str) -> dict[str, Any]:
    def read(db: sqlite_utils.Database) -> dict[str, Any]:
        [row] = db.table(OUTBOX).rows_where("key = ?", [f"home:{user}"])
        return row

    row: dict[str, Any] = await bot.services.storage.run(read)
    return row


JANE = ReplicaRequest(
    replica_name="Jane – sales",
    mode=Mode.VIDEO,
    train_video_url="https://media.example/jane.mp4",
    subject=Subject(SubjectKind.ME, "U1", "Jane Doe"),
    intended_use="Sales demos",
)


# -- opening it ----------------------------------------------------------------------------------


async def test_home_shows_my_replicas_and_a_new_replica_button(bot: Bot) -> None:
    await people(bot)

    await open_home(bot)
    view = await published(bot)

    assert view["type"] == "home"
    text = shown(view)
    for name in ("Jane – sales", "Jane by Sam", "From Jane's clip"):
        assert name in text
    assert "Sam alone" not in text and "Everyone's" not in text
    [new] = [
        e
        for b in view["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == NEW_REPLICA
    ]
    assert new["text"]["text"] == "New replica"
    viewer = await bot.services.storage.run(home.viewer, "U1")
    assert viewer is not None and not viewer.is_admin


async def test_home_for_someone_without_replicas(bot: Bot) -> None:
    await open_home(bot, "U3")
    view = await published(bot, "U3")
    assert "No replicas yet" in shown(view)


async def test_the_messages_tab_publishes_nothing(bot: Bot) -> None:
    await open_home(bot, tab="messages")
    await bot.settle()
    assert not bot.slack.calls_to("views.publish")
    assert await bot.services.storage.run(home.viewer, "U1") is None


async def test_opening_it_again_publishes_at_once(bot: Bot) -> None:
    await open_home(bot)
    await published(bot)
    await recorded(bot, "Jane – later")  # written straight to the database: nothing asks

    await open_home(bot)
    view = await published(bot, count=2)

    assert "Jane – later" in shown(view)


async def admin_and_three_pages(make_bot: BotFactory) -> tuple[Bot, int]:
    """A bot with an admin, and someone else's requests filling two pages and part of a third."""
    bot = await make_bot(replica_admins=(ADMIN,))
    total = 2 * PAGE_SIZE + 5
    for number in range(total):
        await recorded(bot, f"Take {number}", requester="U2")
    return bot, total


async def test_an_admin_pages_through_everyones_replicas(make_bot: BotFactory) -> None:
    bot, total = await admin_and_three_pages(make_bot)

    await open_home(bot, ADMIN)
    view = await published(bot, ADMIN)
    text = shown(view)
    assert "Everyone's replicas (admin)" in text
    assert f"1–{PAGE_SIZE} of {total}" in text and f"*Take {total - 1}*" in text
    pager = buttons(view, "home_pager")
    assert list(pager) == ["Next"] and pager["Next"].startswith(f"{PAGE_SIZE}:")
    assert len(view["blocks"]) <= 100

    await home_click(bot, HOME_PAGE, pager["Next"], user=ADMIN)
    view = await published(bot, ADMIN, count=2)
    assert f"{PAGE_SIZE + 1}–{2 * PAGE_SIZE} of {total}" in shown(view)
    assert f"*Take {total - PAGE_SIZE - 1}*" in shown(view)
    assert f"*Take {total - PAGE_SIZE}*" not in shown(view)
    second = buttons(view, "home_pager")
    assert list(second) == ["Previous", "Next"] and second["Previous"] == "0"
    viewer = await bot.services.storage.run(home.viewer, ADMIN)
    assert viewer is not None and viewer.is_admin and viewer.everyone_offset == PAGE_SIZE
    assert viewer.everyone_before is not None

    await home_click(bot, HOME_PAGE, second["Next"], user=ADMIN)
    view = await published(bot, ADMIN, count=3)
    assert f"{2 * PAGE_SIZE + 1}–{total} of {total}" in shown(view) and "*Take 0*" in shown(view)
    third = buttons(view, "home_pager")
    assert list(third) == ["Previous"]

    await home_click(bot, HOME_PAGE, third["Previous"], user=ADMIN)  # back to the second page
    view = await published(bot, ADMIN, count=4)
    assert f"{PAGE_SIZE + 1}–{2 * PAGE_SIZE} of {total}" in shown(view)
    assert buttons(view, "home_pager") == second


async def test_a_new_request_moves_an_admins_page_down(make_bot: BotFactory) -> None:
    # The page stays where it was (the same replicas); what it says of its place follows.
    bot, total = await admin_and_three_pages(make_bot)
    await open_home(bot, ADMIN)
    view = await published(bot, ADMIN)
    await home_click(bot, HOME_PAGE, buttons(view, "home_pager")["Next"], user=ADMIN)
    view = await published(bot, ADMIN, count=2)
    await recorded(bot, "Newest", requester="U2")

    # As the outbox renders it when one of its replicas changes (opening the tab again
    # shows the first page).
    view = (await HomeScreens(bot.services.storage).view(ADMIN)).to_dict()

    text = shown(view)
    assert f"*Take {total - PAGE_SIZE - 1}*" in text and "Newest" not in text
    assert f"{PAGE_SIZE + 2}–{2 * PAGE_SIZE + 1} of {total + 1}" in text


@pytest.mark.parametrize("value", ["30:1", "10", "20:999999"])
async def test_a_page_past_the_end_or_a_stale_button_shows_the_first(
    make_bot: BotFactory, value: str
) -> None:
    # "30:1": older than the first request (nothing there); "10": a button published before
    # pages were marked by id; "20:999999": newer than any (nothing newer: the first page).
    bot = await make_bot(replica_admins=(ADMIN,))
    total = PAGE_SIZE + 5
    for number in range(total):
        await recorded(bot, f"Take {number}", requester="U2")

    await home_click(bot, HOME_PAGE, value, user=ADMIN)
    view = await published(bot, ADMIN)

    text = shown(view)
    assert f"1–{PAGE_SIZE} of {total}" in text and f"*Take {total - 1}*" in text
    assert list(buttons(view, "home_pager")) == ["Next"]


@pytest.mark.parametrize("value", ["10", "-5", "ten", "", "10:x", "x:10", "10:-1"])
async def test_paging_is_for_admins_and_takes_only_page_marks(
    make_bot: BotFactory, value: str
) -> None:
    bot = await make_bot(replica_admins=(ADMIN,))
    await open_home(bot)
    await published(bot)

    await home_click(bot, HOME_PAGE, value)  # U1 is no admin: nothing to page
    if value != "10":
        await home_click(bot, HOME_PAGE, value, user=ADMIN)  # not a page
    await bot.settle()

    assert bot.slack.home_publishes("U1") == 1 and bot.slack.home_publishes(ADMIN) == 0


# -- kept up to date -----------------------------------------------------------------------------


async def test_a_change_republishes_it_at_most_every_30_seconds(bot: Bot) -> None:
    await open_home(bot)
    await published(bot)
    await open_home(bot, "U3")  # someone the request does not concern
    await published(bot, "U3")
    await backdate_home(bot, "U1", HOME_THROTTLE_SECONDS + 1)

    # First change (the request recorded): the last publish was long enough ago.
    workflow = bot.services.workflow
    accepted = await workflow.accept("VH1", JANE, SlackOrigin("U1", "C1", "T1"))
    assert accepted is not None
    view = await published(bot, count=2)
    assert "Jane – sales" in shown(view) and "Sending to Tavus" in shown(view)

    # Two more changes at once (sent to Tavus: training; then ready): held back, one row.
    workflow.start_submission(accepted)
    await eventually(lambda: bot.tavus.creates)
    await bot.settle()
    bot.tavus.set_status("r0001", "completed")
    await bot.services.reconciler.round()
    await bot.settle()
    record = await bot.services.storage.run(store.get_request, accepted.request_id)
    assert record.state.value == "succeeded"
    assert bot.slack.home_publishes("U1") == 2
    row = await home_row(bot, "U1")
    assert row["state"] == "pending"
    held = datetime.fromisoformat(row["next_attempt_at"]) - datetime.fromisoformat(row["sent_at"])
    assert held == timedelta(seconds=HOME_THROTTLE_SECONDS)

    # 30 s on, it is published once, as the request is then.
    def due_now(db: sqlite_utils.Database) -> None:
        now = datetime.now(UTC).isoformat(timespec="milliseconds")
        db.execute(f"UPDATE {OUTBOX} SET next_attempt_at = ? WHERE key = 'home:U1'", [now])

    await bot.services.storage.run(due_now)
    bot.services.outbox.wake()
    view = await published(bot, count=3)
    await bot.settle()
    assert bot.slack.home_publishes("U1") == 3
    assert "Ready" in shown(view) and "Sending to Tavus" not in shown(view)
    assert bot.slack.home_publishes("U3") == 1  # not theirs: never re-published


async def test_an_admins_home_follows_everyones_changes(make_bot: BotFactory) -> None:
    bot = await make_bot(replica_admins=(ADMIN,))
    await open_home(bot, ADMIN)
    await published(bot, ADMIN)
    await backdate_home(bot, ADMIN, HOME_THROTTLE_SECONDS + 1)

    await bot.services.workflow.accept("VH2", JANE, SlackOrigin("U1", "C1", "T1"))

    view = await published(bot, ADMIN, count=2)
    assert "Jane – sales" in shown(view)


# -- New replica ---------------------------------------------------------------------------------


async def test_new_replica_opens_the_form_and_reports_in_my_dm(bot: Bot) -> None:
    await home_click(bot, NEW_REPLICA)
    await eventually(lambda: bot.slack.views)
    await bot.settle_views()
    view_id, view = bot.slack.latest_view()
    assert view["callback_id"] == "replica_modal"
    assert bot.slack.calls_to("views.open")[0].params["trigger_id"] == "1337.49.home"

    response = await bot.submit(view_id, view, VIDEO)
    assert response.status_code == 200 and response.text == ""
    await eventually(lambda: bot.tavus.creates)
    await bot.settle()

    # Posted to the user id, which Slack answers with the DM's D… id; kept for later edits.
    [root] = [m for m in bot.slack.messages_in("DU1") if m.thread_ts is None]
    assert "Jane – sales" in root.text or "Jane – sales" in json.dumps(root.blocks)
    assert root.updates  # edited in place once Tavus accepted it
    [record] = (await bot.services.storage.run(store.requests_of, "U1", limit=5))[0]
    assert record.origin.channel_id == "U1" and record.message_channel_id == "DU1"
    assert not bot.slack.messages_in("C1")


async def test_new_replica_uses_the_dm_id_once_known(bot: Bot) -> None:
    await home_click(bot, NEW_REPLICA)
    await eventually(lambda: bot.slack.views)
    await bot.settle_views()
    view_id, view = bot.slack.latest_view()
    await bot.submit(view_id, view, VIDEO)
    await bot.settle()
    # Learnt from an earlier post (here: a DM lane's answer records it).
    await bot.services.storage.run(outbox.enqueue_dm, "U1", "hello", {"text": "hi", "blocks": []})
    bot.services.outbox.wake()
    await bot.settle()

    await home_click(bot, NEW_REPLICA)
    await eventually(lambda: len(bot.slack.views) == 2)
    await bot.settle_views()
    view_id, view = bot.slack.latest_view()
    await bot.submit(view_id, view, {**VIDEO, "replica_name": "Second"})
    await eventually(lambda: len(bot.tavus.creates) == 2)
    await bot.settle()

    records, _ = await bot.services.storage.run(store.requests_of, "U1", limit=5)
    assert records[0].origin.channel_id == "DU1"


async def test_new_replica_refused_says_why_in_a_dialog(make_bot: BotFactory) -> None:
    bot = await make_bot(replica_creators=("U9",), replica_admins=(ADMIN,))

    await home_click(bot, NEW_REPLICA)

    await eventually(lambda: bot.slack.views)
    _, view = bot.slack.latest_view()
    assert view["type"] == "modal" and view.get("callback_id") != "replica_modal"
    assert f"<@{ADMIN}>" in shown(view)
