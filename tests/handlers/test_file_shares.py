"""File shares end to end: the upload prompt, the shortcut, the form, the relay to Tavus."""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest

from blocks.upload_prompt import CREATE_FROM_UPLOAD, DISMISS_PROMPT, PROMPTS_OFF
from domain.states import State
from handlers.file_shares import NO_MEDIA
from settings import UploadPrompts
from storage import replicas as store
from storage import uploads
from tests.conftest import PUBLIC_URL, Bot, BotFactory, eventually

VIDEO_BYTES = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 400
UPLOAD_TS = "1700000100.000200"


def upload_event(files: list[dict[str, Any]], **overrides: Any) -> dict[str, Any]:
    return {
        "type": "message",
        "subtype": "file_share",
        "channel": "C1",
        "channel_type": "channel",
        "user": "U1",
        "text": "",
        "ts": UPLOAD_TS,
        "event_ts": UPLOAD_TS,
        "files": files,
        **overrides,
    }


def buttons(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for b in blocks if b["type"] == "actions" for e in b["elements"]]


async def prompted(bot: Bot, files: list[dict[str, Any]]) -> dict[str, Any]:
    """Share `files` and return the button of the prompt the uploader gets."""
    response = await bot.event(upload_event(files))
    assert response.status_code == 200
    await eventually(lambda: bot.slack.ephemerals)
    return buttons(bot.slack.ephemerals[-1].blocks)[0]


async def open_from_prompt(bot: Bot, button: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    response = await bot.click(button["action_id"], button["value"])
    assert response.status_code == 200
    await eventually(lambda: bot.slack.views)
    await bot.settle_views()
    return bot.slack.latest_view()


def inputs(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}


async def test_a_shared_video_gets_a_prompt_for_the_uploader(bot: Bot) -> None:
    file = bot.slack.add_file("jane_intro.mp4", "video/mp4", VIDEO_BYTES)
    button = await prompted(bot, [file])
    [prompt] = bot.slack.ephemerals
    assert (prompt.channel, prompt.user) == ("C1", "U1")
    assert button["text"]["text"] == "Create a replica from jane_intro.mp4"
    assert button["action_id"] == CREATE_FROM_UPLOAD


async def test_the_whole_way_from_upload_to_result_in_the_uploads_thread(bot: Bot) -> None:
    file = bot.slack.add_file("jane_intro.mp4", "video/mp4", VIDEO_BYTES)
    view_id, view = await open_from_prompt(bot, await prompted(bot, [file]))
    fields = inputs(view)
    assert "train_video_url" not in fields  # the Slack file stands in for the link
    assert fields["slack_file"]["element"]["initial_option"]["value"] == file["id"]
    assert fields["replica_name"]["element"]["initial_value"] == "jane intro"

    response = await bot.submit(
        view_id, view, {"slack_file": file["id"], "intended_use": "Sales demos", "consent": True}
    )
    assert response.status_code == 200 and response.text == ""
    await bot.settle()

    [create] = bot.tavus.creates
    url = create["train_video_url"]
    assert url.startswith(f"{PUBLIC_URL}/media/") and url.endswith("/jane_intro.mp4")
    # Anyone holding the link (Tavus) gets the very bytes that were shared, no token needed.
    served = await bot.http.get(bot.url + urlsplit(url).path)
    assert served.status_code == 200 and served.headers["content-type"] == "video/mp4"
    assert hashlib.sha256(served.content).digest() == hashlib.sha256(VIDEO_BYTES).digest()
    # The conversation lives in the upload's thread.
    root = bot.slack.messages_in("C1")[0]
    assert root.thread_ts == UPLOAD_TS and "jane_intro.mp4" in str(root.blocks)
    bot.tavus.set_status("r0001", "completed")
    await bot.tavus_callback(bot.callback_token(), {"replica_id": "r0001", "status": "ready"})
    await bot.settle()
    reply = bot.slack.messages_in("C1")[-1]
    assert reply.thread_ts == UPLOAD_TS and "is ready" in reply.text


async def test_no_prompt_for_a_pdf_or_for_plain_messages(bot: Bot) -> None:
    pdf = bot.slack.add_file("deck.pdf", "application/pdf", b"%PDF-1.7")
    assert (await bot.event(upload_event([pdf]), event_id="Ev1")).status_code == 200
    plain = {"type": "message", "channel": "C1", "user": "U1", "text": "hi", "ts": "1.2"}
    assert (await bot.event(plain, event_id="Ev2")).status_code == 200
    # A later upload's prompt arrives; the PDF's never did.
    photo = bot.slack.add_file("jane.png", "image/png", b"\x89PNG")
    await prompted(bot, [photo])
    assert len(bot.slack.ephemerals) == 1


async def test_every_subscribed_event_is_acknowledged(bot: Bot) -> None:
    events: list[dict[str, Any]] = [
        {
            "type": "message",
            "channel": "D1",
            "channel_type": "im",
            "user": "U1",
            "text": "x",
            "ts": "1.1",
        },
        {"type": "message", "subtype": "message_changed", "channel": "C1", "ts": "1.3"},
        {
            "type": "file_shared",
            "channel_id": "C1",
            "file_id": "F1",
            "user_id": "U1",
            "file": {"id": "F1"},
            "event_ts": "1.4",
        },
    ]
    for number, event in enumerate(events):
        response = await bot.event(event, event_id=f"Ev{number}")
        assert response.status_code == 200, event


async def test_a_retried_event_and_file_shared_make_one_prompt(bot: Bot) -> None:
    file = bot.slack.add_file("jane.mp4", "video/mp4", VIDEO_BYTES)
    event = upload_event([file])
    await bot.event(event)
    await bot.event(event, retry_num=1)
    await bot.event(
        {
            "type": "file_shared",
            "channel_id": "C1",
            "file_id": file["id"],
            "user_id": "U1",
            "file": {"id": file["id"]},
            "event_ts": UPLOAD_TS,
        },
        event_id="Ev9",
    )
    await bot.event(event, retry_num=2)
    await eventually(lambda: bot.slack.ephemerals)
    await bot.restart()  # the memory of the upload is on disk
    await bot.event(event, retry_num=3)
    await bot.settle()
    assert len(bot.slack.ephemerals) == 1


async def test_a_slack_connect_stub_is_looked_up(bot: Bot) -> None:
    stub = bot.slack.add_file("jane.mov", "video/quicktime", VIDEO_BYTES, connect_stub=True)
    assert "mimetype" not in stub
    button = await prompted(bot, [stub])
    assert button["text"]["text"] == "Create a replica from jane.mov"


@pytest.mark.parametrize("where", [{"channel": "D1", "channel_type": "im"}, {"channel": "D7"}])
async def test_in_a_dm_a_refused_file_says_what_tavus_needs_and_offers_no_button(
    bot: Bot, where: dict[str, str]
) -> None:
    big = bot.slack.add_file("long.mp4", "video/mp4", b"x", size=800_000_000)
    await bot.event(upload_event([big], **where))
    await eventually(lambda: bot.slack.ephemerals)
    [prompt] = bot.slack.ephemerals
    assert prompt.channel == where["channel"]
    assert "800.0 MB" in prompt.text and "up to 750 MB" in prompt.text
    assert [b["action_id"] for b in buttons(prompt.blocks)] == [DISMISS_PROMPT, PROMPTS_OFF]
    assert bot.slack.download_requests == []


async def test_in_a_channel_a_file_tavus_would_refuse_gets_no_prompt(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="handlers.file_shares")
    big = bot.slack.add_file("long.mp4", "video/mp4", b"x", size=800_000_000)
    gif = bot.slack.add_file("wave.gif", "image/gif", b"GIF89a")
    await bot.event(upload_event([big, gif], ts="1700000100.000300"), event_id="Ev1")
    # A later upload's prompt arrives; the refused files' never did, and nothing was recorded.
    photo = bot.slack.add_file("jane.png", "image/png", b"\x89PNG")
    await bot.event(upload_event([photo]), event_id="Ev2")
    await eventually(lambda: bot.slack.ephemerals)
    await bot.settle()
    [prompt] = bot.slack.ephemerals
    assert "jane.png" in prompt.text + str(prompt.blocks) and "long.mp4" not in prompt.text
    assert await uploads_recorded(bot) == [f"C1:{UPLOAD_TS}"]
    [logged] = [r for r in caplog.records if "no file Tavus would take" in r.getMessage()]
    assert logged.levelno == logging.INFO and "800.0 MB" in logged.getMessage()
    # Asked for by the shortcut, the refusal is still explained (in the form).
    message = {"type": "message", "user": "U1", "ts": "1700000100.000300", "files": [big]}
    await bot.shortcut(message)
    await eventually(lambda: bot.slack.views)
    await bot.settle_views()
    view_id, view = bot.slack.latest_view()
    response = await bot.submit(
        view_id, view, {"slack_file": big["id"], "intended_use": "Sales demos", "consent": True}
    )
    assert "up to 750 MB" in response.json()["errors"]["slack_file"]


async def test_in_a_channel_a_refused_file_beside_a_usable_one_is_explained(bot: Bot) -> None:
    gif = bot.slack.add_file("wave.gif", "image/gif", b"GIF89a")
    video = bot.slack.add_file("jane.mp4", "video/mp4", VIDEO_BYTES)
    button = await prompted(bot, [gif, video])
    assert button["text"]["text"] == "Create a replica from jane.mp4"
    assert "wave.gif" in bot.slack.ephemerals[0].text


async def uploads_recorded(bot: Bot) -> list[str]:
    rows = await bot.services.storage.run(lambda db: list(db["slack_uploads"].rows))
    return [f"{row['channel_id']}:{row['message_ts']}" for row in rows]


async def test_dont_ask_me_again_stops_the_prompts_for_that_user_only(bot: Bot) -> None:
    file = bot.slack.add_file("jane.mp4", "video/mp4", VIDEO_BYTES)
    await prompted(bot, [file])
    [_, _, off] = buttons(bot.slack.ephemerals[0].blocks)
    assert (off["action_id"], off["text"]["text"]) == (PROMPTS_OFF, "Don't ask me again")

    response = await bot.click(PROMPTS_OFF, off.get("value", ""))
    assert response.status_code == 200
    await eventually(lambda: bot.slack.responses)
    [answer] = bot.slack.responses
    assert answer["replace_original"] is True
    assert "/replica prompts on" in answer["text"]
    assert "“Create replica” shortcut" in answer["text"] and "still works" in answer["text"]
    assert not buttons(answer["blocks"])
    assert not await bot.services.storage.run(uploads.prompts_wanted, "U1")

    # U1's next upload: no prompt, nothing recorded. U2's still gets one.
    again = bot.slack.add_file("take2.mp4", "video/mp4", VIDEO_BYTES)
    await bot.event(upload_event([again], ts="1700000200.000100"), event_id="Ev2")
    await bot.event(upload_event([again], ts="1700000200.000200", user="U2"), event_id="Ev3")
    await eventually(lambda: len(bot.slack.ephemerals) == 2)
    await bot.settle()
    assert [(e.user, e.channel) for e in bot.slack.ephemerals] == [("U1", "C1"), ("U2", "C1")]
    assert "C1:1700000200.000100" not in await uploads_recorded(bot)
    # Not in a DM with the bot either.
    await bot.event(upload_event([again], channel="D1", channel_type="im"), event_id="Ev4")
    # The shortcut still opens the form for U1.
    message = {"type": "message", "user": "U1", "ts": "1700000200.000100", "files": [again]}
    assert (await bot.shortcut(message)).status_code == 200
    await eventually(lambda: bot.slack.views)
    await bot.settle_views()
    _, view = bot.slack.latest_view()
    assert inputs(view)["slack_file"]["element"]["initial_option"]["value"] == again["id"]
    assert len(bot.slack.ephemerals) == 2


async def test_opting_out_survives_a_restart(bot: Bot) -> None:
    await bot.click(PROMPTS_OFF)
    await eventually(lambda: bot.slack.responses)
    await bot.restart()
    file = bot.slack.add_file("jane.mp4", "video/mp4", VIDEO_BYTES)
    await bot.event(upload_event([file]), event_id="Ev2")
    await bot.event(upload_event([file], ts="1700000300.000100", user="U2"), event_id="Ev3")
    await eventually(lambda: bot.slack.ephemerals)
    await bot.settle()
    assert [e.user for e in bot.slack.ephemerals] == ["U2"]


@pytest.mark.parametrize("setting", ["dm", UploadPrompts.DM])
async def test_upload_prompts_dm_prompts_only_in_a_dm_with_the_bot(
    make_bot: BotFactory, setting: str
) -> None:
    bot = await make_bot(upload_prompts=setting)
    file = bot.slack.add_file("jane.mp4", "video/mp4", VIDEO_BYTES)
    await bot.event(upload_event([file]), event_id="Ev1")  # a channel
    await bot.event(upload_event([file], channel="G1", channel_type="group"), event_id="Ev2")
    await bot.event(upload_event([file], channel="D1", channel_type="im"), event_id="Ev3")
    await eventually(lambda: bot.slack.ephemerals)
    await bot.settle()
    [prompt] = bot.slack.ephemerals
    assert prompt.channel == "D1"
    assert await uploads_recorded(bot) == [f"D1:{UPLOAD_TS}"]


async def test_upload_prompts_off_prompts_nobody_and_the_shortcut_still_works(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot(upload_prompts=UploadPrompts.OFF)
    file = bot.slack.add_file("jane.mp4", "video/mp4", VIDEO_BYTES)
    await bot.event(upload_event([file]), event_id="Ev1")
    await bot.event(upload_event([file], channel="D1", channel_type="im"), event_id="Ev2")
    message = {"type": "message", "user": "U1", "ts": UPLOAD_TS, "files": [file]}
    await bot.shortcut(message)
    await eventually(lambda: bot.slack.views)  # the shortcut came after both uploads
    await bot.settle_views()
    await bot.settle()
    assert bot.slack.ephemerals == [] and await uploads_recorded(bot) == []
    assert bot.slack.calls_to("chat.postEphemeral") == []


async def test_an_oversized_file_is_refused_in_the_form_before_any_download(bot: Bot) -> None:
    file = bot.slack.add_file("long.mp4", "video/mp4", b"x", size=800_000_000)
    message = {"type": "message", "user": "U2", "ts": UPLOAD_TS, "files": [file]}
    await bot.shortcut(message)
    await eventually(lambda: bot.slack.views)
    await bot.settle_views()
    view_id, view = bot.slack.latest_view()
    response = await bot.submit(
        view_id, view, {"slack_file": file["id"], "intended_use": "Sales demos", "consent": True}
    )
    errors = response.json()["errors"]
    assert "up to 750 MB" in errors["slack_file"]
    assert bot.slack.download_requests == [] and bot.tavus.creates == []


async def test_the_shortcut_opens_the_form_and_lets_the_user_choose(bot: Bot) -> None:
    video = bot.slack.add_file("take1.mp4", "video/mp4", VIDEO_BYTES)
    other = bot.slack.add_file("take2.webm", "video/webm", VIDEO_BYTES)
    photo = bot.slack.add_file("face.jpg", "image/jpeg", b"\xff\xd8\xff")
    message = {"type": "message", "user": "U2", "ts": UPLOAD_TS, "files": [video, other, photo]}
    assert (await bot.shortcut(message)).status_code == 200
    await eventually(lambda: bot.slack.views)
    await bot.settle_views()
    view_id, view = bot.slack.latest_view()
    options = inputs(view)["slack_file"]["element"]["options"]
    assert [o["value"] for o in options] == [video["id"], other["id"]]
    response = await bot.submit(
        view_id,
        view,
        {
            "slack_file": other["id"],
            "replica_name": "Take two",
            "intended_use": "Sales demos",
            "consent": True,
        },
    )
    assert response.status_code == 200
    await bot.settle()
    assert bot.tavus.creates[0]["train_video_url"].endswith("/take2.webm")
    record = await bot.services.storage.run(store.get_request, 1)
    assert record.origin.thread_ts == UPLOAD_TS and record.request.slack_file_id == other["id"]


async def test_the_shortcut_on_a_message_without_media_says_so(bot: Bot) -> None:
    message = {"type": "message", "user": "U2", "ts": UPLOAD_TS, "text": "hello"}
    assert (await bot.shortcut(message)).status_code == 200
    await eventually(lambda: bot.slack.responses)
    assert bot.slack.responses[-1]["text"] == NO_MEDIA
    assert bot.slack.views == {}


async def test_the_user_may_switch_to_a_link(bot: Bot) -> None:
    file = bot.slack.add_file("jane.mp4", "video/mp4", VIDEO_BYTES)
    view_id, view = await open_from_prompt(bot, await prompted(bot, [file]))
    await bot.press_in_form(view_id, view, "use_link", {})
    await eventually(lambda: "train_video_url" in inputs(bot.slack.views[view_id]))
    view = bot.slack.views[view_id]
    # ...and back again, then to the link for good.
    await bot.press_in_form(view_id, view, "use_slack_file", {})
    await eventually(lambda: "slack_file" in inputs(bot.slack.views[view_id]))
    await bot.press_in_form(view_id, bot.slack.views[view_id], "use_link", {})
    await eventually(lambda: "train_video_url" in inputs(bot.slack.views[view_id]))
    view = bot.slack.views[view_id]
    await bot.submit(
        view_id,
        view,
        {
            "train_video_url": "https://cdn.example.com/other.mp4",
            "intended_use": "Sales demos",
            "consent": True,
        },
    )
    await bot.settle()
    assert bot.tavus.creates[0]["train_video_url"] == "https://cdn.example.com/other.mp4"
    assert bot.slack.download_requests == []


async def test_a_login_page_instead_of_the_file_reaches_the_requester(bot: Bot) -> None:
    bot.slack.login_page_downloads = True
    file = bot.slack.add_file("jane.mp4", "video/mp4", VIDEO_BYTES)
    view_id, view = await open_from_prompt(bot, await prompted(bot, [file]))
    await bot.submit(
        view_id, view, {"slack_file": file["id"], "intended_use": "Sales demos", "consent": True}
    )
    await bot.settle()
    assert bot.tavus.creates == []
    record = await bot.services.storage.run(store.get_request, 1)
    assert record.state is State.NOT_CREATED
    reply = bot.slack.messages_in("C1")[-1]
    assert reply.thread_ts == UPLOAD_TS and "files:read" in reply.text
    assert "Nothing was sent to Tavus" in reply.text
    assert list(bot.settings.media_dir.glob("**/*.part")) == []


async def test_without_public_url_the_prompt_and_form_explain_and_offer_a_link(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot(public_url=None)
    file = bot.slack.add_file("jane.mp4", "video/mp4", VIDEO_BYTES)
    button = await prompted(bot, [file])
    assert "public URL" in bot.slack.ephemerals[0].text
    assert "PUBLIC_URL" not in bot.slack.ephemerals[0].text  # words for users
    assert button["text"]["text"] == "Create a replica from a link"
    _, view = await open_from_prompt(bot, button)
    assert "train_video_url" in inputs(view) and "slack_file" not in inputs(view)
    assert "public URL" in str(view["blocks"]) and "PUBLIC_URL" not in str(view["blocks"])
    assert bot.slack.download_requests == [] and bot.tavus.creates == []


async def test_the_dismiss_button_removes_the_prompt(bot: Bot) -> None:
    file = bot.slack.add_file("jane.mp4", "video/mp4", VIDEO_BYTES)
    await prompted(bot, [file])
    await bot.click(DISMISS_PROMPT)
    await eventually(lambda: bot.slack.responses)
    assert bot.slack.responses[-1]["delete_original"] is True


async def test_relayed_media_expire_after_training_and_48_hours(bot: Bot) -> None:
    file = bot.slack.add_file("jane.mp4", "video/mp4", VIDEO_BYTES)
    view_id, view = await open_from_prompt(bot, await prompted(bot, [file]))
    await bot.submit(
        view_id, view, {"slack_file": file["id"], "intended_use": "Sales demos", "consent": True}
    )
    await bot.settle()
    path = urlsplit(bot.tavus.creates[0]["train_video_url"]).path
    later = datetime.now(UTC) + timedelta(hours=49)
    assert await bot.services.relay.sweep(now=later) == 0  # still training: kept
    assert (await bot.http.head(bot.url + path)).status_code == 200
    bot.tavus.set_status("r0001", "completed")
    await bot.services.reconciler.round()
    await bot.settle()
    assert await bot.services.relay.sweep(now=datetime.now(UTC)) == 0  # under 48 h: kept
    assert await bot.services.relay.sweep(now=later) == 1
    assert (await bot.http.get(bot.url + path)).status_code == 404


@pytest.mark.parametrize("header", ["bytes=0-99", "bytes=-50"])
async def test_relayed_media_serve_ranges(bot: Bot, header: str) -> None:
    file = bot.slack.add_file("jane.mp4", "video/mp4", VIDEO_BYTES)
    view_id, view = await open_from_prompt(bot, await prompted(bot, [file]))
    await bot.submit(
        view_id, view, {"slack_file": file["id"], "intended_use": "Sales demos", "consent": True}
    )
    await bot.settle()
    path = urlsplit(bot.tavus.creates[0]["train_video_url"]).path
    response = await bot.http.get(bot.url + path, headers={"Range": header})
    assert response.status_code == 206
    expected = VIDEO_BYTES[:100] if header == "bytes=0-99" else VIDEO_BYTES[-50:]
    assert response.content == expected
