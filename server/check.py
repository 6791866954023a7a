"""`python bot.py check`: is this deployment ready? One line per check, ✓ or ✗ with the fix.

For operators, before a first start or after a change: it reads the configuration as start-up
does (.env and the environment), then checks the Python version, the database (the folder
is writable; the file, if there is one, is a SQLite database; how many migrations the next
start applies), the free space where shared files are copied, the Slack bot token and its
scopes against manifest.yml's, the Socket Mode app token, the Tavus key, and that PUBLIC_URL
reaches this bot (`GET /healthz`: the bot must be running for that one). The remote checks run
side by side, each within CHECK_TIMEOUT_SECONDS.

It changes nothing: the database is opened read-only (and, when the bot is not running,
immutable, so not even SQLite's -wal and -shm files appear), the WebSocket is not opened.
No token, key or secret is printed; every line is scrubbed of their values besides.
Exit status 0 when every check passes, 1 otherwise (a configuration error included: its
problems are the first ✗ lines, and nothing else is checked), 2 for a wrong command line.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import sqlite3
import ssl
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

import aiohttp
import httpx
import sqlite_utils
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from settings import MediaStore, Settings, SettingsError, load_settings
from slack_access.errors import CREDENTIAL_ERRORS, SLACK_ERRORS, SLACK_TROUBLE
from slack_access.scopes import REQUIRED_SCOPES
from storage.migrations import migrations
from tavus.client import TavusClient
from tavus.errors import (
    TavusAuthError,
    TavusError,
    TavusProtocolError,
    TavusRejectedError,
    TavusServerError,
    error_text,
)

COMMAND = "check"
USAGE = f"python bot.py {COMMAND}"
PASS, FAIL = "✓", "✗"
MINIMUM_PYTHON = (3, 11)
# A training video can be 750 MB (domain/media.py), and a copy stays 48 h: room for a few.
MINIMUM_FREE_BYTES = 2 * 10**9
CHECK_TIMEOUT_SECONDS = 10.0  # each remote check, whatever it waits for
HEALTHZ_TIMEOUT_SECONDS = 5.0
CONCURRENT_CHECKS = 4
BUSY_TIMEOUT_MS = 5000  # a read waits this long for the running bot's write
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
# Environment variables whose values are never printed, whichever setting reads them.
SECRET_NAME = re.compile(r"TOKEN|SECRET|KEY|PASSWORD|CREDENTIAL", re.IGNORECASE)
SHORTEST_SECRET = 8  # shorter values (a "1", a "true") are not scrubbed from every line
START_THE_BOT = "start the bot, then run check again"


@dataclass(frozen=True)
class Result:
    """One check's line: what was found and, when it fails, what to do."""

    ok: bool
    text: str
    fix: str | None = None

    @property
    def line(self) -> str:
        mark = PASS if self.ok else FAIL
        return f"{mark} {self.text}" + (f" — {self.fix}" if self.fix else "")


def passed(text: str) -> Result:
    return Result(True, text)


def failed(text: str, fix: str) -> Result:
    return Result(False, text, fix)


def _free_bytes(path: Path) -> int:
    return shutil.disk_usage(path).free


@dataclass(frozen=True)
class Probes:
    """What the checks learn from this machine itself (tests replace them)."""

    python_version: tuple[int, ...] = tuple(sys.version_info[:3])
    free_bytes: Callable[[Path], int] = field(default=_free_bytes)


def main(
    args: Sequence[str],
    environ: Mapping[str, str],
    out: TextIO,
    err: TextIO,
    *,
    probes: Probes | None = None,
) -> int:
    """Run every check and print one line each on `out`; the exit status."""
    if args:
        if list(args) in (["-h"], ["--help"]):
            print(f"usage: {USAGE}\n\n{__doc__.splitlines()[0] if __doc__ else ''}", file=out)
            return 0
        print(f"replica-bot: {COMMAND} takes no arguments (usage: {USAGE})", file=err)
        return 2
    probes = probes or Probes()
    secrets = _secret_values(environ)

    def show(result: Result) -> None:
        print(_scrubbed(result.line, secrets), file=out, flush=True)

    python = check_python(probes.python_version)
    show(python)
    try:
        settings = load_settings(environ)
    except SettingsError as error:
        for problem in error.problems:
            show(failed(f"Configuration: {problem}", "fix it in .env or the environment"))
        return 1
    secrets = _secret_values(environ, settings)
    results = [
        python,
        passed(f"Configuration: {'Socket Mode' if settings.socket_mode else 'HTTP mode'}"),
    ]
    show(results[-1])
    for local in (check_database(settings.database_path), check_disk(settings, probes)):
        results.append(local)
        show(local)
    for remote in asyncio.run(remote_checks(settings)):
        results.append(remote)
        show(remote)
    return 0 if all(result.ok for result in results) else 1


def _secret_values(environ: Mapping[str, str], settings: Settings | None = None) -> list[str]:
    """Every value that must not be printed: the credentials in Settings, and whatever the
    environment holds under a name like a secret's (an S3 key, say)."""
    found = {value.strip() for name, value in environ.items() if SECRET_NAME.search(name)}
    if settings is not None:
        found |= {
            settings.slack_bot_token,
            settings.slack_signing_secret or "",
            settings.slack_app_token or "",
            settings.tavus_api_key,
        }
    # Longest first, so a secret that contains another is scrubbed whole.
    return sorted((v for v in found if len(v) >= SHORTEST_SECRET), key=len, reverse=True)


def _scrubbed(line: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        line = line.replace(secret, "…")
    return line


# -- this machine ------------------------------------------------------------------------------


def check_python(version: tuple[int, ...]) -> Result:
    found = ".".join(str(part) for part in version)
    if tuple(version[:2]) < MINIMUM_PYTHON:
        return failed(
            f"Python {found}: the bot needs Python 3.11 or newer",
            "install a newer Python and make .venv again with it (python3.11 -m venv .venv)",
        )
    return passed(f"Python {found}")


def check_database(path: Path) -> Result:
    """The folder takes the files SQLite writes; an existing file is a database this version
    can open (pending migrations are fine: start-up applies them). Nothing is written."""
    name = f"Database {path}"
    if not path.exists():
        folder = _nearest_existing(path.parent)
        if not folder.is_dir():
            return failed(
                f"{name}: {folder} is a file, not a folder",
                "set DATABASE_PATH to a file in a folder (it is created at start-up)",
            )
        if not os.access(folder, os.W_OK | os.X_OK):
            return failed(
                f"{name}: cannot be created, {folder} is not writable by this user",
                "give this user write access to that folder, or set DATABASE_PATH elsewhere",
            )
        return passed(f"{name}: will be created at start-up")
    if not path.is_file():
        return failed(f"{name}: is a folder, not a file", "set DATABASE_PATH to a file's path")
    folder = path.parent
    if not os.access(path, os.R_OK | os.W_OK):
        return failed(
            f"{name}: this user cannot read and write it",
            "run the bot as the database's owner, or give this user access (chown)",
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        return failed(
            f"{name}: its folder {folder} is not writable by this user (SQLite writes its "
            "-wal and -shm files beside the database)",
            "give this user write access to that folder",
        )
    try:
        pending = len(_pending_migrations(path))
    except sqlite3.DatabaseError as error:  # "file is not a database", and the like
        return failed(
            f"{name}: not a SQLite database this bot can read ({error})",
            "point DATABASE_PATH at the bot's database, or move this file away and let "
            "the bot create a new one",
        )
    except (OSError, sqlite3.Error) as error:
        return failed(f"{name}: cannot be opened ({error})", "see the error; check DATABASE_PATH")
    if pending:
        plural = "s" if pending > 1 else ""
        return passed(f"{name}: {pending} migration{plural} to apply at next start")
    return passed(f"{name}: up to date")


def _nearest_existing(path: Path) -> Path:
    """`path`, or its nearest ancestor that exists ("." at the latest for a relative path)."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path.cwd()


def _pending_migrations(path: Path) -> list[Any]:
    # Without a -wal file nothing has the database open (the bot's connection keeps one):
    # read it as immutable, so SQLite creates no -wal and -shm files either. With one, read
    # it read-only beside the running bot.
    live = Path(f"{path}-wal").exists()
    uri = f"{path.resolve().as_uri()}?mode=ro" + ("" if live else "&immutable=1")
    connection = sqlite3.connect(uri, uri=True)
    try:
        connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        return list(migrations.pending(sqlite_utils.Database(connection)))
    finally:
        connection.close()


def check_disk(settings: Settings, probes: Probes) -> Result:
    """Room in MEDIA_DIR for the copies of shared files Tavus downloads."""
    if settings.media_store is MediaStore.S3:
        return passed("Disk space: not used (MEDIA_STORE=s3: shared files go to the bucket)")
    where = settings.media_dir
    name = f"Disk space in MEDIA_DIR {where}"
    try:
        free = probes.free_bytes(_nearest_existing(where))
    except OSError as error:
        return failed(f"{name}: cannot be measured ({error})", "check MEDIA_DIR")
    found = f"{free / 10**9:.1f} GB free"
    if free < MINIMUM_FREE_BYTES:
        return failed(
            f"{name}: only {found}",
            f"a training video can be 750 MB: free at least {MINIMUM_FREE_BYTES / 10**9:g} GB "
            "there, or set MEDIA_DIR to a disk with more room",
        )
    return passed(f"{name}: {found}")


# -- remote services ---------------------------------------------------------------------------


async def remote_checks(settings: Settings) -> list[Result]:
    """Slack's tokens, Tavus's key and PUBLIC_URL, side by side; each within
    CHECK_TIMEOUT_SECONDS. In the order given, whichever answers first."""
    checks: list[tuple[str, Callable[[], Awaitable[Result]]]] = [
        ("Slack token", lambda: check_slack_token(settings)),
        ("Slack app token", lambda: check_app_token(settings)),
        ("Tavus key", lambda: check_tavus_key(settings)),
        ("PUBLIC_URL", lambda: check_public_url(settings)),
    ]
    limit = asyncio.Semaphore(CONCURRENT_CHECKS)

    async def bounded(name: str, check: Callable[[], Awaitable[Result]]) -> Result:
        async with limit:
            try:
                async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
                    return await check()
            except TimeoutError:
                return failed(
                    f"{name}: no answer within {CHECK_TIMEOUT_SECONDS:g} s",
                    "check this machine's network, then run check again",
                )
            except Exception as error:  # a check's own bug is still one line, not a traceback
                return failed(f"{name}: the check failed ({error!r})", "report this as a bug")

    return list(await asyncio.gather(*(bounded(name, check) for name, check in checks)))


def _slack_client(settings: Settings, token: str | None) -> AsyncWebClient:
    return AsyncWebClient(
        token=token, base_url=settings.slack_api_url, timeout=int(CHECK_TIMEOUT_SECONDS)
    )


def _slack_trouble(code: str | None) -> bool:
    return code in SLACK_TROUBLE or code == "ratelimited"


async def check_slack_token(settings: Settings) -> Result:
    """auth.test with SLACK_BOT_TOKEN, and the token's scopes (Slack lists them in the
    x-oauth-scopes header) against manifest.yml's."""
    name = "Slack token"
    try:
        response = await _slack_client(settings, settings.slack_bot_token).auth_test()
    except SlackApiError as error:
        code = error.response.get("error")
        if _slack_trouble(code):
            fix = "Slack is having trouble: run check again in a few minutes"
        elif code == "not_allowed_token_type":
            fix = "SLACK_BOT_TOKEN must be the Bot User OAuth Token (xoxb-…), not a user token"
        elif code in CREDENTIAL_ERRORS:
            fix = (
                "copy the Bot User OAuth Token (xoxb-…) from the app's OAuth & Permissions page "
                "into SLACK_BOT_TOKEN (reinstall the app first if it was uninstalled)"
            )
        else:
            fix = f"check SLACK_API_URL ({settings.slack_api_url})"
        return failed(f"{name}: Slack refused SLACK_BOT_TOKEN ({code or 'no error code'})", fix)
    except SLACK_ERRORS as error:
        return _unreachable(name, "Slack", settings.slack_api_url, "SLACK_API_URL", error)
    who = f"@{response.get('user')} in {response.get('team')}"
    header = _header(response.headers, "x-oauth-scopes")
    if header is None:
        return passed(f"{name}: {who} (Slack did not list the token's scopes: not checked)")
    granted = {scope.strip() for scope in header.split(",")}
    missing = [scope for scope in REQUIRED_SCOPES if scope not in granted]
    if missing:
        return failed(
            f"{name}: {who}, missing scopes {', '.join(missing)}",
            "add them to the app (manifest.yml: oauth_config.scopes.bot) and reinstall the app "
            "to the workspace",
        )
    return passed(f"{name}: {who}, all {len(REQUIRED_SCOPES)} scopes")


def _header(headers: Any, name: str) -> str | None:
    """A response header, whatever the case of its name."""
    for key, value in dict(headers or {}).items():
        if str(key).lower() == name:
            return str(value)
    return None


async def check_app_token(settings: Settings) -> Result:
    """Socket Mode: Slack hands out a connection URL for SLACK_APP_TOKEN (not connected to)."""
    name = "Slack app token"
    token = settings.slack_app_token
    if token is None:
        return passed(f"{name}: not set (HTTP mode, no Socket Mode)")
    try:
        await _slack_client(settings, None).apps_connections_open(app_token=token)
    except SlackApiError as error:
        code = error.response.get("error")
        new_token = (
            "generate an app-level token with the connections:write scope (the app's Basic "
            "Information → App-Level Tokens) and put it in SLACK_APP_TOKEN"
        )
        if _slack_trouble(code):
            fix = "Slack is having trouble: run check again in a few minutes"
        elif code in CREDENTIAL_ERRORS:
            fix = new_token
        else:
            fix = (
                f"turn Socket Mode on in the app's settings (manifest.socket-mode.yml); {new_token}"
            )
        return failed(f"{name}: Slack refused SLACK_APP_TOKEN ({code or 'no error code'})", fix)
    except SLACK_ERRORS as error:
        return _unreachable(name, "Slack", settings.slack_api_url, "SLACK_API_URL", error)
    return passed(f"{name}: Slack opens Socket Mode connections for it")


async def check_tavus_key(settings: Settings) -> Result:
    """The cheapest authenticated Tavus call (one replica listed)."""
    if settings.tavus_dry_run:
        return passed("Tavus: dry run: Tavus is simulated (TAVUS_DRY_RUN), no key needed")
    name = "Tavus key"
    tavus = TavusClient(
        settings.tavus_api_url,
        settings.tavus_api_key,
        timeout_seconds=min(settings.tavus_timeout_seconds, CHECK_TIMEOUT_SECONDS),
    )
    try:
        await tavus.check_key()
    except TavusAuthError as error:
        return failed(
            f"{name}: Tavus refused TAVUS_API_KEY ({_status(error.status_code)})",
            "create an API key in the Tavus Developer Portal and put it in TAVUS_API_KEY",
        )
    except TavusRejectedError as error:
        words = error_text(error.body)
        said = f": {words}" if words else ""
        if error.status_code == 429:
            fix = "Tavus is limiting requests: run check again in a minute"
        else:
            fix = "check the key's account and plan in the Tavus Developer Portal"
        return failed(f"{name}: Tavus refused the check ({_status(error.status_code)}{said})", fix)
    except TavusServerError as error:
        return failed(
            f"{name}: Tavus failed ({_status(error.status_code)})",
            "Tavus is having trouble: run check again in a few minutes",
        )
    except TavusProtocolError:
        return failed(
            f"{name}: {settings.tavus_api_url} answered, but not as Tavus does",
            "check TAVUS_API_URL (or leave it unset for https://tavusapi.com)",
        )
    except TavusError as error:  # no answer
        return _unreachable(name, "Tavus", settings.tavus_api_url, "TAVUS_API_URL", error)
    finally:
        await tavus.aclose()
    return passed(f"{name}: accepted by Tavus")


async def check_public_url(settings: Settings) -> Result:
    """PUBLIC_URL is an https base URL, and GET {PUBLIC_URL}/healthz reaches this bot."""
    url = settings.public_url
    if url is None:
        return passed(
            "PUBLIC_URL: not set (Tavus results arrive by polling; files shared in Slack need "
            "PUBLIC_URL or MEDIA_STORE=s3)"
        )
    name = f"PUBLIC_URL {url}"
    parts = urlsplit(url)
    local = parts.hostname in LOCAL_HOSTS
    if parts.scheme != "https" and not local:
        return failed(
            f"{name}: not https",
            "Tavus and Slack need an https address: put a TLS-terminating proxy (Caddy, "
            "nginx) in front of the bot and set PUBLIC_URL to its https://… address",
        )
    if parts.query or parts.fragment:
        return failed(f"{name}: has a ?query or #fragment", "set PUBLIC_URL to the base URL alone")
    healthz = f"{url}/healthz"
    try:
        async with httpx.AsyncClient(timeout=HEALTHZ_TIMEOUT_SECONDS) as http:
            response = await http.get(healthz)
    except httpx.HTTPError as error:
        kind, words = _network_problem(error)
        if kind == "dns":
            fix = f"add a DNS record for {parts.hostname}, or correct PUBLIC_URL"
        elif kind == "tls":
            fix = f"give {parts.hostname} a certificate that browsers trust (Tavus checks it)"
        else:
            fix = (
                f"{START_THE_BOT}; if it runs, check that PUBLIC_URL leads to it "
                "(DNS, proxy, firewall)"
            )
        return failed(f"{name}: /healthz did not answer ({words})", fix)
    ours = _is_our_healthz(response)
    if response.status_code == 200 and ours:
        note = " (local only: Tavus cannot reach it)" if local else ""
        return passed(f"{name}: this bot answers /healthz{note}")
    if response.status_code == 503 and ours:
        return failed(
            f"{name}: the bot answers, but its database fails",
            "see the bot's log (DATABASE_PATH)",
        )
    if response.is_redirect:
        target = response.headers.get("location", "?")
        return failed(
            f"{name}: /healthz redirects ({_status(response.status_code)}) to {target}",
            "set PUBLIC_URL to the address the bot is served at, or stop the proxy redirecting",
        )
    if response.status_code == 200:
        return failed(
            f"{name}: something answered /healthz, but not this bot",
            "check that PUBLIC_URL (and the proxy in front of the bot) leads to this bot",
        )
    return failed(
        f"{name}: /healthz answered {_status(response.status_code)}",
        f"{START_THE_BOT}; if it runs, check that the proxy in front of it forwards "
        f"{url}/ to the bot's HOST and PORT",
    )


def _is_our_healthz(response: httpx.Response) -> bool:
    """The bot's own /healthz body: {"status": …, "database": …}."""
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and "status" in body and "database" in body


def _status(code: int | None) -> str:
    if code is None:
        return "no answer"
    try:
        return f"{code} {HTTPStatus(code).phrase}"
    except ValueError:
        return str(code)


def _unreachable(name: str, service: str, url: str, setting: str, error: BaseException) -> Result:
    _, words = _network_problem(error)
    return failed(
        f"{name}: could not reach {service} at {url} ({words})",
        f"check this machine's internet access (proxy, firewall) and {setting}",
    )


def _network_problem(error: BaseException) -> tuple[str, str]:
    """What kind of failure a connection error is ("dns", "tls", "refused", "timeout" or
    "other"), and a few words for it, from the whole chain of causes."""
    chain: list[BaseException] = []
    pending: list[BaseException | None] = [error]
    while pending:
        found = pending.pop(0)
        if found is None or found in chain:
            continue
        chain.append(found)
        pending += [
            found.__cause__,
            found.__context__,
            getattr(found, "os_error", None),  # aiohttp's connection errors
            getattr(found, "certificate_error", None),
        ]

    def first(kind: type[BaseException] | tuple[type[BaseException], ...]) -> Any:
        return next((cause for cause in chain if isinstance(cause, kind)), None)

    if first((socket.gaierror, aiohttp.ClientConnectorDNSError)) is not None:
        return "dns", "DNS: the host name does not resolve"
    if (untrusted := first(ssl.SSLCertVerificationError)) is not None:
        # aiohttp's certificate error is one too, without ssl's verify_message: take the first
        # that has it.
        reason = next(
            (why for cause in chain if (why := getattr(cause, "verify_message", None))), None
        )
        return "tls", f"TLS: the certificate is not trusted: {reason or untrusted}"
    if (tls := first((ssl.SSLError, aiohttp.ClientSSLError))) is not None:
        return "tls", f"TLS failed: {getattr(tls, 'reason', None) or tls}"
    if first(ConnectionRefusedError) is not None:
        return "refused", "connection refused: nothing listens there"
    if first((TimeoutError, httpx.TimeoutException)) is not None:
        return "timeout", "no answer in time"
    return "other", str(error) or type(error).__name__
