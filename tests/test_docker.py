"""The Docker image: what it promises read from the Dockerfile, and, where a Docker daemon
answers, built and run in a dry run until it answers /readyz."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import uuid
from pathlib import Path

import httpx
import pytest

from tests.fakes.fake_slack import BOT_TOKEN, FakeSlack

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def test_the_image_runs_as_a_non_root_user_with_its_data_in_a_volume() -> None:
    lines = [line.strip() for line in DOCKERFILE.splitlines()]
    assert any(line.startswith("FROM python:3.1") for line in lines)
    users = [line for line in lines if line.startswith("USER ")]
    assert users and users[-1] != "USER root"
    assert 'VOLUME ["/data"]' in lines
    assert "DATABASE_PATH=/data/replica-bot.db" in DOCKERFILE
    assert "/readyz" in DOCKERFILE and "HEALTHCHECK" in DOCKERFILE
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".env" in ignored and ".git" in ignored  # no secrets or history in the image


def test_the_image_holds_the_bots_modules_compiled() -> None:
    # PYTHONDONTWRITEBYTECODE is set and /app is root's: compiled at build time (after the
    # code is copied in, before the user changes), or each start compiles them again.
    lines = [line.strip() for line in DOCKERFILE.splitlines()]
    assert "PYTHONDONTWRITEBYTECODE=1" in DOCKERFILE
    copied = lines.index("COPY --chown=root:root . .")
    compiled = lines.index("RUN python -m compileall -q /app")
    user = next(i for i, line in enumerate(lines) if line.startswith("USER "))
    assert copied < compiled < user


def docker(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["docker", *args], capture_output=True, timeout=timeout, check=False)


def docker_available() -> str | None:
    """Why the image cannot be built here, or None."""
    if shutil.which("docker") is None:
        return "no docker command on this machine"
    if docker("info", timeout=20).returncode != 0:
        return "the Docker daemon does not answer (docker info failed)"
    return None


# Run in the image (WORKDIR /app): exits 0 if the modules were compiled at build time.
COMPILED = (
    "import pathlib, sys; sys.exit(not list(pathlib.Path('server').glob('__pycache__/app.*')))"
)


async def test_the_image_builds_and_is_ready_in_a_dry_run() -> None:
    why = docker_available()
    if why is not None:
        pytest.skip(why)
    tag = f"replica-bot-test:{uuid.uuid4().hex[:8]}"
    build = await asyncio.to_thread(docker, "build", "-t", tag, str(ROOT), timeout=900)
    if build.returncode != 0:
        pytest.skip(f"the image could not be built here: {build.stderr.decode()[-300:]}")
    slack = FakeSlack()
    await slack.start()
    name = f"replica-bot-test-{uuid.uuid4().hex[:8]}"
    try:
        port = 38000 + uuid.uuid4().int % 1000
        compiled = await asyncio.to_thread(docker, "run", "--rm", tag, "python", "-c", COMPILED)
        assert compiled.returncode == 0, "the image's modules were not compiled"
        started = await asyncio.to_thread(
            docker,
            "run", "-d", "--rm", "--name", name, "--network", "host",
            "-e", f"SLACK_BOT_TOKEN={BOT_TOKEN}", "-e", "SLACK_SIGNING_SECRET=s",
            "-e", "TAVUS_DRY_RUN=true", "-e", f"PORT={port}",
            "-e", f"SLACK_API_URL={slack.url}/api/", tag,
        )  # fmt: skip
        assert started.returncode == 0, started.stderr.decode()
        async with httpx.AsyncClient() as http:
            for _ in range(60):
                try:
                    if (await http.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.5)
            else:
                pytest.fail("the container never answered /readyz with 200")
    finally:
        await asyncio.to_thread(docker, "rm", "-f", name)
        await asyncio.to_thread(docker, "rmi", "-f", tag)
        await slack.stop()
