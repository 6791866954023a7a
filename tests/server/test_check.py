"""`python bot.py check`: one ✓/✗ line per check, each ✗ with its fix; exit 0 only when all
pass. Real HTTP against the fake Slack and Tavus (and the real bot, for PUBLIC_URL)."""

from __future__ import annotations

import asyncio
import io
import re
import socket
import sys
import time
from pathlib import Path

import pytest
import sqlite_utils

from server import check
from server.check import Probes
from storage.database import open_database
from storage.migrations import migrations
from tests.conftest import SIGNING_SECRET, Bot
from tests.fakes.fake_slack import BOT_TOKEN, FakeSlack
from tests.fakes.fake_socket_mode import APP_TOKEN
from tests.fakes.fake_tavus import API_KEY, FakeTavus
from tests.test_bot import ROOT, bot_environment

SECRET_NAMES = ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET", "TAVUS_API_KEY")
PLENTY = Probes(free_bytes=lambda path: 100 * 10**9)
ALL_MIGRATIONS = len(migrations.pending(sqlite_utils.Database(memory=True)))


def environment(
    tmp_path: Path, slack: FakeSlack, tavus: FakeTavus, **changes: str | None
) -> dict[str, str]:
    """A valid HTTP-mode configuration pointing at the fakes; `changes` set (None: unset)."""
    env = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "TAVUS_API_KEY": API_KEY,
        "SLACK_API_URL": f"{slack.url}/api/",
        "TAVUS_API_URL": tavus.url,
        "DATABASE_PATH": str(tmp_path / "replica-bot.db"),
    }
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def assert_no_secret(output: str, env: dict[str, str]) -> None:
    """No credential, nor any 8 characters of one, and no token beyond its `xoxb-` kind."""
    for name in SECRET_NAMES:
        value = env.get(name, "")
        for start in range(max(0, len(value) - 7)):
            assert value[start : start + 8] not in output, (name, output)
    assert not re.search(r"\bx(ox[a-z]|app)-[A-Za-z0-9]", output), output


async def run_check(
    env: dict[str, str], probes: Probes = PLENTY, args: tuple[str, ...] = ()
) -> tuple[int, list[str]]:
    """check.main in-process (on a thread: it runs its own event loop), as bot.py calls it."""
    out, err = io.StringIO(), io.StringIO()
    code = await asyncio.to_thread(check.main, list(args), env, out, err, probes=probes)
    assert_no_secret(out.getvalue() + err.getvalue(), env)
    if not args:
        assert err.getvalue() == ""
    return code, out.getvalue().splitlines()


def line(lines: list[str], subject: str) -> str:
    [found] = [text for text in lines if text[2:].startswith(subject)]
    return found


def failures(lines: list[str]) -> list[str]:
    return [text for text in lines if text.startswith("✗")]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


# -- everything fine -----------------------------------------------------------------------------


async def test_a_good_deployment_passes_every_check_as_the_operator_runs_it(
    tmp_path: Path, bot: Bot
) -> None:
    # The real bot runs (its database open, /healthz served); `bot.py check` beside it.
    env = environment(
        tmp_path,
        bot.slack,
        bot.tavus,
        DATABASE_PATH=str(bot.settings.database_path),
        PUBLIC_URL=bot.url,
        MEDIA_DIR=str(tmp_path),
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "bot.py"),
        "check",
        cwd=tmp_path,  # no .env there: only the environment given here counts
        env=bot_environment(tmp_path, **env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 30)
    output = stdout.decode()
    assert (process.returncode, stderr.decode()) == (0, ""), output
    assert_no_secret(output, env)
    lines = output.splitlines()
    assert all(text.startswith("✓ ") for text in lines), output
    version = ".".join(str(part) for part in sys.version_info[:3])
    assert lines[:2] == [f"✓ Python {version}", "✓ Configuration: HTTP mode"]
    assert line(lines, "Database") == f"✓ Database {bot.settings.database_path}: up to date"
    assert line(lines, "Disk space").startswith(f"✓ Disk space in MEDIA_DIR {tmp_path}: ")
    assert line(lines, "Slack token") == "✓ Slack token: @bot in Acme, all 11 scopes"
    assert (
        line(lines, "Slack app token") == "✓ Slack app token: not set (HTTP mode, no Socket Mode)"
    )
    assert line(lines, "Tavus key") == "✓ Tavus key: accepted by Tavus"
    assert line(lines, "PUBLIC_URL") == (
        f"✓ PUBLIC_URL {bot.url}: this bot answers /healthz (local only: Tavus cannot reach it)"
    )
    assert len(lines) == 8


async def test_socket_mode_checks_the_app_token_without_connecting(
    tmp_path: Path, fake_slack: FakeSlack, fake_tavus: FakeTavus
) -> None:
    env = environment(
        tmp_path, fake_slack, fake_tavus, SLACK_APP_TOKEN=APP_TOKEN, SLACK_SIGNING_SECRET=None
    )
    code, lines = await run_check(env)
    assert code == 0 and not failures(lines), lines
    assert "✓ Configuration: Socket Mode" in lines
    assert line(lines, "Slack app token") == (
        "✓ Slack app token: Slack opens Socket Mode connections for it"
    )
    assert line(lines, "PUBLIC_URL").startswith("✓ PUBLIC_URL: not set")
    assert len(fake_slack.calls_to("apps.connections.open")) == 1
    assert fake_slack.socket_mode.links == []  # no WebSocket opened


# -- each failure in turn ------------------------------------------------------------------------


async def test_a_refused_bot_token(
    tmp_path: Path, fake_slack: FakeSlack, fake_tavus: FakeTavus
) -> None:
    env = environment(tmp_path, fake_slack, fake_tavus, SLACK_BOT_TOKEN="xoxb-not-the-right-one")
    code, lines = await run_check(env)
    assert code == 1
    assert failures(lines) == [
        "✗ Slack token: Slack refused SLACK_BOT_TOKEN (invalid_auth) — copy the Bot User OAuth "
        "Token (xoxb-…) from the app's OAuth & Permissions page into SLACK_BOT_TOKEN (reinstall "
        "the app first if it was uninstalled)"
    ]


async def test_a_revoked_bot_token(
    tmp_path: Path, fake_slack: FakeSlack, fake_tavus: FakeTavus
) -> None:
    fake_slack.fail_next["auth.test"] = ["token_revoked"]
    code, lines = await run_check(environment(tmp_path, fake_slack, fake_tavus))
    assert code == 1
    assert line(lines, "Slack token").startswith(
        "✗ Slack token: Slack refused SLACK_BOT_TOKEN (token_revoked) — copy the Bot User"
    )


async def test_missing_scopes_are_named_with_the_reinstall(
    tmp_path: Path, fake_slack: FakeSlack, fake_tavus: FakeTavus
) -> None:
    # An installation from before the manifest asked for these.
    fake_slack.scopes -= {"usergroups:read", "files:write"}
    code, lines = await run_check(environment(tmp_path, fake_slack, fake_tavus))
    assert code == 1
    assert failures(lines) == [
        "✗ Slack token: @bot in Acme, missing scopes usergroups:read, files:write — add them to "
        "the app (manifest.yml: oauth_config.scopes.bot) and reinstall the app to the workspace"
    ]


async def test_a_refused_app_token(
    tmp_path: Path, fake_slack: FakeSlack, fake_tavus: FakeTavus
) -> None:
    env = environment(
        tmp_path, fake_slack, fake_tavus, SLACK_APP_TOKEN="xapp-1-A1-999-not-the-right-one"
    )
    code, lines = await run_check(env)
    assert code == 1
    assert failures(lines) == [
        "✗ Slack app token: Slack refused SLACK_APP_TOKEN (invalid_auth) — generate an app-level "
        "token with the connections:write scope (the app's Basic Information → App-Level "
        "Tokens) and put it in SLACK_APP_TOKEN"
    ]


async def test_a_refused_tavus_key(
    tmp_path: Path, fake_slack: FakeSlack, fake_tavus: FakeTavus
) -> None:
    env = environment(tmp_path, fake_slack, fake_tavus, TAVUS_API_KEY="tavus-revoked-key-0000")
    code, lines = await run_check(env)
    assert code == 1
    assert failures(lines) == [
        "✗ Tavus key: Tavus refused TAVUS_API_KEY (401 Unauthorized) — create an API key in the "
        "Tavus Developer Portal and put it in TAVUS_API_KEY"
    ]


async def test_a_dry_run_needs_no_key_and_asks_tavus_nothing(
    tmp_path: Path, fake_slack: FakeSlack, fake_tavus: FakeTavus
) -> None:
    env = environment(tmp_path, fake_slack, fake_tavus, TAVUS_API_KEY=None, TAVUS_DRY_RUN="true")
    code, lines = await run_check(env)
    assert code == 0, lines
    assert line(lines, "Tavus") == (
        "✓ Tavus: dry run: Tavus is simulated (TAVUS_DRY_RUN), no key needed"
    )
    assert fake_tavus.list_requests == 0


async def test_public_url_must_be_https(
    tmp_path: Path, fake_slack: FakeSlack, fake_tavus: FakeTavus
) -> None:
    env = environment(tmp_path, fake_slack, fake_tavus, PUBLIC_URL="http://bot.example.test")
    code, lines = await run_check(env)
    assert code == 1
    assert failures(lines) == [
        "✗ PUBLIC_URL http://bot.example.test: not https — Tavus and Slack need an https "
        "address: put a TLS-terminating proxy (Caddy, nginx) in front of the bot and set "
        "PUBLIC_URL to its https://… address"
    ]


async def test_public_url_not_answering_says_to_start_the_bot(
    tmp_path: Path, fake_slack: FakeSlack, fake_tavus: FakeTavus
) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there: the bot is not running
    code, lines = await run_check(environment(tmp_path, fake_slack, fake_tavus, PUBLIC_URL=url))
    assert code == 1
    assert failures(lines) == [
        f"✗ PUBLIC_URL {url}: /healthz did not answer (connection refused: nothing listens "
        "there) — start the bot, then run check again; if it runs, check that PUBLIC_URL leads "
        "to it (DNS, proxy, firewall)"
    ]


async def test_public_url_leading_somewhere_else(
    tmp_path: Path, fake_slack: FakeSlack, fake_tavus: FakeTavus
) -> None:
    # The fake Tavus has no /healthz: as a proxy forwarding to the wrong place would answer.
    env = environment(tmp_path, fake_slack, fake_tavus, PUBLIC_URL=fake_tavus.url)
    code, lines = await run_check(env)
    assert code == 1
    assert failures(lines) == [
        f"✗ PUBLIC_URL {fake_tavus.url}: /healthz answered 404 Not Found — start the bot, then "
        "run check again; if it runs, check that the proxy in front of it forwards "
        f"{fake_tavus.url}/ to the bot's HOST and PORT"
    ]


async def test_a_database_path_under_a_file(
    tmp_path: Path, fake_slack: FakeSlack, fake_tavus: FakeTavus
) -> None:
    # A folder that cannot be written to even as root (CI): it is a regular file.
    (tmp_path / "some_file").write_text("not a folder")
    database = tmp_path / "some_file" / "db.sqlite"
    env = environment(tmp_path, fake_slack, fake_tavus, DATABASE_PATH=str(database))
    code, lines = await run_check(env)
    assert code == 1
    assert failures(lines) == [
        f"✗ Database {database}: {tmp_path / 'some_file'} is a file, not a folder — set "
        "DATABASE_PATH to a file in a folder (it is created at start-up)"
    ]


async def test_low_disk_space_gives_the_number_found(
    tmp_path: Path, fake_slack: FakeSlack, fake_tavus: FakeTavus
) -> None:
    asked: list[Path] = []

    def free_bytes(path: Path) -> int:
        asked.append(path)
        return 1_500_000_000

    media = tmp_path / "not" / "made" / "yet"
    env = environment(tmp_path, fake_slack, fake_tavus, MEDIA_DIR=str(media))
    code, lines = await run_check(env, Probes(free_bytes=free_bytes))
    assert code == 1
    assert failures(lines) == [
        f"✗ Disk space in MEDIA_DIR {media}: only 1.5 GB free — a training video can be "
        "750 MB: free at least 2 GB there, or set MEDIA_DIR to a disk with more room"
    ]
    assert asked == [tmp_path]  # the nearest folder that exists: where MEDIA_DIR will be made


async def test_disk_space_is_not_checked_with_an_s3_store(
    tmp_path: Path, fake_slack: FakeSlack, fake_tavus: FakeTavus
) -> None:
    env = environment(
        tmp_path, fake_slack, fake_tavus, MEDIA_STORE="s3", MEDIA_S3_BUCKET="replicas"
    )
    code, lines = await run_check(env, Probes(free_bytes=lambda path: 0))
    assert code == 0, lines
    assert line(lines, "Disk space") == (
        "✓ Disk space: not used (MEDIA_STORE=s3: shared files go to the bucket)"
    )


async def test_a_configuration_error_is_reported_first_and_nothing_else_is_checked(
    tmp_path: Path, fake_slack: FakeSlack, fake_tavus: FakeTavus
) -> None:
    env = environment(
        tmp_path, fake_slack, fake_tavus, SLACK_BOT_TOKEN="not-a-bot-token", PORT="eighty"
    )
    code, lines = await run_check(env)
    assert code == 1
    assert lines[0].startswith("✓ Python ")
    assert lines[1:] == [
        "✗ Configuration: SLACK_BOT_TOKEN must be a bot token starting with xoxb- — fix it in "
        ".env or the environment",
        "✗ Configuration: PORT must be a whole number from 0 to 65535, got 'eighty' — fix it in "
        ".env or the environment",
    ]
    assert fake_slack.calls == [] and fake_tavus.list_requests == 0


async def test_arguments_are_refused(
    tmp_path: Path, fake_slack: FakeSlack, fake_tavus: FakeTavus
) -> None:
    out, err = io.StringIO(), io.StringIO()
    env = environment(tmp_path, fake_slack, fake_tavus)
    assert check.main(["--fast"], env, out, err) == 2
    assert (out.getvalue(), err.getvalue()) == (
        "",
        "replica-bot: check takes no arguments (usage: python bot.py check)\n",
    )


async def test_every_remote_check_is_bounded_and_they_run_side_by_side(
    tmp_path: Path, fake_slack: FakeSlack, fake_tavus: FakeTavus, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(check, "CHECK_TIMEOUT_SECONDS", 1.0)
    hold = fake_slack.hold("auth.test", then_answer=True)  # Slack never answers
    env = environment(tmp_path, fake_slack, fake_tavus, SLACK_APP_TOKEN=APP_TOKEN)
    started = time.monotonic()
    try:
        code, lines = await run_check(env)
    finally:
        hold.release()
    assert time.monotonic() - started < 4
    assert code == 1
    [failure] = failures(lines)
    assert failure.startswith("✗ Slack token: ") and "no answer" in failure, failure
    assert line(lines, "Slack app token").startswith("✓")  # answered meanwhile


# -- the database, read and never written --------------------------------------------------------


def files_in(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def test_an_up_to_date_database_is_read_without_a_trace(tmp_path: Path) -> None:
    path = tmp_path / "replica-bot.db"
    open_database(path).close()
    before = files_in(tmp_path)
    assert check.check_database(path).line == f"✓ Database {path}: up to date"
    assert files_in(tmp_path) == before  # no -wal or -shm left, nothing changed


def test_pending_migrations_are_fine(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite_utils.Database(path)  # a database, but not one the bot has set up yet
    db.table("unrelated").insert({"id": 1})
    db.close()
    result = check.check_database(path)
    assert result.line == f"✓ Database {path}: {ALL_MIGRATIONS} migrations to apply at next start"


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("shopping list\n" * 200)
    assert check.check_database(path).line == (
        f"✗ Database {path}: not a SQLite database this bot can read (file is not a database) "
        "— point DATABASE_PATH at the bot's database, or move this file away and let the bot "
        "create a new one"
    )


def test_a_folder_where_the_database_should_be(tmp_path: Path) -> None:
    assert check.check_database(tmp_path).line == (
        f"✗ Database {tmp_path}: is a folder, not a file — set DATABASE_PATH to a file's path"
    )


def test_a_new_database_is_created_at_start_up(tmp_path: Path) -> None:
    path = tmp_path / "data" / "replica-bot.db"
    assert check.check_database(path).line == f"✓ Database {path}: will be created at start-up"
    assert list(tmp_path.iterdir()) == []


def test_an_old_python_is_named() -> None:
    assert check.check_python((3, 10, 12)).line == (
        "✗ Python 3.10.12: the bot needs Python 3.11 or newer — install a newer Python and "
        "make .venv again with it (python3.11 -m venv .venv)"
    )


def test_secrets_in_the_environment_are_scrubbed_from_every_line() -> None:
    secrets = check._secret_values({"AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG", "X": "1"})
    assert secrets == ["wJalrXUtnFEMI/K7MDENG"]
    assert check._scrubbed("denied for wJalrXUtnFEMI/K7MDENG", secrets) == "denied for …"
