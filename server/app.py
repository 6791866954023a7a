"""Assembles the bot: services, the Bolt app, and the aiohttp server that carries both."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler

from handlers import (
    bad_requests,
    commands,
    file_shares,
    health,
    media,
    replica_modal,
    tavus_callback,
)
from handlers.form_sessions import FormSessions
from media_relay.relay import MediaRelay
from replicas.notifier import SlackNotifier
from replicas.outbox import OutboxWorker
from replicas.reconciler import Reconciler
from replicas.voices import VoiceCatalog
from replicas.workflow import ReplicaWorkflow
from server.loops import Loops, every
from server.readiness import Readiness, slack_token_check, tavus_key_check
from server.socket_mode import SocketModeConnection, SocketModeTiming
from settings import Settings
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
    loops: Loops
    readiness: Readiness


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
        slack_api_url=settings.slack_api_url,  # its origin may get the token, as Slack's do
    )
    outbox = OutboxWorker(storage, SlackNotifier(slack))
    workflow = ReplicaWorkflow(
        settings=settings, storage=storage, tavus=tavus, relay=relay, outbox=outbox
    )
    reconciler = Reconciler(workflow, settings.poll_interval_seconds)
    # Every door of the form (/replica, the upload prompt, the shortcut) shares its sessions.
    sessions = FormSessions(storage)
    commands.register(bolt, sessions)
    replica_modal.register(bolt, workflow, voices, sessions)
    file_shares.register(bolt, settings, storage, sessions)

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
        bad_requests.register(web_app, SLACK_EVENTS_PATH, settings.slack_signing_secret)
    # Mounted in both modes, with or without PUBLIC_URL: a request sent while PUBLIC_URL was
    # set can still be reported here, and without a stored token the route only answers 404.
    tavus_callback.register(web_app, workflow)
    # Loops that run for the bot's lifetime; kept apart from the workflow's finite work.
    loops = Loops()
    readiness = Readiness(
        storage=storage,
        slack=slack_token_check(slack),
        tavus=tavus_key_check(tavus),
        loops=loops,
        outbox=outbox,
        socket=socket,
    )
    health.register(web_app, storage, readiness)
    media.register(web_app, relay)
    services = Services(
        settings=settings,
        storage=storage,
        tavus=tavus,
        voices=voices,
        workflow=workflow,
        relay=relay,
        outbox=outbox,
        reconciler=reconciler,
        bolt=bolt,
        loops=loops,
        readiness=readiness,
    )
    web_app[SERVICES] = services

    async def start(_: web.Application) -> None:
        if socket is not None:
            logger.info("Slack: Socket Mode (SLACK_APP_TOKEN); %s is not served", SLACK_EVENTS_PATH)
            # First, before anything else is opened: a refused app token stops start-up.
            await socket.open()
        else:
            logger.info("Slack: HTTP mode; Slack sends requests to POST %s", SLACK_EVENTS_PATH)
        await storage.open()
        workflow.spawn(readiness.slack.problem(), "check the Slack token")
        workflow.spawn(_warm_voice_cache(voices), "check the Tavus key and load voices")
        if socket is not None:
            await socket.connect()
        # Pending messages and open requests resume at once, before any new work arrives.
        loops.start("outbox", outbox.run())
        loops.start("reconciler", reconciler.run())
        loops.start("media sweep", every(MEDIA_SWEEP_SECONDS, relay.sweep, "media sweep"))

    async def stop(_: web.Application) -> None:
        # Stop taking new work first (Slack requests, then the loops); what is in flight is
        # either finished within the grace period or left recorded (outbox rows,
        # create_sent_at) for the next start.
        if socket is not None:
            await socket.close()
        await loops.stop()
        await workflow.close(grace_seconds=SHUTDOWN_GRACE_SECONDS)
        await relay.aclose()
        await voices.close()
        await tavus.aclose()
        await storage.close()

    web_app.on_startup.append(start)
    web_app.on_cleanup.append(stop)
    return web_app


async def _warm_voice_cache(voices: VoiceCatalog) -> None:
    """Load voices at start-up, so the first voice search answers within Slack's 3 s; this
    is also the check that Tavus accepts the API key."""
    try:
        await voices.voices()
    except TavusAuthError as error:
        logger.error("Tavus rejected TAVUS_API_KEY (HTTP %s): %s", error.status_code, error.reason)
    except TavusError:
        logger.warning("Could not load Tavus voices at start-up; will retry", exc_info=True)
