"""Socket Mode end to end: Slack's envelopes over the fake WebSocket link, acks back, and the
connection kept up through Slack's `disconnect` requests and dropped links."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import httpx
import pytest

from server.socket_mode import SlackAppTokenRejected, SocketModeTiming
from tests.conftest import Bot, eventually, socket_settings
from tests.fakes.fake_slack import FakeSlack
from tests.fakes.fake_tavus import FakeTavus
from tests.handlers.test_replica_form import VIDEO


async def assert_still_serves(bot: Bot) -> None:
    """A /replica over whatever link is open now is acked and opens a form."""
    opened = len(bot.slack.calls_to("views.open"))
    ack = await bot.socket_command()
    assert "payload" not in ack
    await eventually(lambda: len(bot.slack.calls_to("views.open")) > opened)


async def test_connects_through_the_configured_slack_api_url(socket_bot: Bot) -> None:
    # The fake answers apps.connections.open only for the xapp- token.
    assert len(socket_bot.slack.calls_to("apps.connections.open")) == 1
    [link] = socket_bot.slack.socket_mode.links
    assert link.open


async def test_command_over_the_socket_is_acked_and_opens_the_form(socket_bot: Bot) -> None:
    ack = await socket_bot.socket_command("Jane Sales")
    assert ack == {"envelope_id": socket_bot.slack.socket_mode.sent[-1]["envelope_id"]}
    await eventually(lambda: socket_bot.slack.views)
    opened = socket_bot.slack.calls_to("views.open")[0].params
    assert opened["trigger_id"] == "1337.42.abcd"
    assert opened["view"]["callback_id"] == "replica_modal"


async def test_help_is_answered_in_the_ack(socket_bot: Bot) -> None:
    ack = await socket_bot.socket_command("help")
    assert ack["payload"]["response_type"] == "ephemeral"
    assert "/replica" in str(ack["payload"])
    assert socket_bot.slack.views == {}


async def test_submission_over_the_socket_creates_the_replica_once(socket_bot: Bot) -> None:
    view_id, view = await socket_bot.open_form()
    ack = await socket_bot.socket_submit(view_id, view, VIDEO)
    assert "payload" not in ack  # a bare ack closes the form
    await socket_bot.settle()
    [create] = socket_bot.tavus.creates
    assert create["replica_name"] == "Jane – sales"
    assert create["train_video_url"] == "https://cdn.example.com/jane.mp4"
    # No PUBLIC_URL: Tavus is given no callback URL.
    assert "callback_url" not in create
    # Slack redelivers an envelope it thinks was lost: still one create.
    again = await socket_bot.socket_submit(view_id, view, VIDEO)
    assert "payload" not in again
    await socket_bot.settle()
    assert len(socket_bot.tavus.creates) == 1


async def test_invalid_submission_is_answered_with_field_errors(socket_bot: Bot) -> None:
    view_id, view = await socket_bot.open_form()
    ack = await socket_bot.socket_submit(view_id, view, {**VIDEO, "consent": False})
    assert ack["payload"]["response_action"] == "errors"
    assert list(ack["payload"]["errors"]) == ["consent"]
    await socket_bot.settle()
    assert socket_bot.tavus.creates == []


async def test_disconnect_request_gets_a_new_connection(socket_bot: Bot) -> None:
    fake = socket_bot.slack.socket_mode
    await fake.disconnect("refresh_requested")
    await fake.connected(count=2)
    await eventually(lambda: len(fake.open_links) == 1)  # the old link is closed by the bot
    # A fresh URL for the new link, from apps.connections.open.
    assert len(socket_bot.slack.calls_to("apps.connections.open")) == 2
    assert fake.open_links[0].number == 2
    await assert_still_serves(socket_bot)


@pytest.mark.parametrize("how", ["close frame", "no close frame"])
async def test_lost_link_is_replaced(socket_bot: Bot, how: str) -> None:
    fake = socket_bot.slack.socket_mode
    if how == "close frame":
        await fake.close_links()
    else:
        fake.drop_links()
    await fake.connected(count=2)
    await assert_still_serves(socket_bot)


async def test_slack_events_over_http_are_not_accepted(socket_bot: Bot) -> None:
    response = await socket_bot.command()
    assert response.status_code == 404
    assert socket_bot.slack.views == {}


async def test_healthz_and_tavus_callbacks_are_still_served(socket_bot: Bot) -> None:
    response = await socket_bot.http.get(f"{socket_bot.url}/healthz")
    assert response.json() == {"status": "ok", "database": "ok"}
    response = await socket_bot.tavus_callback("not-a-token", {"replica_id": "r1"})
    assert response.status_code == 404


async def test_rejected_app_token_stops_start_up(
    tmp_path: Path,
    fake_slack: FakeSlack,
    fake_tavus: FakeTavus,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = socket_settings(tmp_path, fake_slack, fake_tavus, slack_app_token="xapp-1-wrong")
    async with httpx.AsyncClient() as http:
        bot = Bot(settings=settings, slack=fake_slack, tavus=fake_tavus, http=http)
        with pytest.raises(SlackAppTokenRejected, match="SLACK_APP_TOKEN: invalid_auth"):
            await bot.start()
    assert fake_slack.socket_mode.links == []
    assert not (tmp_path / "replica-bot.db").exists()  # failed before opening anything
    assert "xapp-1-wrong" not in caplog.text


async def test_start_up_does_not_wait_for_an_unreachable_slack(
    tmp_path: Path, fake_slack: FakeSlack, fake_tavus: FakeTavus
) -> None:
    fake_slack.fail_next["apps.connections.open"] = ["internal_error"] * 3
    settings = socket_settings(tmp_path, fake_slack, fake_tavus)
    async with httpx.AsyncClient() as http:
        bot = Bot(settings=settings, slack=fake_slack, tavus=fake_tavus, http=http)
        bot.socket_timing = SocketModeTiming(ping_interval=0.1, connect_wait=0.1, close_wait=1.0)
        await bot.start()
        try:
            response = await http.get(f"{bot.url}/healthz")
            assert response.status_code == 200
            # The client keeps asking until Slack hands out a link.
            await fake_slack.socket_mode.connected()
            assert len(fake_slack.calls_to("apps.connections.open")) == 4
            await assert_still_serves(bot)
        finally:
            await bot.stop()


async def test_shutdown_closes_the_link_promptly(
    socket_bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    [link] = socket_bot.slack.socket_mode.links
    started = time.monotonic()
    await socket_bot.stop()
    assert time.monotonic() - started < 2
    await eventually(lambda: not link.open)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_shutdown_is_bounded_when_slack_never_answers_the_close(
    tmp_path: Path, fake_slack: FakeSlack, fake_tavus: FakeTavus
) -> None:
    fake_slack.socket_mode.answer_close = False
    settings = socket_settings(tmp_path, fake_slack, fake_tavus)
    async with httpx.AsyncClient() as http:
        bot = Bot(settings=settings, slack=fake_slack, tavus=fake_tavus, http=http)
        bot.socket_timing = SocketModeTiming(ping_interval=0.2, connect_wait=5.0, close_wait=0.3)
        await bot.start()
        await fake_slack.socket_mode.connected()
        started = time.monotonic()
        await bot.stop()
    # aiohttp alone would wait 10 s for the answer to its close frame.
    assert time.monotonic() - started < 2


async def test_an_upload_over_the_socket_is_acked_and_prompted_once(socket_bot: Bot) -> None:
    file = socket_bot.slack.add_file("jane.mp4", "video/mp4", b"video")
    event = {
        "type": "message",
        "subtype": "file_share",
        "channel": "C1",
        "user": "U1",
        "ts": "1700000100.000200",
        "files": [file],
    }
    payload = {"type": "event_callback", "team_id": "T1", "event_id": "Ev1", "event": event}
    socket_mode = socket_bot.slack.socket_mode
    assert await socket_mode.request("events_api", payload) == {
        "envelope_id": socket_mode.sent[-1]["envelope_id"]
    }
    await socket_mode.request("events_api", payload, retry_attempt=1, retry_reason="timeout")
    await eventually(lambda: socket_bot.slack.ephemerals)
    await socket_bot.settle()
    [prompt] = socket_bot.slack.ephemerals
    # Socket Mode without PUBLIC_URL: the prompt says how to enable file shares.
    assert "public URL" in prompt.text and "PUBLIC_URL" not in prompt.text
