"""Socket Mode: Slack delivers commands and interactions over a WebSocket the bot opens.

slack_sdk's aiohttp SocketModeClient (through Bolt's AsyncSocketModeHandler) speaks the
protocol: it asks `apps.connections.open` for a WebSocket URL through the Bolt client (so
SLACK_API_URL applies), acks each envelope with Bolt's answer, reconnects when Slack sends
`disconnect` or the socket closes, and pings to notice a link that died silently.

This module adds what a long-running server needs around it: a refused token stops start-up
with one clear line, an unreachable Slack does not hold start-up (the client keeps retrying),
and closing is bounded whatever the other end does.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError

from slack_access.errors import CREDENTIAL_ERRORS, SLACK_ERRORS

if TYPE_CHECKING:
    # Imported by open(): a bot in HTTP mode (most) never pays for the WebSocket client.
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SocketModeTiming:
    # The client pings this often; a socket that died without a close frame is replaced
    # within about this long, and failed connection attempts are retried at this pace.
    ping_interval: float = 10.0
    # Start-up waits this long for the first connection, then lets it go on in the background.
    connect_wait: float = 10.0
    # Shutdown gives the close handshake this long (Slack may never answer it).
    close_wait: float = 5.0


class SlackAppTokenRejected(Exception):
    """Slack refused SLACK_APP_TOKEN: the bot could receive nothing, so it does not start."""


class SocketModeConnection:
    def __init__(self, bolt: AsyncApp, app_token: str, timing: SocketModeTiming) -> None:
        self._bolt = bolt
        self._app_token = app_token
        self._timing = timing
        self._handler: AsyncSocketModeHandler | None = None
        self._connecting: asyncio.Task[None] | None = None

    async def open(self) -> None:
        """Ask Slack for the first WebSocket URL, which also checks the token.

        Raises SlackAppTokenRejected (with everything released) if Slack refuses the token.
        Other failures are logged; connect() then keeps trying.
        """
        # The client opens an aiohttp session and starts a task when it is built: it needs
        # the running loop, so it cannot be made in create_app().
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

        self._handler = AsyncSocketModeHandler(
            self._bolt, self._app_token, ping_interval=self._timing.ping_interval
        )
        client = self._handler.client
        try:
            client.wss_uri = await asyncio.wait_for(
                client.issue_new_wss_url(), self._timing.connect_wait
            )
        except SlackApiError as error:
            code = error.response.get("error")
            if code in CREDENTIAL_ERRORS:  # the token itself is wrong: retrying cannot help
                await self.close()
                raise SlackAppTokenRejected(f"Slack rejected SLACK_APP_TOKEN: {code}") from None
            logger.warning("Socket Mode: Slack did not open a connection (%s); retrying", code)
        except SLACK_ERRORS:
            logger.warning("Socket Mode: could not reach Slack; retrying", exc_info=True)

    async def connect(self) -> None:
        """Connect, waiting at most connect_wait; after that the client goes on trying."""
        assert self._handler is not None, "open() first"
        # connect_async() retries until it succeeds or the client is closed. (slack_bolt
        # leaves it and close_async() unannotated, hence the ignores.)
        self._connecting = asyncio.create_task(
            self._handler.connect_async(),  # type: ignore[no-untyped-call]
            name="Socket Mode connect",
        )
        done, _ = await asyncio.wait({self._connecting}, timeout=self._timing.connect_wait)
        if done:
            logger.info("Socket Mode: connected to Slack")
        else:
            logger.warning(
                "Socket Mode: not connected after %s s; still trying in the background",
                self._timing.connect_wait,
            )

    async def is_connected(self) -> bool:
        """True while the WebSocket to Slack is up (and answering pings)."""
        handler = self._handler
        if handler is None:
            return False
        connected: bool = await handler.client.is_connected()
        return connected

    async def close(self) -> None:
        """Disconnect and release the client within about close_wait seconds."""
        handler, self._handler = self._handler, None
        if handler is None:
            return
        client = handler.client
        try:
            await asyncio.wait_for(
                handler.close_async(),  # type: ignore[no-untyped-call]
                self._timing.close_wait,
            )
        except TimeoutError:
            logger.warning(
                "Socket Mode: the connection did not close within %s s; dropped it",
                self._timing.close_wait,
            )
        # close_async() only requests cancellation of the client's tasks (and may have been
        # cut short above): finish them here, so none outlives the event loop.
        tasks = [
            task
            for task in (
                self._connecting,
                client.message_processor,
                client.current_session_monitor,
                client.message_receiver,
            )
            if task is not None and not task.done()
        ]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=self._timing.close_wait)
        if not client.aiohttp_client_session.closed:
            await client.aiohttp_client_session.close()
