"""What every door is given to wire itself in: each handlers module that serves a surface has
`register(surface: Surface) -> None`, and server/app.py calls them all in one loop (DOORS).

One object rather than a signature per door, so a door that needs one more service takes it
from here and no call site changes; and only what doors may use is in it (not the outbox, the
reconciler or the loops, which the workflow and the server own).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web
from slack_bolt.async_app import AsyncApp

from handlers.form_sessions import FormSessions
from media_relay.relay import MediaRelay
from replicas.access import AccessPolicy
from replicas.home import HomeDoor
from replicas.voices import VoiceCatalog
from replicas.workflow import ReplicaWorkflow
from settings import Settings
from storage.database import Storage


class ReadinessReport(Protocol):
    """What readiness found (server/readiness.py builds it; GET /readyz only serves it)."""

    @property
    def ready(self) -> bool: ...

    @property
    def body(self) -> dict[str, Any]: ...


class Readiness(Protocol):
    """server/readiness.py's Readiness, as a door sees it (handlers may not import server)."""

    async def report(self) -> ReadinessReport: ...


@dataclass(frozen=True)
class Surface:
    """The Bolt app and the web app that doors add listeners and routes to, and the services
    behind them."""

    bolt: AsyncApp
    web_app: web.Application
    settings: Settings
    storage: Storage
    workflow: ReplicaWorkflow
    voices: VoiceCatalog
    relay: MediaRelay
    # Every door of the form (/replica, the upload prompt, the shortcut) shares its sessions.
    sessions: FormSessions
    # Who may create: asked by every door before the form opens, and again on submission.
    access: AccessPolicy
    # App Home: who opened it (and which page an admin is on), published at once.
    home: HomeDoor
    readiness: Readiness
    # Where Slack sends HTTP requests (HTTP mode); None in Socket Mode, where Slack reaches Bolt
    # over the WebSocket and no Slack route is served.
    slack_path: str | None


class Door(Protocol):
    """A handlers module that serves a surface (a module satisfies this by its function)."""

    def register(self, surface: Surface) -> None: ...
