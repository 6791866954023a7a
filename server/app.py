"""Assembles the bot: services, the Bolt app, and the aiohttp server that carries both."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler

from handlers import (
    bad_requests,
    commands,
    consent,
    file_shares,
    health,
    home,
    manage,
    media,
    metrics,
    replica_modal,
    tavus_callback,
)
from handlers.form_sessions import FormSessions
from handlers.surface import Door, Surface
from media_relay.relay import MediaRelay
from replicas.access import AccessPolicy
from replicas.home import HomeDoor, HomeScreens
from replicas.metrics import METRICS, Metrics
from replicas.notifier import SlackNotifier
from replicas.outbox import OutboxWorker
from replicas.reconciler import Reconciler
from replicas.supervisor import Supervisor, every
from replicas.voices import VoiceCatalog
from replicas.workflow import ReplicaWorkflow
from server.readiness import Readiness, slack_token_check, tavus_key_check
from server.socket_mode import SocketModeConnection, SocketModeTiming
from settings import MediaStore, Settings
from slack_access.clients import SlackClients
from storage.database import Storage
from storage.retention import PRUNE_EVERY_SECONDS, prune
from tavus.api import TavusApi
from tavus.client import TavusClient
from tavus.errors import TavusAuthError, TavusError

if TYPE_CHECKING:
    # boto3 takes ~0.1 s to import: only a bot that uses a bucket pays for it.
    from media_relay.s3_store import S3Store

logger = logging.getLogger(__name__)

SLACK_EVENTS_PATH = "/slack/events"
MEDIA_SWEEP_SECONDS = 3600.0
SHUTDOWN_GRACE_SECONDS = 4.0  # SIGTERM to exit stays well within 10 s
BOLT_NAME = "app.py"  # what Bolt took from the file that built it (this one)


@dataclass(frozen=True)
class Services:
    settings: Settings
    storage: Storage
    tavus: TavusApi  # SimulatedTavus in a dry run
    voices: VoiceCatalog
    workflow: ReplicaWorkflow
    relay: MediaRelay
    outbox: OutboxWorker
    reconciler: Reconciler
    bolt: AsyncApp
    supervisor: Supervisor
    readiness: Readiness
    sessions: FormSessions
    access: AccessPolicy
    home: HomeDoor
    socket: SocketModeConnection | None  # None in HTTP mode
    metrics: Metrics  # what GET /metrics serves
    slack_clients: SlackClients  # Slack for everything but Bolt's listeners


SERVICES = web.AppKey("services", Services)

# Every door, in the order it is wired: each adds its Slack listeners or HTTP routes to the
# Surface. tests/server/test_app.py fails if a handlers module with register() is not here.
DOORS: tuple[Door, ...] = (
    commands,
    replica_modal,
    file_shares,
    consent,
    manage,
    home,
    bad_requests,
    tavus_callback,
    health,
    media,
    metrics,
)


def build_services(
    settings: Settings,
    socket_timing: SocketModeTiming | None = None,
    storage: Storage | None = None,
) -> Services:
    """Everything the bot runs on, built but not started: storage opens (unless `storage` is
    given already open, as bot.py does), and Slack and Tavus are first called, when
    create_app's application starts."""
    # "" rather than None: Bolt would read SLACK_SIGNING_SECRET itself, and Settings is the
    # one source of configuration. Socket Mode requests are never signature-checked.
    bolt = AsyncApp(
        token=settings.slack_bot_token,
        signing_secret=settings.slack_signing_secret or "",
        # The name Bolt would give itself (its listeners' loggers are named after it), given
        # so that it does not find it with inspect.stack(): ~15 ms of start-up, every module
        # loaded looked up on disk.
        name=BOLT_NAME,
    )
    # Bolt builds its client for slack.com; per-request clients copy base_url and retry
    # handlers from this one. (Passing client= instead makes Bolt warn whenever
    # SLACK_BOT_TOKEN is in the environment.)
    slack = bolt.client
    slack.base_url = settings.slack_api_url
    slack.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=2))
    # Bolt's listeners get their client from Bolt; everything else asks this.
    clients = SlackClients(slack)
    if storage is None:
        storage = Storage(settings.database_path)
    # What GET /metrics serves: counted by the services below, read from storage when scraped.
    meters = Metrics()
    tavus: TavusApi
    if settings.tavus_dry_run:
        # TAVUS_DRY_RUN: Tavus simulated in this process; no Tavus call leaves the machine.
        # (Imported only for a dry run: ~1 ms of every other start.)
        from tavus.simulated import SimulatedTavus

        settings = dry_run_settings(settings)
        tavus = SimulatedTavus(training_seconds=settings.dry_run_training_seconds)
    else:
        tavus = TavusClient(
            settings.tavus_api_url,
            settings.tavus_api_key,
            timeout_seconds=settings.tavus_timeout_seconds,
            observe=meters.tavus_call,
        )
    voices = VoiceCatalog(tavus)
    relay = MediaRelay(
        media_dir=settings.media_dir,
        storage=storage,
        slack=clients,
        public_url=settings.public_url,
        store=_media_store(settings),
        slack_api_url=settings.slack_api_url,  # its origin may get the token, as Slack's do
    )
    dry_run = settings.tavus_dry_run  # every message, the form and App Home say so
    outbox = OutboxWorker(
        storage,
        SlackNotifier(clients),
        HomeScreens(storage, dry_run=dry_run),
        dry_run=dry_run,
        metrics=meters,
    )
    # Every background task: the workflow's finite work and the loops below.
    supervisor = Supervisor(meters)
    meters.watch(storage, supervisor)
    workflow = ReplicaWorkflow(
        settings=settings,
        storage=storage,
        tavus=tavus,
        relay=relay,
        outbox=outbox,
        supervisor=supervisor,
        metrics=meters,
    )
    reconciler = Reconciler(workflow, settings.poll_interval_seconds, metrics=meters)
    # Every door of the form (/replica, the upload prompt, the shortcut) shares its sessions.
    sessions = FormSessions(storage, dry_run=dry_run)
    # Who may create (REPLICA_CREATORS, REPLICA_ADMINS, REPLICA_MONTHLY_LIMIT): the one place
    # that decides, for every door and the form's submission.
    access = AccessPolicy(settings, storage, clients)
    # App Home: opening it records the viewer and has the outbox publish it at once.
    home_door = HomeDoor(storage, outbox)
    socket: SocketModeConnection | None = None
    if settings.slack_app_token is not None:
        socket = SocketModeConnection(
            bolt, settings.slack_app_token, socket_timing or SocketModeTiming()
        )
    readiness = Readiness(
        storage=storage,
        slack=slack_token_check(clients),
        tavus=tavus_key_check(tavus),
        supervisor=supervisor,
        outbox=outbox,
        socket=socket,
    )
    return Services(
        settings=settings,
        storage=storage,
        tavus=tavus,
        voices=voices,
        workflow=workflow,
        relay=relay,
        outbox=outbox,
        reconciler=reconciler,
        bolt=bolt,
        supervisor=supervisor,
        readiness=readiness,
        sessions=sessions,
        access=access,
        home=home_door,
        socket=socket,
        metrics=meters,
        slack_clients=clients,
    )


def dry_run_settings(settings: Settings) -> Settings:
    """A dry run's timing: its simulated training takes DRY_RUN_TRAINING_SECONDS (minutes,
    not hours), so polling and progress updates are tightened to match
    (tavus/simulated.py, dry_run_intervals); never less often than the settings ask."""
    from tavus.simulated import dry_run_intervals  # a dry run's alone, as above

    poll, progress = dry_run_intervals(
        settings.dry_run_training_seconds,
        settings.poll_interval_seconds,
        settings.progress_update_seconds,
    )
    return replace(settings, poll_interval_seconds=poll, progress_update_seconds=progress)


def create_app(
    settings: Settings,
    *,
    socket_timing: SocketModeTiming | None = None,
    storage: Storage | None = None,
) -> web.Application:
    """The whole bot as one aiohttp application: Slack at /slack/events (or over Socket Mode
    when SLACK_APP_TOKEN is set), Tavus callbacks, and /healthz. Storage opens and migrates
    on start-up, unless `storage` is given open (bot.py opens it first, to report a bad
    DATABASE_PATH in one line); everything closes on clean-up."""
    services = build_services(settings, socket_timing, storage)
    # In Socket Mode Slack reaches Bolt over the WebSocket, so no Slack route is served: a
    # POST to /slack/events is 404 like any unknown path.
    slack_path = None if services.socket is not None else SLACK_EVENTS_PATH
    web_app = web.Application()  # the Slack route is handlers/bad_requests.py's
    web_app[SERVICES] = services
    web_app[METRICS] = services.metrics  # for GET /metrics (handlers/metrics.py)
    surface = Surface(
        bolt=services.bolt,
        web_app=web_app,
        settings=services.settings,  # a dry run's timing included
        storage=services.storage,
        workflow=services.workflow,
        voices=services.voices,
        relay=services.relay,
        sessions=services.sessions,
        access=services.access,
        home=services.home,
        readiness=services.readiness,
        slack_path=slack_path,
    )
    for door in DOORS:
        door.register(surface)

    async def start(_: web.Application) -> None:
        socket = services.socket
        if socket is not None:
            logger.info("Slack: Socket Mode (SLACK_APP_TOKEN); %s is not served", SLACK_EVENTS_PATH)
            # First, before anything else is opened: a refused app token stops start-up.
            await socket.open()
        else:
            logger.info("Slack: HTTP mode; Slack sends requests to POST %s", SLACK_EVENTS_PATH)
        if services.settings.tavus_dry_run:
            effective = services.settings
            logger.warning(
                "TAVUS_DRY_RUN: a dry run. Tavus is simulated in this process: nothing is sent "
                "to Tavus and nothing is charged (training takes %g s; polled every %g s)",
                effective.dry_run_training_seconds,
                effective.poll_interval_seconds,
            )
        await services.storage.open()
        # Slack calls from here on go through one session, traced for the metrics.
        trace = services.metrics.slack_trace(services.settings.slack_api_url)
        services.slack_clients.open_session([trace])
        supervisor = services.supervisor
        supervisor.spawn(services.readiness.slack.problem(), "check the Slack token")
        supervisor.spawn(_warm_voice_cache(services.voices), "check the Tavus key and load voices")
        if socket is not None:
            await socket.connect()
        # Pending messages and open requests resume at once, before any new work arrives.
        supervisor.start_loop("outbox", services.outbox.run())
        supervisor.start_loop("reconciler", services.reconciler.run())
        supervisor.start_loop(
            "media sweep", every(MEDIA_SWEEP_SECONDS, services.relay.sweep, "media sweep")
        )
        supervisor.start_loop(
            "retention",
            every(
                PRUNE_EVERY_SECONDS,
                lambda: prune(services.storage, services.settings.retention_days),
                "retention",
            ),
        )

    async def stop(_: web.Application) -> None:
        # Stop taking new work first (Slack requests, then the loops); what is in flight is
        # either finished within the grace period or left recorded (outbox rows,
        # create_sent_at) for the next start.
        if services.socket is not None:
            await services.socket.close()
        await services.supervisor.close(grace_seconds=SHUTDOWN_GRACE_SECONDS)
        await services.relay.aclose()
        await services.voices.close()
        await services.tavus.aclose()
        await services.slack_clients.aclose()
        await services.storage.close()

    web_app.on_startup.append(start)
    web_app.on_cleanup.append(stop)
    return web_app


def _media_store(settings: Settings) -> S3Store | None:
    """Where shared files are copied for Tavus: an S3-compatible bucket with MEDIA_STORE=s3;
    None for MEDIA_DIR (the relay's default)."""
    if settings.media_store is not MediaStore.S3:
        return None
    assert settings.media_s3_bucket is not None  # settings refuse s3 without a bucket
    from media_relay.s3_store import S3Store

    return S3Store(
        bucket=settings.media_s3_bucket,
        prefix=settings.media_s3_prefix,
        endpoint_url=settings.media_s3_endpoint_url,
    )


async def _warm_voice_cache(voices: VoiceCatalog) -> None:
    """Load voices at start-up, so the first voice search answers within Slack's 3 s; this
    is also the check that Tavus accepts the API key."""
    try:
        await voices.voices()
    except TavusAuthError as error:
        logger.error("Tavus rejected TAVUS_API_KEY (HTTP %s): %s", error.status_code, error.reason)
    except TavusError:
        logger.warning("Could not load Tavus voices at start-up; will retry", exc_info=True)
