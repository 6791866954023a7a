"""`python bot.py` as an operator runs it: configuration errors, start-up, health, shutdown."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import httpx

from tests.conftest import SIGNING_SECRET
from tests.fakes.fake_slack import BOT_TOKEN, FakeSlack
from tests.fakes.fake_socket_mode import APP_TOKEN
from tests.fakes.fake_tavus import API_KEY, FakeTavus

ROOT = Path(__file__).resolve().parent.parent


def bot_environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "SYSTEMROOT")}
    return {**keep, "PYTHONUNBUFFERED": "1", **extra}


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
