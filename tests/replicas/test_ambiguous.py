"""replicas.ambiguous: which replica an ambiguous create made (pure, no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.record import ReplicaRecord
from domain.request import Mode, ReplicaRequest, SlackOrigin
from domain.states import State
from replicas.ambiguous import CLOCK_SKEW, UNCERTAIN_GIVE_UP, match_creates
from tavus.listing import ListedReplica

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def uncertain(request_id: int, name: str, sent: datetime) -> ReplicaRecord:
    return ReplicaRecord(
        id=request_id,
        state=State.UNCERTAIN,
        request=ReplicaRequest(
            replica_name=name, mode=Mode.VIDEO, train_video_url="https://x/v.mp4"
        ),
        origin=SlackOrigin(requester_id="U1", channel_id="C1"),
        created_at=sent.isoformat(),
        create_sent_at=sent.isoformat(),
    )


def listed(replica_id: str, name: str, created: datetime | None) -> ListedReplica:
    return ListedReplica(
        replica_id=replica_id, replica_name=name, status="started", created_at=created
    )


def test_the_earliest_request_claims_the_earliest_replica_of_its_name() -> None:
    first = uncertain(1, "Jane", NOW - timedelta(minutes=5))
    second = uncertain(2, "Jane", NOW - timedelta(minutes=4))
    listing = [
        listed("late", "Jane", NOW - timedelta(minutes=3)),
        listed("early", "Jane", NOW - timedelta(minutes=4, seconds=30)),
        listed("other", "Bob", NOW - timedelta(minutes=4)),
    ]
    matches = match_creates([second, first], listing, set(), NOW)
    assert [(r.id, m.replica_id) for r, m in matches.found] == [(1, "early"), (2, "late")]
    assert matches.given_up == []


def test_older_claimed_or_undated_replicas_never_match() -> None:
    record = uncertain(1, "Jane", NOW - timedelta(minutes=20))
    listing = [
        listed("older", "Jane", NOW - timedelta(minutes=20) - CLOCK_SKEW - timedelta(seconds=1)),
        listed("claimed", "Jane", NOW - timedelta(minutes=10)),
        listed("undated", "Jane", None),
    ]
    claimed = {"claimed"}
    matches = match_creates([record], listing, claimed, NOW)
    assert matches.found == []
    assert matches.given_up == [record]  # sent 20 min ago: past UNCERTAIN_GIVE_UP
    assert claimed == {"claimed"}  # the caller's set is left as it was


def test_within_clock_skew_still_matches_and_a_recent_request_waits() -> None:
    recent = uncertain(1, "Jane", NOW - UNCERTAIN_GIVE_UP + timedelta(minutes=1))
    skewed = listed("r", "Jane", NOW - UNCERTAIN_GIVE_UP + timedelta(minutes=1) - CLOCK_SKEW)
    assert [m.replica_id for _, m in match_creates([recent], [skewed], set(), NOW).found] == ["r"]
    waiting = match_creates([recent], [], set(), NOW)
    assert waiting.found == [] and waiting.given_up == []
