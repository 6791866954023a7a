"""Assembles the bot: services, the Bolt app, and the aiohttp server that carries both."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from handlers import bad_requests, commands, health, replica_modal, tavus_callback
from replicas.notifier import SLACK_ERRORS, SlackNotifier
from replicas.voices import VoiceCatalog
from replicas.workflow import ReplicaWorkflow
from settings import Settings
from storage.database import Storage
from tavus.client import TavusClient
from tavus.errors import TavusAuthError, TavusError

logger = logging.getLogger(__name__)

SLACK_EVENTS_PATH = "/slack/events"


@dataclass(frozen=True)
class Services:
    settings: Settings
    storage: Storage
    tavus: TavusClient
    voices: VoiceCatalog
    workflow: ReplicaWorkflow
    bolt: AsyncApp


SERVICES = web.AppKey("services", Services)


def create_app(settings: Settings) -> web.Application:
    """The whole bot as one aiohttp application: Slack at /slack/events, Tavus callbacks,
    and /healthz. Storage opens and migrates on start-up; everything closes on clean-up."""
    bolt = AsyncApp(token=settings.slack_bot_token, signing_secret=settings.slack_signing_secret)
    # Bolt builds its client for slack.com; per-request clients copy base_url and retry
    # handlers from this one. (Passing client= instead makes Bolt warn whenever
    # SLACK_BOT_TOKEN is in the environment.)
    slack = bolt.client
    slack.base_url = settings.slack_api_url
    slack.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=2))
    storage = Storage(settings.database_path)
    tavus = TavusClient(settings.tavus_api_url, settings.tavus_api_key)
    voices = VoiceCatalog(tavus)
    workflow = ReplicaWorkflow(
        settings=settings, storage=storage, tavus=tavus, notifier=SlackNotifier(slack)
    )
    commands.register(bolt)
    replica_modal.register(bolt, workflow, voices)

    web_app = bolt.web_app(path=SLACK_EVENTS_PATH)
    bad_requests.register(web_app, SLACK_EVENTS_PATH)
    tavus_callback.register(web_app, workflow)
    health.register(web_app, storage)
    services = Services(settings, storage, tavus, voices, workflow, bolt)
    web_app[SERVICES] = services

    async def start(_: web.Application) -> None:
        await storage.open()
        workflow.spawn(_check_slack_token(slack), "check the Slack token")
        workflow.spawn(_warm_voice_cache(voices), "check the Tavus key and load voices")

    async def stop(_: web.Application) -> None:
        await workflow.close()
        await voices.close()
        await tavus.aclose()
        await storage.close()

    web_app.on_startup.append(start)
    web_app.on_cleanup.append(stop)
    return web_app


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
