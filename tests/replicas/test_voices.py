"""replicas.voices.VoiceCatalog: caching, stale fallback and local search."""

from __future__ import annotations

from typing import cast

import pytest

from replicas.voices import CACHE_SECONDS, RETRY_SECONDS, VoiceCatalog
from tavus.client import TavusClient, Voice
from tavus.errors import TavusError, TavusServerError, TavusUnreachableError

STOCK = [
    Voice("anna", ("Female", "Warm")),
    Voice("benjamin", ("Male", "British")),
    Voice("julia", ("Female",)),
    Voice("liam", ()),
]


class FakeTavus:
    """Stands in for TavusClient: only list_voices is used by the catalog."""

    def __init__(self, *answers: list[Voice] | TavusError) -> None:
        self.answers = list(answers)
        self.calls = 0

    async def list_voices(self) -> list[Voice]:
        self.calls += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, TavusError):
            raise answer
        return list(answer)


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def catalog_for(fake: FakeTavus, clock: Clock, max_age: float = 60.0) -> VoiceCatalog:
    return VoiceCatalog(cast(TavusClient, fake), max_age=max_age, clock=clock)


async def test_two_calls_fetch_once(clock: Clock) -> None:
    fake = FakeTavus(STOCK)
    catalog = catalog_for(fake, clock)

    assert await catalog.voices() == STOCK
    clock.now += 59
    assert await catalog.voices() == STOCK
    assert fake.calls == 1


async def test_refetches_after_max_age(clock: Clock) -> None:
    newer = [*STOCK, Voice("ivy", ())]
    fake = FakeTavus(STOCK, newer)
    catalog = catalog_for(fake, clock)

    await catalog.voices()
    clock.now += 60

    assert await catalog.voices() == STOCK  # the stale list answers at once...
    await catalog.refreshed()
    assert await catalog.voices() == newer  # ...while a refresh runs in the background
    assert fake.calls == 2
    clock.now += 30
    assert await catalog.voices() == newer
    assert fake.calls == 2  # the refetch restarted the clock


def test_default_max_age_is_an_hour() -> None:
    assert CACHE_SECONDS == 3600.0


@pytest.mark.parametrize(
    "failure",
    [
        TavusServerError("down", status_code=503),
        TavusUnreachableError("no route", request_sent=False),
    ],
    ids=["server-error", "unreachable"],
)
async def test_serves_stale_cache_when_refresh_fails(clock: Clock, failure: TavusError) -> None:
    fake = FakeTavus(STOCK, failure)
    catalog = catalog_for(fake, clock)
    await catalog.voices()
    clock.now += 600

    assert await catalog.voices() == STOCK
    await catalog.refreshed()
    assert await catalog.voices() == STOCK
    assert fake.calls == 2


async def test_recovers_after_a_failed_refresh(clock: Clock) -> None:
    newer = [Voice("ivy", ())]
    fake = FakeTavus(STOCK, TavusServerError("down", status_code=500), newer)
    catalog = catalog_for(fake, clock)
    await catalog.voices()
    clock.now += 600
    await catalog.voices()  # stale served; the refresh fails
    await catalog.refreshed()
    assert await catalog.voices() == STOCK  # no retry storm: the next try waits a minute
    assert fake.calls == 2

    clock.now += RETRY_SECONDS
    await catalog.voices()
    await catalog.refreshed()
    assert await catalog.voices() == newer
    assert fake.calls == 3


async def test_raises_when_nothing_is_cached(clock: Clock) -> None:
    failure = TavusUnreachableError("no route", request_sent=False)
    fake = FakeTavus(failure, STOCK)
    catalog = catalog_for(fake, clock)

    with pytest.raises(TavusUnreachableError):
        await catalog.voices()
    assert await catalog.voices() == STOCK  # the next call tries again
    assert fake.calls == 2


async def test_non_tavus_errors_are_not_swallowed(clock: Clock) -> None:
    class Broken:
        async def list_voices(self) -> list[Voice]:
            raise RuntimeError("bug")

    catalog = VoiceCatalog(cast(TavusClient, Broken()), clock=clock)

    with pytest.raises(RuntimeError):
        await catalog.voices()


async def test_names(clock: Clock) -> None:
    catalog = catalog_for(FakeTavus(STOCK), clock)

    assert await catalog.names() == frozenset({"anna", "benjamin", "julia", "liam"})


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("ann", ["anna"]),
        ("AN", ["anna"]),
        ("  JULIA ", ["julia"]),
        ("i", ["benjamin", "julia", "liam"]),
        ("female", ["anna", "julia"]),
        ("FEM", ["anna", "julia"]),
        ("brit", ["benjamin"]),
        ("warm", ["anna"]),
        ("", ["anna", "benjamin", "julia", "liam"]),
        ("zzz", []),
    ],
)
async def test_search_by_name_or_tag(clock: Clock, query: str, expected: list[str]) -> None:
    catalog = catalog_for(FakeTavus(STOCK), clock)

    assert [voice.name for voice in await catalog.search(query)] == expected


async def test_search_uses_the_cache(clock: Clock) -> None:
    fake = FakeTavus(STOCK)
    catalog = catalog_for(fake, clock)

    await catalog.search("a")
    await catalog.search("b")
    await catalog.names()

    assert fake.calls == 1
