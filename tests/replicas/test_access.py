"""replicas.access.AccessPolicy against the fake Slack and a real SQLite: how long user-group
members are trusted, where a calendar month starts, and a database that cannot count."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
import sqlite_utils
from slack_sdk.web.async_client import AsyncWebClient

from domain.request import Mode, ReplicaRequest, SlackOrigin
from replicas.access import GROUP_MEMBERS_TTL_SECONDS, AccessPolicy, Why
from settings import Settings
from slack_access.clients import SlackClients
from storage import replicas as store
from storage.database import Storage
from tests.fakes.fake_slack import BOT_TOKEN, FakeSlack

SETTINGS = Settings(slack_bot_token=BOT_TOKEN, slack_signing_secret="s", tavus_api_key="k")
REQUEST = ReplicaRequest(
    replica_name="Jane",
    mode=Mode.VIDEO,
    model_name="phoenix-4",
    train_video_url="https://cdn.example.com/jane.mp4",
)


class Clock:
    def __init__(self) -> None:
        self.seconds = 1000.0

    def __call__(self) -> float:
        return self.seconds


@pytest.fixture
def slack(fake_slack: FakeSlack) -> SlackClients:
    return SlackClients(AsyncWebClient(token=BOT_TOKEN, base_url=f"{fake_slack.url}/api/"))


async def record(storage: Storage, view_id: str, created_at: str, user: str = "U1") -> None:
    def insert(db: sqlite_utils.Database) -> None:
        origin = SlackOrigin(requester_id=user, channel_id="C1", team_id="T1")
        request_id = store.insert_request(
            db, view_id=view_id, request=REQUEST, origin=origin, callback_token_hash=view_id
        )
        db.execute(
            "UPDATE replica_requests SET created_at = ? WHERE id = ?", [created_at, request_id]
        )

    await storage.run(insert)


async def test_group_members_are_asked_for_again_once_they_expire(
    fake_slack: FakeSlack, storage: Storage, slack: SlackClients
) -> None:
    clock = Clock()
    settings = replace(SETTINGS, replica_creators=("SSALES",))
    policy = AccessPolicy(settings, storage, slack, clock=clock)
    fake_slack.user_groups["SSALES"] = ["U1"]

    assert await policy.may_create("U1", "T1", None) is None
    fake_slack.user_groups["SSALES"] = []  # U1 leaves the group
    clock.seconds += GROUP_MEMBERS_TTL_SECONDS - 1
    assert await policy.may_create("U1", "T1", None) is None  # still trusted from memory
    assert len(fake_slack.calls_to("usergroups.users.list")) == 1

    clock.seconds += 1
    refusal = await policy.may_create("U1", "T1", None)

    assert refusal is not None and refusal.why is Why.NOT_A_CREATOR
    assert len(fake_slack.calls_to("usergroups.users.list")) == 2


async def test_the_month_is_the_utc_calendar_month(storage: Storage, slack: SlackClients) -> None:
    now = datetime(2025, 12, 31, 23, 30, tzinfo=UTC)
    settings = replace(SETTINGS, replica_monthly_limit=2)
    policy = AccessPolicy(settings, storage, slack, now=lambda: now)
    await record(storage, "V1", "2025-11-30T23:59:59.999+00:00")  # last month: not counted
    await record(storage, "V2", "2025-12-01T00:00:00.000+00:00")
    await record(storage, "V3", "2025-12-15T10:00:00.000+00:00", user="U2")  # someone else

    assert await policy.may_create("U1", "T1", None) is None
    await record(storage, "V4", "2025-12-31T23:00:00.000+00:00")
    refusal = await policy.may_create("U1", "T1", None)

    assert refusal is not None and refusal.why is Why.MONTHLY_LIMIT
    assert "from 1 January 2026 (UTC)" in refusal.message
    # The form being submitted does not count against itself.
    assert await policy.may_create("U1", "T1", None, view_id="V4") is None


async def test_a_database_that_cannot_count_refuses(storage: Storage, slack: SlackClients) -> None:
    settings = replace(SETTINGS, replica_monthly_limit=5, replica_admins=("UADMIN1",))
    policy = AccessPolicy(settings, storage, slack)
    await storage.run(lambda db: db.execute("ALTER TABLE replica_requests RENAME TO gone"))

    refusal = await policy.may_create("U1", "T1", None)

    assert refusal is not None and refusal.why is Why.COULD_NOT_CHECK
    assert "<@UADMIN1>" in refusal.message
    assert await policy.may_create("UADMIN1", "T1", None) is None  # admins are not counted


async def test_everyone_may_create_when_nothing_is_configured(
    fake_slack: FakeSlack, storage: Storage, slack: SlackClients
) -> None:
    policy = AccessPolicy(SETTINGS, storage, slack)

    assert await policy.may_create("U1", "T1", None) is None
    assert fake_slack.calls == []
