"""slack_access.people: what users.info says of someone, and the memory of real names."""

from __future__ import annotations

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from slack_access.people import People, Person
from tests.fakes.fake_slack import BOT_TOKEN, FakeSlack


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def client_of(slack: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token=BOT_TOKEN, base_url=f"{slack.url}/api/")


async def test_a_looked_up_name_is_remembered_for_an_hour(fake_slack: FakeSlack) -> None:
    clock = Clock()
    people = People(clock=clock)
    assert people.cached_name("U1") is None

    assert await people.full_name(client_of(fake_slack), "U1") == "Jane Doe"

    clock.now += 3599
    assert people.cached_name("U1") == "Jane Doe"
    clock.now += 2
    assert people.cached_name("U1") is None  # an hour old: asked afresh next time


def test_at_most_limit_names_are_kept_the_least_recently_used_going_first() -> None:
    people = People(limit=3)
    for number in range(3):
        people.remember(f"U{number}", f"Person {number}")
    assert people.cached_name("U0") == "Person 0"  # used: now the most recent

    people.remember("U9", "Person 9")

    assert people.cached_name("U1") is None
    assert [people.cached_name(u) for u in ("U0", "U2", "U9")] == [
        "Person 0",
        "Person 2",
        "Person 9",
    ]


@pytest.mark.parametrize(
    ("user_id", "expected"),
    [
        ("U2", Person("U2", "Sam Lee")),
        ("UBOT", Person("UBOT", "Sam Lee", is_bot=True)),
        ("UGONE", Person("UGONE", "Sam Lee", deleted=True)),
        ("USLACKBOT", Person("USLACKBOT", "Sam Lee", is_bot=True)),
    ],
)
async def test_bots_and_deactivated_accounts_are_told_apart(
    fake_slack: FakeSlack, user_id: str, expected: Person
) -> None:
    fake_slack.real_names[user_id] = "Sam Lee"
    fake_slack.bots.add("UBOT")
    fake_slack.deactivated.add("UGONE")

    assert await People().look_up(client_of(fake_slack), user_id) == expected


async def test_no_name_and_a_refusal_are_not_remembered(fake_slack: FakeSlack) -> None:
    people = People()
    people.remember("U5", "Old Name")

    assert await people.full_name(client_of(fake_slack), "U5") is None  # no real name now
    assert people.cached_name("U5") is None
    fake_slack.fail_next["users.info"] = ["user_not_found"]
    assert await people.look_up(client_of(fake_slack), "U1") is None
    assert people.cached_name("U1") is None


def test_odd_answers_read_as_nothing_known() -> None:
    assert Person.from_slack("U1", None) == Person("U1", None)
    assert Person.from_slack("U1", {"profile": "x", "real_name": "  "}) == Person("U1", None)
    assert Person.from_slack("U1", {"is_bot": "yes", "real_name": " Jo "}).name == "Jo"
