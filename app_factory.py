"""Assembles the bot: services, the Bolt app, and the aiohttp server that carries both."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from handlers import (
    bad_requests,
    commands,
    file_shares,
    health,
    media,
    replica_modal,
    tavus_callback,
)
from media_relay.relay import MediaRelay
from replicas.notifier import SLACK_ERRORS, SlackNotifier
from replicas.outbox import OutboxWorker
from replicas.reconciler import Reconciler
from replicas.voices import VoiceCatalog
from replicas.workflow import ReplicaWorkflow
from settings import Settings
from socket_mode import SocketModeConnection, SocketModeTiming
from storage.database import Storage
from tavus.client import TavusClient
from tavus.errors import TavusAuthError, TavusError

logger = logging.getLogger(__name__)

SLACK_EVENTS_PATH = "/slack/events"
MEDIA_SWEEP_SECONDS = 3600.0
SHUTDOWN_GRACE_SECONDS = 4.0  # SIGTERM to exit stays well within 10 s


@dataclass(frozen=True)
class Services:
    settings: Settings
    storage: Storage
    tavus: TavusClient
    voices: VoiceCatalog
    workflow: ReplicaWorkflow
    relay: MediaRelay
    outbox: OutboxWorker
    reconciler: Reconciler
    bolt: AsyncApp


SERVICES = web.AppKey("services", Services)


def create_app(
    settings: Settings, *, socket_timing: SocketModeTiming | None = None
) -> web.Application:
    """The whole bot as one aiohttp application: Slack at /slack/events (or over Socket Mode
    when SLACK_APP_TOKEN is set), Tavus callbacks, and /healthz. Storage opens and migrates
    on start-up; everything closes on clean-up."""
    # "" rather than None: Bolt would read SLACK_SIGNING_SECRET itself, and Settings is the
    # one source of configuration. Socket Mode requests are never signature-checked.
    bolt = AsyncApp(
        token=settings.slack_bot_token, signing_secret=settings.slack_signing_secret or ""
    )
    # Bolt builds its client for slack.com; per-request clients copy base_url and retry
    # handlers from this one. (Passing client= instead makes Bolt warn whenever
    # SLACK_BOT_TOKEN is in the environment.)
    slack = bolt.client
    slack.base_url = settings.slack_api_url
    slack.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=2))
    storage = Storage(settings.database_path)
    tavus = TavusClient(
        settings.tavus_api_url,
        settings.tavus_api_key,
        timeout_seconds=settings.tavus_timeout_seconds,
    )
    voices = VoiceCatalog(tavus)
    relay = MediaRelay(
        media_dir=settings.media_dir,
        storage=storage,
        slack=slack,
        bot_token=settings.slack_bot_token,
        public_url=settings.public_url,
    )
    outbox = OutboxWorker(storage, SlackNotifier(slack))
    workflow = ReplicaWorkflow(
        settings=settings, storage=storage, tavus=tavus, relay=relay, outbox=outbox
    )
    reconciler = Reconciler(workflow, settings.poll_interval_seconds)
    commands.register(bolt)
    replica_modal.register(bolt, workflow, voices)
    file_shares.register(bolt, settings, storage)

    socket: SocketModeConnection | None = None
    if settings.slack_app_token is not None:
        # Slack reaches Bolt over the WebSocket, so no Slack route is served: a POST to
        # /slack/events is 404 like any unknown path.
        web_app = web.Application()
        socket = SocketModeConnection(
            bolt, settings.slack_app_token, socket_timing or SocketModeTiming()
        )
    else:
        web_app = bolt.web_app(path=SLACK_EVENTS_PATH)
        bad_requests.register(web_app, SLACK_EVENTS_PATH)
    # Mounted in both modes, with or without PUBLIC_URL: a request sent while PUBLIC_URL was
    # set can still be reported here, and without a stored token the route only answers 404.
    tavus_callback.register(web_app, workflow)
    health.register(web_app, storage)
    media.register(web_app, relay)
    services = Services(settings, storage, tavus, voices, workflow, relay, outbox, reconciler, bolt)
    web_app[SERVICES] = services
    # Loops that run for the bot's lifetime; kept apart from the workflow's finite work.
    loops: list[asyncio.Task[None]] = []

    async def start(_: web.Application) -> None:
        if socket is not None:
            logger.info("Slack: Socket Mode (SLACK_APP_TOKEN); %s is not served", SLACK_EVENTS_PATH)
            # First, before anything else is opened: a refused app token stops start-up.
            await socket.open()
        else:
            logger.info("Slack: HTTP mode; Slack sends requests to POST %s", SLACK_EVENTS_PATH)
        await storage.open()
        workflow.spawn(_check_slack_token(slack), "check the Slack token")
        workflow.spawn(_warm_voice_cache(voices), "check the Tavus key and load voices")
        if socket is not None:
            await socket.connect()
        # Pending messages and open requests resume at once, before any new work arrives.
        loops.extend(
            [
                asyncio.create_task(outbox.run(), name="outbox"),
                asyncio.create_task(reconciler.run(), name="reconciler"),
                asyncio.create_task(_every(MEDIA_SWEEP_SECONDS, relay.sweep, "media sweep")),
            ]
        )
        for task in loops:
            task.add_done_callback(_loop_ended)

    async def stop(_: web.Application) -> None:
        # Stop taking new work first (Slack requests, then the loops); what is in flight is
        # either finished within the grace period or left recorded (outbox rows,
        # create_sent_at) for the next start.
        if socket is not None:
            await socket.close()
        for task in loops:
            task.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
        await workflow.close(grace_seconds=SHUTDOWN_GRACE_SECONDS)
        await relay.aclose()
        await voices.close()
        await tavus.aclose()
        await storage.close()

    web_app.on_startup.append(start)
    web_app.on_cleanup.append(stop)
    return web_app


def _loop_ended(task: asyncio.Task[None]) -> None:
    """A loop that should run for the bot's lifetime stopped: say so loudly."""
    if not task.cancelled() and (error := task.exception()) is not None:
        logger.critical("Background loop %s stopped", task.get_name(), exc_info=error)


async def _every(seconds: float, work: Callable[[], Awaitable[object]], what: str) -> None:
    """Run `work` now and then every `seconds`; a failed round is logged and retried."""
    while True:
        try:
            await work()
        except (sqlite3.Error, OSError):
            logger.exception("%s failed; trying again in %.0f s", what, seconds)
        await asyncio.sleep(seconds)


async def _check_slack_token(slack: AsyncWebClient) -> None:
    """Tell the operator at start-up, not at the first /replica, if Slack refuses the token."""
    try:
        identity = await slack.auth_test()
    except SlackApiError as error:
        logger.error("Slack rejected SLACK_BOT_TOKEN: %s", error.response.get("error"))
    except SLACK_ERRORS:
        logger.warning("Could not reach Slack to check SLACK_BOT_TOKEN", exc_info=True)
    else:
        logger.info("Slack: connected as %s to %s", identity.get("user"), identity.get("team"))


async def _warm_voice_cache(voices: VoiceCatalog) -> None:
    """Load voices at start-up, so the first voice search answers within Slack's 3 s; this
    is also the check that Tavus accepts the API key."""
    try:
        await voices.voices()
    except TavusAuthError as error:
        logger.error("Tavus rejected TAVUS_API_KEY (HTTP %s): %s", error.status_code, error.reason)
    except TavusError:
        logger.warning("Could not load Tavus voices at start-up; will retry", exc_info=True)
