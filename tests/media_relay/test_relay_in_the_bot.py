"""The relay inside the running bot: the bot token goes to Slack's file hosts only, and the
requester is told, in the upload's thread, why a file was not fetched."""

from __future__ import annotations

import logging

import pytest

from blocks.upload_prompt import DISMISS_PROMPT, PROMPTS_OFF
from domain.states import State
from storage import replicas as store
from tests.conftest import Bot, eventually
from tests.handlers.test_file_shares import (
    UPLOAD_TS,
    VIDEO_BYTES,
    buttons,
    open_from_prompt,
    prompted,
    upload_event,
)

LEAVES_SLACK = "leads outside Slack, so the bot will not fetch it"


def healthz_requests(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The bot's access-log lines for its own /healthz."""
    return [r.getMessage() for r in caplog.records if "/healthz" in r.getMessage()]


async def submit_shared_video(bot: Bot, **slack_says: str) -> None:
    """Share a video, open the form from its prompt and submit it, then wait for the outcome.
    `slack_says` changes what files.info reports about the file (the relay asks it)."""
    file = bot.slack.add_file("jane.mp4", "video/mp4", VIDEO_BYTES)
    bot.slack.files[file["id"]].info.update(slack_says)
    view_id, view = await open_from_prompt(bot, await prompted(bot, [file]))
    await bot.submit(
        view_id, view, {"slack_file": file["id"], "intended_use": "Sales demos", "consent": True}
    )
    await bot.settle()


async def assert_refused_and_explained(bot: Bot) -> None:
    assert bot.tavus.creates == []
    record = await bot.services.storage.run(store.get_request, 1)
    assert record.state is State.NOT_CREATED
    reply = bot.slack.messages_in("C1")[-1]
    assert reply.thread_ts == UPLOAD_TS
    assert LEAVES_SLACK in reply.text and "share the file again" in reply.text
    assert "Nothing was sent to Tavus" in reply.text
    assert [path for path in bot.settings.media_dir.glob("**/*") if path.is_file()] == []


async def test_a_download_link_to_the_bots_own_address_is_not_fetched(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="aiohttp.access")

    await submit_shared_video(bot, url_private_download=f"{bot.url}/healthz")

    await assert_refused_and_explained(bot)
    assert bot.slack.download_requests == []  # not even Slack was asked
    assert healthz_requests(caplog) == []
    # The access log does show /healthz requests: the check above would have seen one.
    assert (await bot.http.get(f"{bot.url}/healthz")).status_code in (200, 503)
    await eventually(lambda: healthz_requests(caplog))


async def test_a_redirect_to_the_bots_own_address_is_not_followed(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="aiohttp.access")
    bot.slack.download_redirect_to = f"{bot.url}/healthz"

    await submit_shared_video(bot)

    await assert_refused_and_explained(bot)
    [download] = bot.slack.download_requests  # Slack got the token; the redirect got nothing
    assert download.authorized
    assert healthz_requests(caplog) == []


async def test_a_redirect_within_slack_still_relays_the_file(bot: Bot) -> None:
    bot.slack.redirect_downloads = 1

    await submit_shared_video(bot)

    [create] = bot.tavus.creates
    assert create["train_video_url"].endswith("/jane.mp4")
    assert [d.authorized for d in bot.slack.download_requests] == [True, True]


async def test_an_external_file_gets_no_button_and_is_never_downloaded(bot: Bot) -> None:
    file = bot.slack.add_file("jane.mp4", "video/mp4", VIDEO_BYTES, external=True)

    # In a DM with the bot (in a channel, a file Tavus can't use gets no prompt at all).
    await bot.event(upload_event([file], channel="D1", channel_type="im"))
    await eventually(lambda: bot.slack.ephemerals)

    [prompt] = bot.slack.ephemerals
    assert "jane.mp4 is kept outside Slack" in prompt.text
    assert "upload the file itself to Slack" in prompt.text
    assert [b["action_id"] for b in buttons(prompt.blocks)] == [DISMISS_PROMPT, PROMPTS_OFF]
    assert bot.slack.download_requests == []
