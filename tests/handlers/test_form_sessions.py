"""The request form's sessions end to end: re-renders that race, private_metadata that stays
small, forms that outlive memory or a restart, and forms opened before sessions existed."""

from __future__ import annotations

import asyncio
import copy
import gc
import json
import sqlite3
import weakref
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from blocks.replica_modal import ModalContext, form_metadata, read_metadata
from domain.form import FormDraft
from handlers.form_sessions import PRUNE_EVERY_SECONDS, FormSessions
from storage import forms
from storage import replicas as store
from storage.database import Storage
from tests.conftest import Bot, eventually, next_action_ts
from tests.fakes.fake_slack import BOT_TOKEN, FakeSlack

VIDEO_BYTES = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40
OUT_OF_DATE = {"replica_name": "This form is out of date. Run /replica again."}
VIDEO = {
    "replica_name": "Jane – sales",
    "train_video_url": "https://cdn.example.com/jane.mp4",
    "intended_use": "Sales demos",
    "consent": True,
}


def inputs(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}


def mode_of(view: dict[str, Any]) -> str:
    return str(inputs(view)["mode"]["element"]["initial_option"]["value"])


async def stored_context(bot: Bot, view: dict[str, Any]) -> ModalContext | None:
    key = read_metadata(view["private_metadata"])
    assert isinstance(key, str)
    stored = await bot.services.storage.run(forms.load_form, key)
    return ModalContext.from_json(stored.context) if stored else None


async def until_the_name_is_kept(bot: Bot, view: dict[str, Any]) -> None:
    """Wait until the form's session knows the requester's name (the fill-in has run)."""
    for _ in range(500):
        context = await stored_context(bot, view)
        if context is not None and context.requester_name:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the requester's name never reached the form's session")


async def switch(
    bot: Bot, view_id: str, view: dict[str, Any], mode: str, **typed: Any
) -> dict[str, Any]:
    """Choose `mode` in `view` and return the form once the bot has re-rendered it."""
    response = await bot.choose_mode(view_id, view, mode, typed)
    assert response.status_code == 200
    await eventually(lambda: mode_of(bot.slack.views[view_id]) == mode)
    return bot.slack.views[view_id]


# -- re-renders that race ----------------------------------------------------------------------


async def test_a_click_during_the_name_lookup_is_kept_and_the_name_still_arrives(
    bot: Bot,
) -> None:
    lookup = bot.slack.hold("users.info", then_answer=True)
    assert (await bot.command()).status_code == 200
    await eventually(lambda: lookup.waiting)
    view_id, opened = bot.slack.latest_view()

    await switch(bot, view_id, opened, "image", replica_name="Jane")
    lookup.release()
    await until_the_name_is_kept(bot, opened)
    await bot.settle()

    photo = bot.slack.views[view_id]
    assert mode_of(photo) == "image"  # the fill-in did not bring the video fields back
    assert "train_image_url" in inputs(photo) and "train_video_url" not in inputs(photo)
    # The name was not lost either: switching back shows it, without asking Slack again.
    video = await switch(bot, view_id, photo, "video")
    assert "I, Jane Doe, am currently speaking" in str(video["blocks"])
    assert len(bot.slack.calls_to("users.info")) == 1


async def test_a_click_made_before_the_fill_in_landed_still_switches_the_mode(bot: Bot) -> None:
    lookup = bot.slack.hold("users.info", then_answer=True)
    await bot.command()
    await eventually(lambda: lookup.waiting)
    view_id, opened = bot.slack.latest_view()
    opened = copy.deepcopy(opened)  # the form as the user clicked in it
    lookup.release()
    await eventually(lambda: "Jane Doe" in str(bot.slack.views[view_id]["blocks"]))
    assert bot.slack.views[view_id]["hash"] != opened["hash"]

    # The click carries the hash of the form before the fill-in replaced it.
    photo = await switch(bot, view_id, opened, "image")

    assert "train_image_url" in inputs(photo)
    video = await switch(bot, view_id, photo, "video")
    assert "I, Jane Doe, am currently speaking" in str(video["blocks"])


async def test_a_click_delivered_late_never_undoes_a_newer_one(bot: Bot) -> None:
    view_id, view = await bot.open_form()
    to_photo, back_to_video = next_action_ts(), next_action_ts()

    # The user chose photo, then video again; Slack delivered the two the other way round.
    later = await bot.choose_mode(
        view_id, view, "video", {"replica_name": "Jane"}, action_ts=back_to_video
    )
    await eventually(
        lambda: inputs(bot.slack.views[view_id])["replica_name"]["element"].get("initial_value")
    )
    earlier = await bot.choose_mode(view_id, view, "image", {}, action_ts=to_photo)
    assert (later.status_code, earlier.status_code) == (200, 200)
    await bot.settle()
    await asyncio.sleep(0.1)  # time enough for a wrong re-render to land

    assert mode_of(bot.slack.views[view_id]) == "video"
    assert "train_video_url" in inputs(bot.slack.views[view_id])


async def test_re_renders_are_sent_without_a_hash_that_could_refuse_them(bot: Bot) -> None:
    view_id, view = await bot.open_form()
    await switch(bot, view_id, view, "image")

    updates = bot.slack.calls_to("views.update")
    assert updates and all(not call.params.get("hash") for call in updates)


async def test_a_member_s_slow_lookup_still_names_them_after_a_newer_click(bot: Bot) -> None:
    bot.slack.real_names["U2"] = "Sam Lee"
    view_id, view = await bot.open_form()
    await bot.choose_subject(view_id, view, "member", {})
    await eventually(lambda: "subject_user" in inputs(bot.slack.views[view_id]))
    view = bot.slack.views[view_id]
    lookup = bot.slack.hold("users.info", then_answer=True, only=lambda p: p.get("user") == "U2")

    assert (await bot.pick_member(view_id, view, "U2", {})).status_code == 200
    await eventually(lambda: lookup.waiting)
    # Meanwhile the user switches to a photo; the form's state holds the pick.
    photo = await switch(bot, view_id, view, "image", subject="member", subject_user="U2")
    assert "Sam Lee" not in str(photo["blocks"])
    lookup.release()

    # The pick itself is older than the switch, but what was learnt for it is kept.
    await eventually(lambda: "Sam Lee" in str(bot.slack.views[view_id]["blocks"]))
    assert mode_of(bot.slack.views[view_id]) == "image"
    video = await switch(
        bot, view_id, bot.slack.views[view_id], "video", subject="member", subject_user="U2"
    )
    assert "I, Sam Lee, am currently speaking" in str(video["blocks"])
    context = await stored_context(bot, video)
    assert context is not None and context.member_names == {"U2": "Sam Lee"}


# -- private_metadata stays small --------------------------------------------------------------


async def test_ten_files_with_long_cjk_names_open_switch_and_submit(bot: Bot) -> None:
    names = [f"{'動画' * 100}{number}.mp4" for number in range(10)]  # 200 CJK characters each
    files = [bot.slack.add_file(name, "video/mp4", VIDEO_BYTES) for name in names]
    message = {"type": "message", "user": "U1", "ts": "1700000100.000200", "files": files}
    assert (await bot.shortcut(message)).status_code == 200
    await eventually(lambda: bot.slack.views)
    await bot.settle_views()

    opened = bot.slack.calls_to("views.open")[0].params["view"]
    assert len(opened["private_metadata"]) <= 3000
    view_id, view = bot.slack.latest_view()
    options = inputs(view)["slack_file"]["element"]["options"]
    assert [o["value"] for o in options] == [f["id"] for f in files]
    photo = await switch(bot, view_id, view, "image")
    video = await switch(bot, view_id, photo, "video")
    chosen = files[6]
    response = await bot.submit(
        view_id,
        video,
        {
            "slack_file": chosen["id"],
            "replica_name": "Jane",
            "intended_use": "Sales demos",
            "consent": True,
        },
    )
    assert response.status_code == 200 and response.text == ""
    await bot.settle()

    record = await bot.services.storage.run(store.get_request, 1)
    assert (record.request.slack_file_id, record.request.slack_file_name) == (
        chosen["id"],
        names[6],
    )
    assert {d.file_id for d in bot.slack.download_requests} == {chosen["id"]}


@pytest.mark.parametrize("how", ["unknown key", "expired"])
async def test_a_form_without_a_kept_session_asks_to_start_again(bot: Bot, how: str) -> None:
    view_id, view = await bot.open_form()
    if how == "unknown key":
        view = {**view, "private_metadata": form_metadata("no-such-form")}
    else:
        key = read_metadata(view["private_metadata"])
        with sqlite3.connect(bot.settings.database_path) as db:
            db.execute(
                "UPDATE form_sessions SET updated_at = '2000-01-01T00:00:00.000+00:00' "
                "WHERE key = ?",
                [key],
            )
        await bot.restart()  # nothing left in memory either

    response = await bot.submit(view_id, view, VIDEO)

    assert response.status_code == 200
    assert response.json() == {"response_action": "errors", "errors": OUT_OF_DATE}
    await bot.settle()
    assert bot.tavus.creates == []


async def test_a_click_in_a_form_without_a_session_changes_nothing(bot: Bot) -> None:
    view_id, view = await bot.open_form()
    updates = len(bot.slack.calls_to("views.update"))
    lost = {**view, "private_metadata": form_metadata("no-such-form")}

    response = await bot.choose_mode(view_id, lost, "image", {})

    assert response.status_code == 200
    await bot.settle()
    await asyncio.sleep(0.1)
    assert len(bot.slack.calls_to("views.update")) == updates
    assert mode_of(bot.slack.views[view_id]) == "video"


# -- sessions outlive memory and restarts ------------------------------------------------------


async def test_a_form_outlives_a_restart(bot: Bot) -> None:
    view_id, view = await bot.open_form()
    await bot.restart()

    photo = await switch(bot, view_id, view, "image", train_video_url="https://x.example/a.mp4")
    video = await switch(bot, view_id, photo, "video")

    assert "I, Jane Doe, am currently speaking" in str(video["blocks"])
    link = inputs(video)["train_video_url"]["element"]["initial_value"]
    assert link == "https://x.example/a.mp4"  # the stash survived too
    response = await bot.submit(view_id, video, VIDEO)
    assert response.status_code == 200 and response.text == ""


async def test_only_recent_sessions_stay_in_memory(tmp_path: Path, fake_slack: FakeSlack) -> None:
    storage = Storage(tmp_path / "forms.db")
    await storage.open()
    client = AsyncWebClient(token=BOT_TOKEN, base_url=f"{fake_slack.url}/api/")
    sessions = FormSessions(storage, remember=2)
    try:
        first = await sessions.open(
            client, "t1", FormDraft(), ModalContext(channel_id="C1", requester_id="U1")
        )
        assert first is not None and first.view_id is not None
        key, view_id, gone = first.key, first.view_id, weakref.ref(first)
        del first
        for number in (2, 3):
            context = ModalContext(channel_id=f"C{number}", requester_id="U1")
            assert await sessions.open(client, f"t{number}", FormDraft(), context) is not None
        gc.collect()

        assert gone() is None  # two newer forms pushed it out of memory
        view = {"id": view_id, "private_metadata": form_metadata(key), "state": {"values": {}}}
        found = await sessions.find(view)
        assert found is not None and found.context.channel_id == "C1"  # read back from SQLite
    finally:
        await storage.close()


async def test_a_remembered_form_is_kept_out_of_the_garbage_collector_s_way(
    tmp_path: Path, fake_slack: FakeSlack
) -> None:
    """A session keeps the form Slack shows as one untracked bytes object, not as the view's
    ~30 dicts: 256 remembered forms made every collection walk thousands of them."""
    storage = Storage(tmp_path / "forms.db")
    await storage.open()
    client = AsyncWebClient(token=BOT_TOKEN, base_url=f"{fake_slack.url}/api/")
    sessions = FormSessions(storage)
    try:
        context = ModalContext(channel_id="C1", requester_id="U1")
        session = await sessions.open(client, "t1", FormDraft(), context)

        assert session is not None and isinstance(session.rendered, bytes)
        assert session.rendered is session.pickled()  # the cache's own copy, not another
        [opened] = fake_slack.calls_to("views.open")
        view = opened.params["view"]
        assert session.view(session.rendered) == (
            json.loads(view) if isinstance(view, str) else view
        )
    finally:
        await storage.close()


# -- forms opened before sessions existed ------------------------------------------------------


def before_sessions(view: dict[str, Any], **context: Any) -> dict[str, Any]:
    """`view` as the bot rendered it before sessions: the whole context in private_metadata."""
    metadata = {"channel_id": "C7", "requester_id": "U1", "requester_name": "Jane Doe", **context}
    return {**view, "private_metadata": json.dumps(metadata)}


async def test_a_form_opened_before_sessions_still_switches_mode(bot: Bot) -> None:
    view_id, view = await bot.open_form()

    photo = await switch(bot, view_id, before_sessions(view), "image")

    assert isinstance(read_metadata(photo["private_metadata"]), str)  # a session from now on
    context = await stored_context(bot, photo)
    assert context is not None and context.channel_id == "C7"
    video = await switch(bot, view_id, photo, "video")
    assert "I, Jane Doe, am currently speaking" in str(video["blocks"])


async def test_a_form_opened_before_sessions_still_submits(bot: Bot) -> None:
    view_id, view = await bot.open_form()

    response = await bot.submit(
        view_id, before_sessions(view, thread_ts="1700000000.000300"), VIDEO
    )

    assert response.status_code == 200 and response.text == ""
    await bot.settle()
    record = await bot.services.storage.run(store.get_request, 1)
    assert (record.origin.channel_id, record.origin.thread_ts) == ("C7", "1700000000.000300")


async def test_a_session_the_database_cannot_read_keeps_the_form_open(bot: Bot) -> None:
    view_id, view = await bot.open_form()
    await bot.restart()  # nothing in memory: the session must come from SQLite
    with sqlite3.connect(bot.settings.database_path) as db:  # the disk "fails" under the bot
        db.execute("ALTER TABLE form_sessions RENAME TO lost")

    click = await bot.choose_mode(view_id, view, "image", {})
    response = await bot.submit(view_id, view, VIDEO)

    assert click.status_code == 200
    assert "couldn't save" in response.json()["errors"]["replica_name"]
    await bot.settle()
    assert bot.tavus.creates == []
    assert mode_of(bot.slack.views[view_id]) == "video"


async def test_expired_sessions_are_pruned_at_the_first_form_then_now_and_then(
    tmp_path: Path, fake_slack: FakeSlack
) -> None:
    storage = Storage(tmp_path / "forms.db")
    await storage.open()
    client = AsyncWebClient(token=BOT_TOKEN, base_url=f"{fake_slack.url}/api/")
    now = [1000.0]
    sessions = FormSessions(storage, clock=lambda: now[0])
    context = ModalContext(channel_id="C1", requester_id="U1")

    async def expired(key: str) -> None:
        await storage.run(forms.save_form, key, context.to_json())
        await storage.run(
            lambda db: db.execute(
                "UPDATE form_sessions SET updated_at = '2000-01-01T00:00:00.000+00:00' "
                "WHERE key = ?",
                [key],
            )
        )

    async def kept() -> set[str]:
        rows = await storage.run(lambda db: db.execute("SELECT key FROM form_sessions").fetchall())
        return {row[0] for row in rows}

    try:
        await expired("old1")
        assert await sessions.open(client, "t1", FormDraft(), context) is not None
        assert "old1" not in await kept()  # the first form opened prunes

        await expired("old2")
        now[0] += PRUNE_EVERY_SECONDS - 1
        assert await sessions.open(client, "t2", FormDraft(), context) is not None
        assert "old2" in await kept()  # not every form: a transaction each was most of the cost
        assert await storage.run(forms.load_form, "old2") is None  # yet it reads as gone

        now[0] += 1
        assert await sessions.open(client, "t3", FormDraft(), context) is not None
        assert "old2" not in await kept()
    finally:
        await storage.close()
