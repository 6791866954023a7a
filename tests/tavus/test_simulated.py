"""tavus.simulated.SimulatedTavus, the dry run's Tavus: progress over (injected) time, failures,
Phoenix-4.5's two stages, rename and delete, and answers derived from the id alone, so that a
restart keeps working."""

from __future__ import annotations

from typing import Any

import pytest

from domain.states import State
from domain.training import TrainingResult
from domain.training_errors import hint_for
from tavus.api import TavusApi
from tavus.client import ReplicaState, TavusClient
from tavus.errors import TavusRejectedError
from tavus.simulated import (
    PHOTO_REJECTED,
    PREVIEW_URL,
    VIDEO_TOO_SHORT,
    SimulatedId,
    SimulatedTavus,
    dry_run_intervals,
)

START = 1_767_225_600.0  # 2026-01-01T00:00:00Z
TRAINING = 120.0
VIDEO = {"replica_name": "Jane", "train_video_url": "https://cdn.example.com/jane.mp4"}
PHOTO = {
    "replica_name": "Jane",
    "train_image_url": "https://cdn.example.com/jane.png",
    "voice_name": "anna",
}


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def tavus(clock: Clock) -> SimulatedTavus:
    return SimulatedTavus(training_seconds=TRAINING, clock=clock)


async def at(tavus: SimulatedTavus, clock: Clock, seconds: float, replica_id: str) -> ReplicaState:
    clock.now = START + seconds
    return await tavus.get_replica(replica_id)


async def create(tavus: SimulatedTavus, body: dict[str, Any], model: str = "phoenix-4") -> str:
    created = await tavus.create_replica({**body, "model_name": model})
    assert created.status == "started"
    return created.replica_id


async def test_both_tavus_implementations_are_a_tavus_api() -> None:
    apis: list[TavusApi] = [SimulatedTavus(), TavusClient("https://tavus.invalid", "key")]
    for api in apis:  # mypy checks the list against the Protocol
        await api.aclose()


async def test_the_id_carries_model_creation_time_and_a_counter(
    tavus: SimulatedTavus, clock: Clock
) -> None:
    first = await create(tavus, VIDEO, "phoenix-4.5")
    second = await create(tavus, VIDEO, "phoenix-4.5")
    assert first == f"dry-phoenix-4.5-{int(START * 1000)}-1"
    assert second == f"dry-phoenix-4.5-{int(START * 1000)}-2"
    parsed = SimulatedId.parse(first)
    assert parsed is not None and parsed.model_name == "phoenix-4.5" and parsed.fails is None
    assert parsed.created_at.isoformat() == "2026-01-01T00:00:00+00:00"
    assert str(parsed) == first
    # No model named: Tavus's default.
    assert (await tavus.create_replica(VIDEO)).replica_id.startswith("dry-phoenix-4-")


async def test_progress_moves_to_completed_over_the_training_time(
    tavus: SimulatedTavus, clock: Clock
) -> None:
    replica_id = await create(tavus, VIDEO)
    start = await at(tavus, clock, 0, replica_id)
    assert (start.status, start.training_progress, start.thumbnail_video_url) == (
        "started",
        "0/100",
        None,
    )
    assert (await at(tavus, clock, 30, replica_id)).training_progress == "25/100"
    almost = await at(tavus, clock, TRAINING - 0.01, replica_id)
    assert (almost.status, almost.training_progress) == ("started", "99/100")
    done = await at(tavus, clock, TRAINING, replica_id)
    assert done == ReplicaState(
        replica_id=replica_id,
        status="completed",
        error_message=None,
        training_progress="100/100",
        thumbnail_video_url=PREVIEW_URL,
        finetune_status=None,
        model_name="phoenix-4",
    )
    assert PREVIEW_URL.startswith("https://")


async def test_phoenix_4_5_previews_at_a_quarter_then_is_tuned(
    tavus: SimulatedTavus, clock: Clock
) -> None:
    replica_id = await create(tavus, PHOTO, "phoenix-4.5")

    def stage(state: ReplicaState) -> State | None:
        result = TrainingResult(
            status=state.status,
            finetune_status=state.finetune_status,
            thumbnail_video_url=state.thumbnail_video_url,
        )
        return result.stage("phoenix-4.5")

    early = await at(tavus, clock, TRAINING / 4 - 1, replica_id)
    assert early.status == "started" and stage(early) is None
    preview = await at(tavus, clock, TRAINING / 4, replica_id)
    assert (preview.status, preview.finetune_status) == ("completed", "training")
    assert preview.thumbnail_video_url == PREVIEW_URL and stage(preview) is State.PREVIEW_READY
    tuned = await at(tavus, clock, TRAINING, replica_id)
    assert (tuned.status, tuned.finetune_status) == ("completed", "completed")
    assert stage(tuned) is State.SUCCEEDED


@pytest.mark.parametrize("name", ["fail", "Please FAIL me", "Failing Fred"])
async def test_a_name_with_fail_fails_halfway_with_tavuss_words_and_a_fix(
    tavus: SimulatedTavus, clock: Clock, name: str
) -> None:
    replica_id = await create(tavus, {**VIDEO, "replica_name": name})
    assert replica_id.endswith("-fail")
    before = await at(tavus, clock, TRAINING / 2 - 1, replica_id)
    assert before.status == "started" and before.error_message is None
    failed = await at(tavus, clock, TRAINING / 2, replica_id)
    assert (failed.status, failed.error_message) == ("error", VIDEO_TOO_SHORT)
    assert failed.thumbnail_video_url is None
    # The progress stays where it failed, however late it is asked.
    assert (await at(tavus, clock, 10 * TRAINING, replica_id)).training_progress == "50/100"
    assert TrainingResult(status=failed.status).final_state is State.FAILED
    assert "1 minute" in (hint_for(failed.error_message) or "")


async def test_a_failing_photo_fails_as_an_image_and_phoenix_4_5_before_its_preview(
    tavus: SimulatedTavus, clock: Clock
) -> None:
    replica_id = await create(tavus, {**PHOTO, "replica_name": "fail"}, "phoenix-4.5")
    assert replica_id.endswith("-fail-photo")
    failed = await at(tavus, clock, TRAINING / 8, replica_id)
    assert (failed.status, failed.error_message) == ("error", PHOTO_REJECTED)
    assert failed.finetune_status is None
    assert "JPG or PNG" in (hint_for(failed.error_message) or "")


async def test_rename_and_delete_change_what_tavus_answers(
    tavus: SimulatedTavus, clock: Clock
) -> None:
    replica_id = await create(tavus, VIDEO)
    other = await create(tavus, {**VIDEO, "replica_name": "Sam"})
    await tavus.rename_replica(replica_id, "Jane 2")
    listed = {r.replica_id: r for r in await tavus.list_replicas()}
    assert listed[replica_id].replica_name == "Jane 2" and listed[other].replica_name == "Sam"
    assert listed[replica_id].created_at is not None
    assert await tavus.delete_replica(replica_id, hard=True) is True
    assert await tavus.delete_replica(replica_id, hard=True) is False  # already gone
    with pytest.raises(TavusRejectedError) as raised:
        await tavus.get_replica(replica_id)
    assert raised.value.status_code == 400 and "Invalid replica_id" in raised.value.body
    with pytest.raises(TavusRejectedError):
        await tavus.rename_replica(replica_id, "again")
    assert [r.replica_id for r in await tavus.list_replicas()] == [other]


async def test_the_listing_is_one_page_and_awaits_the_hook_once(tavus: SimulatedTavus) -> None:
    replica_id = await create(tavus, VIDEO)
    pages: list[int] = []

    async def after_each_page() -> None:
        pages.append(1)

    listing = await tavus.list_replicas(after_each_page)

    assert pages == [1] and listing.ids() == [replica_id]


async def test_a_restart_keeps_every_replica_by_its_id(clock: Clock) -> None:
    before = SimulatedTavus(training_seconds=TRAINING, clock=clock)
    replica_id = await create(before, VIDEO, "phoenix-4.5")
    failing = await create(before, {**VIDEO, "replica_name": "fail"})
    after = SimulatedTavus(training_seconds=TRAINING, clock=clock)  # nothing in memory
    clock.now = START + TRAINING / 2
    assert await after.get_replica(replica_id) == await before.get_replica(replica_id)
    assert (await after.get_replica(failing)).status == "error"
    # The new process numbers its creates afresh; the time in the id keeps them apart.
    newer = await create(after, VIDEO)
    assert newer.endswith("-1") and newer not in (replica_id, failing)
    # Its listing shows what it created; delete and rename work on any id.
    assert [r.replica_id for r in await after.list_replicas()] == [newer]
    await after.rename_replica(replica_id, "Renamed")
    assert await after.delete_replica(failing, hard=False) is True


@pytest.mark.parametrize("replica_id", ["r90bbd427f71", "", "..", "dry-", "dry-phoenix-4-x-1"])
async def test_ids_not_of_a_dry_run_are_unknown_as_at_tavus(
    tavus: SimulatedTavus, replica_id: str
) -> None:
    with pytest.raises(TavusRejectedError) as raised:
        await tavus.get_replica(replica_id)
    assert raised.value.status_code == 400 and "Invalid replica_id" in raised.value.body
    assert await tavus.delete_replica(replica_id, hard=True) is False


async def test_key_voices_and_refusals(tavus: SimulatedTavus) -> None:
    await tavus.check_key()  # always accepted
    names = [voice.name for voice in await tavus.list_voices()]
    assert {"anna", "benjamin", "james", "julia", "liam", "ivy"} <= set(names)
    assert names == sorted(names)
    with pytest.raises(TavusRejectedError) as raised:
        await tavus.create_replica({"replica_name": "No media"})
    assert raised.value.reason == "Either train_video_url or train_image_url must be provided."
    await tavus.aclose()


@pytest.mark.parametrize(
    ("training", "poll", "progress", "expected"),
    [
        (120.0, 300.0, 300.0, (6.0, 12.0)),  # the default: 20 polls, 10 progress steps
        (60.0, 300.0, 300.0, (5.0, 6.0)),  # never polled more often than every 5 s
        (1.5, 0.1, 300.0, (0.1, 0.15)),  # a faster POLL_INTERVAL_SECONDS is kept (tests)
        (86400.0, 300.0, 300.0, (300.0, 300.0)),  # never less often than the settings ask
    ],
)
def test_dry_run_polling_fits_the_simulated_training(
    training: float, poll: float, progress: float, expected: tuple[float, float]
) -> None:
    assert dry_run_intervals(training, poll, progress) == pytest.approx(expected)
