"""End-to-end harness: the real bot on 127.0.0.1 next to fake Slack and fake Tavus servers.

Requests into the bot are signed like Slack's (HTTP mode, the `bot` fixture) or sent over
the fake Socket Mode link (`socket_bot`); everything the bot sends out is real HTTP to the
fakes. Nothing of the bot's own is mocked.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import httpx
import pytest
from aiohttp import web
from slack_sdk.signature import SignatureVerifier

from server.app import SERVICES, Services, create_app
from server.socket_mode import SocketModeTiming
from settings import Settings
from storage.database import Storage
from tests.fakes.fake_slack import BOT_TOKEN, FakeSlack
from tests.fakes.fake_socket_mode import APP_TOKEN
from tests.fakes.fake_tavus import API_KEY, FakeTavus

SIGNING_SECRET = "test-signing-secret"
PUBLIC_URL = "https://replica-bot.example.test"
# Short, so that reconnecting after a silently dropped link takes a fraction of a second.
SOCKET_TIMING = SocketModeTiming(ping_interval=0.2, connect_wait=5.0, close_wait=2.0)
# Interactions whose ack may carry an answer (errors, options), as Slack flags them.
ANSWERED_INTERACTIONS = ("view_submission", "block_suggestion")
_action_times = itertools.count(1)


def next_action_ts() -> str:
    """An `action_ts` later than every one before it, as Slack's are: the bot applies clicks
    in a form in this order."""
    return f"1700000000.{next(_action_times):06d}"


async def eventually(check: Callable[[], Any], seconds: float = 5.0) -> Any:
    """Poll until check() returns something truthy (background work happens after the ack)."""
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {seconds} s")
        await asyncio.sleep(0.01)


def signed_headers(body: str, content_type: str, *, timestamp: int | None = None) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp=ts, body=body)
    assert signature is not None
    return {
        "content-type": content_type,
        "x-slack-request-timestamp": ts,
        "x-slack-signature": signature,
    }


def state_values(view: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
    """The `state.values` Slack would send for `view` with `inputs` (block_id -> value) typed in.

    Text and URL inputs take a str; radio buttons and selects an option value; a user picker
    a user id; checkboxes a bool.
    """
    values: dict[str, Any] = {}
    for block in view["blocks"]:
        if block["type"] != "input":
            continue
        element = block["element"]
        block_id, action_id, kind = block["block_id"], element["action_id"], element["type"]
        value = inputs.get(block_id)
        state: dict[str, Any] = {"type": kind}
        if block_id not in inputs and kind != "checkboxes":
            # Untouched inputs keep what the form was prefilled with, as in Slack.
            state["value"] = element.get("initial_value")
            state["selected_option"] = element.get("initial_option")
            if kind == "users_select":
                state["selected_user"] = element.get("initial_user")
        elif kind == "users_select":
            state["selected_user"] = value
        elif kind in ("plain_text_input", "url_text_input"):
            state["value"] = value
        elif kind in ("radio_buttons", "static_select", "external_select"):
            state["selected_option"] = (
                None
                if value is None
                else {"value": value, "text": {"type": "plain_text", "text": value}}
            )
        elif kind == "checkboxes":
            options = element["options"]
            state["selected_options"] = options if value else []
        values[block_id] = {action_id: state}
    return values


@dataclass
class Bot:
    """The running bot and the fakes around it, with helpers that speak Slack's wire format."""

    settings: Settings
    slack: FakeSlack
    tavus: FakeTavus
    http: httpx.AsyncClient
    runner: web.AppRunner | None = None
    url: str = ""
    responses: list[httpx.Response] = field(default_factory=list)
    socket_timing: SocketModeTiming = SOCKET_TIMING

    async def start(self) -> None:
        from server.http import server_options  # the server limits bot.py runs with

        self.runner = web.AppRunner(
            create_app(self.settings, socket_timing=self.socket_timing), **server_options()
        )
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    @property
    def services(self) -> Services:
        assert self.runner is not None
        return self.runner.app[SERVICES]

    async def settle(self) -> None:
        """Wait for the work the bot does after answering (calling Tavus, posting to Slack)."""
        services = self.services
        await services.supervisor.idle()
        await services.outbox.idle()
        await services.supervisor.idle()
        await services.outbox.idle()

    # -- Slack into the bot --------------------------------------------------------------------

    async def slack_request(
        self, body: str, content_type: str, *, timestamp: int | None = None, signed: bool = True
    ) -> httpx.Response:
        headers = signed_headers(body, content_type, timestamp=timestamp)
        if not signed:
            headers["x-slack-signature"] = "v0=" + "0" * 64
        return await self.http.post(f"{self.url}/slack/events", content=body, headers=headers)

    def command_fields(
        self, text: str = "", *, user: str = "U1", channel: str = "C1", **overrides: str
    ) -> dict[str, str]:
        """What Slack sends for `/replica text`: form fields by HTTP, a JSON object by socket."""
        return {
            "token": "deprecated",
            "team_id": "T1",
            "team_domain": "acme",
            "channel_id": channel,
            "channel_name": "general",
            "user_id": user,
            "user_name": "jane",
            "command": "/replica",
            "text": text,
            "api_app_id": "A1",
            "is_enterprise_install": "false",
            "response_url": f"{self.slack.url}/respond/1",
            "trigger_id": "1337.42.abcd",
            **overrides,
        }

    async def command(
        self, text: str = "", *, user: str = "U1", channel: str = "C1", **overrides: str
    ) -> httpx.Response:
        form = self.command_fields(text, user=user, channel=channel, **overrides)
        return await self.slack_request(urlencode(form), "application/x-www-form-urlencoded")

    def interaction_payload(self, kind: str, *, user: str = "U1", **fields: Any) -> dict[str, Any]:
        """An interactivity payload of `kind`, with the envelope every payload carries."""
        return {
            "type": kind,
            "team": {"id": "T1", "domain": "acme"},
            "user": {"id": user, "team_id": "T1"},
            "api_app_id": "A1",
            **fields,
        }

    async def interaction(self, kind: str, *, user: str = "U1", **fields: Any) -> httpx.Response:
        payload = self.interaction_payload(kind, user=user, **fields)
        body = "payload=" + quote(json.dumps(payload))
        return await self.slack_request(body, "application/x-www-form-urlencoded")

    # -- Slack into the bot over Socket Mode (the acks are what Slack would get back) ---------

    async def socket_command(self, text: str = "", **kwargs: str) -> dict[str, Any]:
        fields = self.command_fields(text, **kwargs)
        return await self.slack.socket_mode.request(
            "slash_commands", fields, accepts_response_payload=True
        )

    async def socket_interaction(
        self, kind: str, *, user: str = "U1", **fields: Any
    ) -> dict[str, Any]:
        return await self.slack.socket_mode.request(
            "interactive",
            self.interaction_payload(kind, user=user, **fields),
            accepts_response_payload=kind in ANSWERED_INTERACTIONS,
        )

    async def socket_submit(
        self, view_id: str, view: dict[str, Any], inputs: dict[str, Any], *, user: str = "U1"
    ) -> dict[str, Any]:
        return await self.socket_interaction(
            "view_submission", user=user, **self.submission_fields(view_id, view, inputs)
        )

    async def open_form(self, text: str = "", **kwargs: str) -> tuple[str, dict[str, Any]]:
        if self.settings.socket_mode:
            await self.socket_command(text, **kwargs)
        else:
            response = await self.command(text, **kwargs)
            assert response.status_code == 200, response.text
        await eventually(lambda: self.slack.views)
        await self.settle_views()
        return self.slack.latest_view()

    async def settle_views(self) -> None:
        """Wait until the name lookup after views.open has landed (or been skipped)."""
        await eventually(lambda: self.slack.calls_to("users.info"))
        await asyncio.sleep(0.05)

    def view_payload(
        self, view_id: str, view: dict[str, Any], inputs: dict[str, Any]
    ) -> dict[str, Any]:
        return {
            "id": view_id,
            "type": "modal",
            "callback_id": view["callback_id"],
            "hash": view["hash"],
            "private_metadata": view.get("private_metadata", ""),
            "root_view_id": view_id,
            "previous_view_id": None,
            "app_installed_team_id": "T1",
            "blocks": view["blocks"],
            "state": {"values": state_values(view, inputs)},
        }

    def submission_fields(
        self, view_id: str, view: dict[str, Any], inputs: dict[str, Any]
    ) -> dict[str, Any]:
        return {
            "trigger_id": "1337.43.efgh",
            "is_enterprise_install": False,
            "view": self.view_payload(view_id, view, inputs),
            "response_urls": [],
        }

    async def submit(
        self, view_id: str, view: dict[str, Any], inputs: dict[str, Any], *, user: str = "U1"
    ) -> httpx.Response:
        return await self.interaction(
            "view_submission", user=user, **self.submission_fields(view_id, view, inputs)
        )

    async def choose_mode(
        self,
        view_id: str,
        view: dict[str, Any],
        mode: str,
        inputs: dict[str, Any],
        *,
        action_ts: str | None = None,
    ) -> httpx.Response:
        selected = {"value": mode, "text": {"type": "plain_text", "text": mode}}
        return await self.interaction(
            "block_actions",
            trigger_id="1337.44.ijkl",
            container={"type": "view", "view_id": view_id},
            view=self.view_payload(view_id, view, {**inputs, "mode": mode}),
            actions=[
                {
                    "type": "radio_buttons",
                    "action_id": "mode",
                    "block_id": "mode",
                    "selected_option": selected,
                    "action_ts": action_ts or next_action_ts(),
                }
            ],
        )

    async def form_action(
        self,
        view_id: str,
        view: dict[str, Any],
        action: dict[str, Any],
        inputs: dict[str, Any],
        *,
        user: str = "U1",
    ) -> httpx.Response:
        """An interactive element of the form used (`action`: its type, ids and value), with
        `inputs` typed in the form meanwhile."""
        return await self.interaction(
            "block_actions",
            user=user,
            trigger_id="1337.48.yzab",
            container={"type": "view", "view_id": view_id},
            view=self.view_payload(view_id, view, inputs),
            actions=[{"action_ts": next_action_ts(), **action}],
        )

    async def choose_subject(
        self, view_id: str, view: dict[str, Any], kind: str, inputs: dict[str, Any]
    ) -> httpx.Response:
        """ "Who is on camera?" changed to `kind` ("me", "member", "outside")."""
        selected = {"value": kind, "text": {"type": "plain_text", "text": kind}}
        action = {
            "type": "radio_buttons",
            "action_id": "subject",
            "block_id": "subject",
            "selected_option": selected,
        }
        return await self.form_action(view_id, view, action, {**inputs, "subject": kind})

    async def pick_member(
        self, view_id: str, view: dict[str, Any], user_id: str, inputs: dict[str, Any]
    ) -> httpx.Response:
        """A workspace member picked as the person on camera."""
        action = {
            "type": "users_select",
            "action_id": "subject_user",
            "block_id": "subject_user",
            "selected_user": user_id,
        }
        return await self.form_action(view_id, view, action, {**inputs, "subject_user": user_id})

    async def enter_subject_name(
        self, view_id: str, view: dict[str, Any], name: str, inputs: dict[str, Any]
    ) -> httpx.Response:
        """The full name of someone outside Slack typed, and Enter pressed."""
        action = {
            "type": "plain_text_input",
            "action_id": "subject_name",
            "block_id": "subject_name",
            "value": name,
        }
        return await self.form_action(view_id, view, action, {**inputs, "subject_name": name})

    async def voice_search(self, view_id: str, view: dict[str, Any], query: str) -> httpx.Response:
        return await self.interaction(
            "block_suggestion",
            action_id="voice_name",
            block_id="voice_name",
            value=query,
            container={"type": "view", "view_id": view_id},
            view=self.view_payload(view_id, view, {}),
        )

    async def event(
        self, event: dict[str, Any], *, event_id: str = "Ev1", retry_num: int | None = None
    ) -> httpx.Response:
        """An Events API delivery of `event`; `retry_num` marks it as Slack's retry."""
        body = json.dumps(
            {
                "token": "deprecated",
                "team_id": "T1",
                "api_app_id": "A1",
                "type": "event_callback",
                "event_id": event_id,
                "event_time": 1700000000,
                "authorizations": [{"team_id": "T1", "user_id": "UBOT", "is_bot": True}],
                "event": event,
            }
        )
        headers = signed_headers(body, "application/json")
        if retry_num is not None:
            headers["x-slack-retry-num"] = str(retry_num)
            headers["x-slack-retry-reason"] = "http_timeout"
        return await self.http.post(f"{self.url}/slack/events", content=body, headers=headers)

    async def click(self, action_id: str, value: str = "", *, user: str = "U1") -> httpx.Response:
        """A button click on an ephemeral message (Slack sends no `message` for those)."""
        return await self.interaction(
            "block_actions",
            user=user,
            trigger_id="1337.45.mnop",
            container={"type": "message", "is_ephemeral": True, "channel_id": "C1"},
            channel={"id": "C1", "name": "general"},
            response_url=f"{self.slack.url}/respond/2",
            actions=[
                {
                    "type": "button",
                    "action_id": action_id,
                    "block_id": "b",
                    "value": value,
                    "action_ts": "1700000000.2",
                }
            ],
        )

    async def press_in_form(
        self, view_id: str, view: dict[str, Any], action_id: str, inputs: dict[str, Any]
    ) -> httpx.Response:
        """A button click inside the form."""
        return await self.interaction(
            "block_actions",
            trigger_id="1337.46.qrst",
            container={"type": "view", "view_id": view_id},
            view=self.view_payload(view_id, view, inputs),
            actions=[
                {
                    "type": "button",
                    "action_id": action_id,
                    "block_id": "b",
                    "action_ts": next_action_ts(),
                }
            ],
        )

    async def shortcut(
        self, message: dict[str, Any], *, user: str = "U1", channel: str = "C1"
    ) -> httpx.Response:
        """The "Create replica" message shortcut used on `message`."""
        return await self.interaction(
            "message_action",
            user=user,
            callback_id="create_replica",
            trigger_id="1337.47.uvwx",
            response_url=f"{self.slack.url}/respond/3",
            channel={"id": channel, "name": "general"},
            message_ts=message["ts"],
            message=message,
        )

    # -- Tavus into the bot --------------------------------------------------------------------

    def callback_token(self, create_index: int = -1) -> str:
        """The secret token the bot put in the callback_url it sent to Tavus."""
        callback_url = str(self.tavus.creates[create_index]["callback_url"])
        assert callback_url.startswith(f"{PUBLIC_URL}/tavus/callback/")
        return urlsplit(callback_url).path.rsplit("/", 1)[1]

    async def tavus_callback(
        self, token: str, body: Any, *, raw: bytes | None = None
    ) -> httpx.Response:
        content = raw if raw is not None else json.dumps(body).encode()
        return await self.http.post(
            f"{self.url}/tavus/callback/{token}",
            content=content,
            headers={"content-type": "application/json"},
        )


def make_settings(tmp_path: Path, slack_api_url: str, tavus_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "slack_bot_token": BOT_TOKEN,
        "slack_signing_secret": SIGNING_SECRET,
        "tavus_api_key": API_KEY,
        "public_url": PUBLIC_URL,
        "host": "127.0.0.1",
        "port": 0,
        "database_path": tmp_path / "replica-bot.db",
        "media_dir": tmp_path / "media",
        "slack_api_url": slack_api_url,
        "tavus_api_url": tavus_url,
        "log_level": "DEBUG",
        **overrides,
    }
    return Settings(**values)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads the developer's real Slack or Tavus credentials."""
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "TAVUS_API_KEY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[Storage]:
    """The bot's database in tmp_path, opened (migrated) on its worker thread."""
    storage = Storage(tmp_path / "bot.db")
    await storage.open()
    yield storage
    await storage.close()


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    slack = FakeSlack()
    await slack.start()
    slack.real_names["U1"] = "Jane Doe"
    yield slack
    await slack.stop()


@pytest.fixture
async def fake_tavus() -> AsyncIterator[FakeTavus]:
    tavus = FakeTavus()
    await tavus.start()
    yield tavus
    await tavus.stop()


@pytest.fixture
async def bot(tmp_path: Path, fake_slack: FakeSlack, fake_tavus: FakeTavus) -> AsyncIterator[Bot]:
    settings = make_settings(tmp_path, f"{fake_slack.url}/api/", fake_tavus.url)
    async with httpx.AsyncClient(timeout=10) as http:
        running = Bot(settings=settings, slack=fake_slack, tavus=fake_tavus, http=http)
        await running.start()
        yield running
        await running.stop()


BotFactory = Callable[..., Awaitable[Bot]]


@pytest.fixture
async def make_bot(
    tmp_path: Path, fake_slack: FakeSlack, fake_tavus: FakeTavus
) -> AsyncIterator[BotFactory]:
    """Start a bot with some settings changed, e.g. `await make_bot(public_url=None)`."""
    started: list[Bot] = []
    async with httpx.AsyncClient(timeout=10) as http:

        async def start(**overrides: Any) -> Bot:
            settings = make_settings(
                tmp_path, f"{fake_slack.url}/api/", fake_tavus.url, **overrides
            )
            running = Bot(settings=settings, slack=fake_slack, tavus=fake_tavus, http=http)
            await running.start()
            started.append(running)
            return running

        yield start
        for running in started:
            await running.stop()


def socket_settings(
    tmp_path: Path, slack: FakeSlack, tavus: FakeTavus, **overrides: Any
) -> Settings:
    """A Socket Mode deployment: an app token, no signing secret and no public URL."""
    values: dict[str, Any] = {
        "slack_app_token": APP_TOKEN,
        "slack_signing_secret": None,
        "public_url": None,
        **overrides,
    }
    return make_settings(tmp_path, f"{slack.url}/api/", tavus.url, **values)


@pytest.fixture
async def socket_bot(
    tmp_path: Path, fake_slack: FakeSlack, fake_tavus: FakeTavus
) -> AsyncIterator[Bot]:
    """The bot in Socket Mode, connected to the fake Slack's Socket Mode server."""
    settings = socket_settings(tmp_path, fake_slack, fake_tavus)
    async with httpx.AsyncClient(timeout=10) as http:
        running = Bot(settings=settings, slack=fake_slack, tavus=fake_tavus, http=http)
        await running.start()
        await fake_slack.socket_mode.connected()
        yield running
        await running.stop()
