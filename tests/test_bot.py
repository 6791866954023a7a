"""`python bot.py` as an operator runs it: configuration errors, start-up, health, shutdown."""

from __future__ import annotations

import ast
import asyncio
import contextlib
import gc
import json
import os
import resource
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.conftest import SIGNING_SECRET
from tests.fakes.fake_slack import BOT_TOKEN, FakeSlack
from tests.fakes.fake_socket_mode import APP_TOKEN
from tests.fakes.fake_tavus import API_KEY, FakeTavus
from tests.raw_http import send_in_parts, status_of

ROOT = Path(__file__).resolve().parent.parent


def bot_environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "SYSTEMROOT")}
    return {**keep, "PYTHONUNBUFFERED": "1", **extra}


def run_up_to_serving(tmp_path: Path, script: str, *args: str) -> Any:
    """`script` in a new interpreter, configured for tmp_path and with no .env around: it
    replaces web.run_app and runs bot.py (sys.argv[1]; `args` follow) as `python bot.py` would,
    then prints one JSON value, returned here."""
    env = bot_environment(
        tmp_path,
        PYTHONPATH=str(ROOT),
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        TAVUS_API_KEY=API_KEY,
        DATABASE_PATH=str(tmp_path / "bot.db"),
        MEDIA_DIR=str(tmp_path / "media"),
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(ROOT / "bot.py"), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


async def run_bot(tmp_path: Path, env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "bot.py"),
        cwd=tmp_path,  # no .env there: only the environment given here counts
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_missing_configuration_is_one_line_per_problem(tmp_path: Path) -> None:
    process = await run_bot(tmp_path, bot_environment(tmp_path, PORT="eighty"))
    _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 2
    lines = stderr.decode().strip().splitlines()
    assert len(lines) == 4
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "TAVUS_API_KEY", "PORT"):
        assert sum(name in line for line in lines) == 1, name
    assert "Traceback" not in stderr.decode()


async def test_env_file_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        f"SLACK_BOT_TOKEN={BOT_TOKEN}\nSLACK_SIGNING_SECRET=s\nTAVUS_API_KEY=k\nPORT=99999\n"
    )
    process = await run_bot(tmp_path, bot_environment(tmp_path, PORT="not-a-port"))
    _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 2
    assert stderr.decode().strip().splitlines() == [
        "replica-bot: PORT must be a whole number from 0 to 65535, got 'not-a-port'"
    ]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_serves_health_and_stops_cleanly_on_sigterm(
    tmp_path: Path, fake_slack: FakeSlack, fake_tavus: FakeTavus
) -> None:
    port = free_port()
    env = bot_environment(
        tmp_path,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        TAVUS_API_KEY=API_KEY,
        HOST="127.0.0.1",
        PORT=str(port),
        DATABASE_PATH=str(tmp_path / "data" / "bot.db"),
        SLACK_API_URL=f"{fake_slack.url}/api",  # no trailing slash: the bot adds it
        TAVUS_API_URL=fake_tavus.url,
    )
    process = await run_bot(tmp_path, env)
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(200):
                try:
                    response = await http.get(f"http://127.0.0.1:{port}/healthz")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
            else:
                raise AssertionError("bot did not start")
        assert response.json() == {"status": "ok", "database": "ok"}
        async with httpx.AsyncClient() as http:
            forged = await http.post(
                f"http://127.0.0.1:{port}/tavus/callback/secret-token-123", json={}
            )
        assert forged.status_code == 404
        assert (tmp_path / "data" / "bot.db").exists()
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 15)
        assert process.returncode == 0, stderr.decode()
        log = stderr.decode()
        assert '"GET /healthz" 200' in log  # the access log is on...
        assert '"POST /tavus/callback/<token>" 404' in log  # ...and keeps callback tokens out
        for secret in (API_KEY, BOT_TOKEN, SIGNING_SECRET, "secret-token-123"):
            assert secret not in log
        # A healthy start is quiet: no warnings (only the forged callback's).
        noisy = [line for line in log.splitlines() if " WARNING " in line or " ERROR " in line]
        assert noisy == [line for line in noisy if "unknown token" in line], noisy
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def wait_for_health(port: int) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        for _ in range(200):
            try:
                return await http.get(f"http://127.0.0.1:{port}/healthz")
            except httpx.TransportError:
                await asyncio.sleep(0.05)
    raise AssertionError("bot did not start")


def socket_mode_environment(
    tmp_path: Path, slack: FakeSlack, tavus: FakeTavus, port: int, **extra: str
) -> dict[str, str]:
    return bot_environment(
        tmp_path,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_APP_TOKEN=APP_TOKEN,  # and no SLACK_SIGNING_SECRET
        TAVUS_API_KEY=API_KEY,
        HOST="127.0.0.1",
        PORT=str(port),
        DATABASE_PATH=str(tmp_path / "bot.db"),
        SLACK_API_URL=f"{slack.url}/api/",
        TAVUS_API_URL=tavus.url,
        **extra,
    )


async def test_socket_mode_connects_serves_health_and_stops_cleanly(
    tmp_path: Path, fake_slack: FakeSlack, fake_tavus: FakeTavus
) -> None:
    port = free_port()
    process = await run_bot(
        tmp_path, socket_mode_environment(tmp_path, fake_slack, fake_tavus, port)
    )
    try:
        response = await wait_for_health(port)
        assert response.json() == {"status": "ok", "database": "ok"}
        link = await fake_slack.socket_mode.connected()
        async with httpx.AsyncClient() as http:
            slack_over_http = await http.post(f"http://127.0.0.1:{port}/slack/events", content="")
        assert slack_over_http.status_code == 404
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 15)
        assert process.returncode == 0, stderr.decode()
        assert not link.open
        log = stderr.decode()
        assert "Slack: Socket Mode" in log
        assert "Socket Mode: connected to Slack" in log
        for secret in (API_KEY, BOT_TOKEN, APP_TOKEN):
            assert secret not in log
        noisy = [line for line in log.splitlines() if " WARNING " in line or " ERROR " in line]
        assert noisy == []
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_socket_mode_with_a_refused_app_token_exits_with_one_line(
    tmp_path: Path, fake_slack: FakeSlack, fake_tavus: FakeTavus
) -> None:
    env = socket_mode_environment(tmp_path, fake_slack, fake_tavus, free_port())
    env["SLACK_APP_TOKEN"] = "xapp-1-revoked-token"
    process = await run_bot(tmp_path, env)
    _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 2
    lines = [line for line in stderr.decode().splitlines() if line.startswith("replica-bot: ")]
    assert lines == ["replica-bot: Slack rejected SLACK_APP_TOKEN: invalid_auth"]
    assert "Traceback" not in stderr.decode()
    assert "xapp-1-revoked-token" not in stderr.decode()


def http_mode_environment(
    tmp_path: Path, slack: FakeSlack, tavus: FakeTavus, port: int
) -> dict[str, str]:
    return bot_environment(
        tmp_path,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        TAVUS_API_KEY=API_KEY,
        HOST="127.0.0.1",
        PORT=str(port),
        DATABASE_PATH=str(tmp_path / "bot.db"),
        SLACK_API_URL=f"{slack.url}/api/",
        TAVUS_API_URL=tavus.url,
    )


async def log_of(process: asyncio.subprocess.Process) -> list[str]:
    """Stop the bot; its log lines."""
    process.send_signal(signal.SIGTERM)
    _, stderr = await asyncio.wait_for(process.communicate(), 15)
    assert process.returncode == 0, stderr.decode()
    return stderr.decode().splitlines()


FORGED_LINE = "2026-01-01 00:00:00,000 ERROR replica-bot: forged"


@contextlib.asynccontextmanager
async def serving_bot(
    tmp_path: Path, fake_slack: FakeSlack, fake_tavus: FakeTavus
) -> AsyncIterator[tuple[int, asyncio.subprocess.Process]]:
    """`bot.py` in HTTP mode, answering on the port it yields; killed if the test did not
    stop it (with log_of)."""
    port = free_port()
    process = await run_bot(tmp_path, http_mode_environment(tmp_path, fake_slack, fake_tavus, port))
    try:
        await wait_for_health(port)
        yield port, process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_a_newline_in_a_request_path_cannot_forge_a_log_line(
    tmp_path: Path, fake_slack: FakeSlack, fake_tavus: FakeTavus
) -> None:
    async with serving_bot(tmp_path, fake_slack, fake_tavus) as (port, process):
        forged = quote(f"\n{FORGED_LINE}\r\n{FORGED_LINE}\u2028{FORGED_LINE}")
        async with httpx.AsyncClient() as http:
            response = await http.get(f"http://127.0.0.1:{port}/x{forged}")
        assert response.status_code == 404
        lines = await log_of(process)
    assert [line for line in lines if FORGED_LINE in line and not line.startswith(FORGED_LINE)]
    assert [line for line in lines if line.startswith(FORGED_LINE)] == []


async def test_a_malformed_http_request_is_one_warning_line(
    tmp_path: Path, fake_slack: FakeSlack, fake_tavus: FakeTavus
) -> None:
    async with serving_bot(tmp_path, fake_slack, fake_tavus) as (port, process):
        head = b"GET / HTTP/1.1\r\nHost: x\r\nBad Header: " + b"\x01" * 4000 + b"\r\n\r\n"
        response = await send_in_parts(port, [head])
        assert status_of(response) == 400
        lines = await log_of(process)
    malformed = [line for line in lines if "aiohttp.server" in line]
    assert len(malformed) == 1, lines
    assert malformed[0].endswith(
        " WARNING aiohttp.server: Malformed HTTP request from 127.0.0.1: Invalid header token"
    )
    assert not [line for line in lines if "Traceback" in line or "\\x01" in line]


@pytest.mark.parametrize("argv", [["bot.py"], ["bot.py", "export-audit"]], ids=["serve", "export"])
async def test_an_old_python_is_told_in_one_line(tmp_path: Path, argv: list[str]) -> None:
    pretend = (
        f"import runpy, sys; sys.version_info = (3, 10, 12, 'final', 0); sys.argv = {argv!r};"
        f" runpy.run_path({str(ROOT / 'bot.py')!r}, run_name='__main__')"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        pretend,
        cwd=tmp_path,
        env=bot_environment(tmp_path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 30)

    assert process.returncode == 2
    assert stderr.decode().splitlines() == [
        "replica-bot: needs Python 3.11 or newer, found Python 3.10.12"
    ]


def test_bot_py_compiles_on_old_pythons() -> None:
    """The version check can only speak if the file compiles there: its grammar is 3.6's, and
    it has no `from __future__ import annotations` (3.6 refuses it before running a line)."""
    tree = ast.parse((ROOT / "bot.py").read_text(), feature_version=(3, 6))

    futures = [
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "__future__"
        for alias in node.names
    ]
    assert futures == []


async def test_running_out_of_file_descriptors_is_one_log_line_and_passes(
    tmp_path: Path, fake_slack: FakeSlack, fake_tavus: FakeTavus
) -> None:
    port = free_port()
    files = 96  # soft and hard: the bot cannot raise it

    def few_files() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (files, files))

    env = http_mode_environment(tmp_path, fake_slack, fake_tavus, port)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "bot.py"),
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        preexec_fn=few_files,
    )
    held: list[asyncio.StreamWriter] = []
    try:
        # A flood of log lines fills the stderr pipe and stalls the bot: fail, do not hang.
        async with asyncio.timeout(60):
            await wait_for_health(port)
            for _ in range(files + 20):  # idle connections: more than the bot can accept
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                held.append(writer)
            await asyncio.sleep(2.5)  # asyncio retries accepting every second
            for writer in held:
                writer.close()
            response = await wait_for_health(port)
            assert response.status_code in (200, 503)  # answering again
            lines = await log_of(process)
    finally:
        for writer in held:
            writer.close()
        if process.returncode is None:
            process.kill()
            await process.communicate()  # wait() would wait for a full stderr pipe to drain
    refused = [line for line in lines if "Cannot accept connections" in line]
    assert len(refused) == 1, lines[-20:]
    assert "[Errno 24] Too many open files" in refused[0]
    assert not [line for line in lines if "socket.accept()" in line or "Traceback" in line]


def test_the_open_file_limit_is_raised_to_what_the_hard_limit_allows() -> None:
    script = (
        "import resource; from server import http as http_server;"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (256, 4096));"
        "http_server.raise_open_file_limit();"
        "print(resource.getrlimit(resource.RLIMIT_NOFILE))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )

    assert result.stdout.strip() == "(4096, 4096)"


async def test_what_start_up_built_is_frozen_out_of_the_collector() -> None:
    from aiohttp import web

    from bot import freeze_what_start_up_built

    assert gc.get_freeze_count() == 0
    try:
        await freeze_what_start_up_built(web.Application())
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()  # the rest of this test process collects as before


# `python bot.py` up to serving, in a new interpreter: web.run_app reports what start-up left.
UP_TO_SERVING = """
import asyncio, gc, json, runpy, sys
from aiohttp import web

def serve(app, **options):
    paused = not gc.isenabled()
    for hook in app.on_startup[-2:]:
        asyncio.run(hook(app))  # the last two: the freeze, then the collector again
    print(json.dumps({
        "paused while starting": paused,
        "last start-up hooks": [hook.__name__ for hook in app.on_startup[-2:]],
        "collecting once serving": gc.isenabled(),
    }))
    gc.unfreeze()

web.run_app = serve
runpy.run_path(sys.argv[1], run_name="__main__")
"""


def test_the_collector_is_paused_while_starting_and_resumed_after_the_freeze(
    tmp_path: Path,
) -> None:
    assert run_up_to_serving(tmp_path, UP_TO_SERVING) == {
        "paused while starting": True,
        "last start-up hooks": ["freeze_what_start_up_built", "resume_garbage_collection"],
        "collecting once serving": True,
    }


def not_a_folder(tmp_path: Path) -> Path:
    """A DATABASE_PATH under a file: the database cannot be created (OSError)."""
    (tmp_path / "file").write_text("")
    return tmp_path / "file" / "bot.db"


def not_a_database(tmp_path: Path) -> Path:
    """A file that is not SQLite's: SQLite refuses it (sqlite3.DatabaseError)."""
    path = tmp_path / "notes.txt"
    path.write_text("not a database, but long enough for SQLite to read its header. " * 4)
    path.chmod(0o600)  # else the bot first logs that it made the file private
    return path


@pytest.mark.parametrize("database", [not_a_folder, not_a_database])
async def test_a_database_that_cannot_be_opened_is_one_line(
    tmp_path: Path, database: Callable[[Path], Path]
) -> None:
    path = database(tmp_path)
    env = bot_environment(
        tmp_path,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        TAVUS_API_KEY=API_KEY,
        DATABASE_PATH=str(path),
    )
    process = await run_bot(tmp_path, env)
    _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 2
    [line] = stderr.decode().splitlines()
    assert line.startswith(f"replica-bot: cannot open DATABASE_PATH {str(path)!r}: ")


def test_each_command_is_named_as_its_module_says() -> None:
    # bot.py names them so as not to import the modules unless asked for.
    import bot
    from server import backup, check, export

    assert bot.COMMANDS == (export.COMMAND, backup.COMMAND, check.COMMAND)
