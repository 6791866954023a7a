"""loops: background loops never end silently; a failed round backs off and goes on."""

from __future__ import annotations

import asyncio

import pytest

from server.loops import Loops, every


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
    running = Loops()

    async def forever() -> None:
        await asyncio.Event().wait()

    async def crashes() -> None:
        raise RuntimeError("boom")

    running.start("steady", forever())
    running.start("fragile", crashes())
    await asyncio.sleep(0.01)
    assert running.stopped() == ["fragile"]
    assert any("Background loop fragile stopped" in r.getMessage() for r in caplog.records)
    await running.stop()
    assert set(running.stopped()) == {"steady", "fragile"}
