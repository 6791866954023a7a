"""replicas.supervisor: background loops never end silently; a failed round backs off and goes
on; finite work is logged, waited for and cancelled at shutdown."""

from __future__ import annotations

import asyncio

import pytest

from replicas.supervisor import Supervisor, every


async def test_every_survives_any_error_and_backs_off(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    sleeps: list[float] = []
    real_sleep = asyncio.sleep

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr(asyncio, "sleep", sleep)
    calls = 0

    async def work() -> None:
        nonlocal calls
        calls += 1
        if calls <= 3:
            raise KeyError("an error no one expected")

    task = asyncio.create_task(every(10.0, work, "test work"))
    while calls < 5:
        await real_sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sleeps[:4] == [20.0, 40.0, 80.0, 10.0]  # doubling while failing, then back to normal
    failures = [
        r for r in caplog.records if r.getMessage() == "test work failed; trying again later"
    ]
    assert len(failures) == 3 and all(r.exc_info for r in failures)


async def test_a_loop_that_ends_is_named_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    running = Supervisor()

    async def forever() -> None:
        await asyncio.Event().wait()

    async def crashes() -> None:
        raise RuntimeError("boom")

    running.start_loop("steady", forever())
    running.start_loop("fragile", crashes())
    await asyncio.sleep(0.01)
    assert running.stopped_loops() == ["fragile"]
    assert any("Background loop fragile stopped" in r.getMessage() for r in caplog.records)
    await running.stop_loops()
    assert set(running.stopped_loops()) == {"steady", "fragile"}


async def test_finite_work_is_logged_waited_for_and_cancelled_after_the_grace(
    caplog: pytest.LogCaptureFixture,
) -> None:
    supervisor = Supervisor()
    finished: list[str] = []

    async def quick() -> None:
        finished.append("quick")

    async def broken() -> None:
        raise ValueError("a bug")

    async def hangs() -> None:
        await asyncio.Event().wait()

    supervisor.spawn(quick(), "quick work")
    supervisor.spawn(broken(), "broken work")
    await supervisor.idle()
    assert finished == ["quick"]
    [failure] = [r for r in caplog.records if r.getMessage() == "broken work failed"]
    assert failure.exc_info is not None
    supervisor.spawn(hangs(), "hanging work")
    started = asyncio.get_running_loop().time()
    await supervisor.close(grace_seconds=0.1)
    assert asyncio.get_running_loop().time() - started < 1
    await supervisor.idle()  # nothing left
