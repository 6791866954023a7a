"""A simulated Tavus for dry runs (TAVUS_DRY_RUN=true): the same interface as TavusClient
(tavus/api.py), answered inside the process. Nothing leaves the machine and nothing is charged.

- A replica's progress is a pure function of its id and the clock: the id encodes the model,
  the creation time and whether it is to fail, `dry-<model>-<unix ms>-<n>[-fail|-fail-photo]`
  (e.g. `dry-phoenix-4.5-1767225600000-1`). So GET keeps working after a restart, and the bot
  picks its open requests up where they were.
- Training takes `training_seconds` (DRY_RUN_TRAINING_SECONDS): `started` with
  `training_progress` "N/100", then `completed` with a `thumbnail_video_url`. Phoenix-4.5
  previews at a quarter of that time (`status` completed, `finetune_status` training), and is
  tuned (`finetune_status` completed) at the end.
- A replica whose name contains "fail" (any case) fails halfway through its first stage with
  one of Tavus's documented error sentences (a too-short video; for a photo, an image the head
  is not fully in), so the failure message and its one-line fix can be seen.
- Memory only: names given at create or rename, deletions, and which replicas exist for the
  listing. A restart forgets them: GET still derives every replica from its id (a deleted one
  comes back, though the bot never asks about a deleted replica again), the listing shows only
  replicas created since the start, and a rename shows only in the bot's own record.
- Ids that are not a dry run's (a real replica in the same database) are unknown here, as Tavus
  answers for an unknown id: 400 "Invalid replica_id".
"""

from __future__ import annotations

import itertools
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from tavus.client import CreatedReplica, ReplicaState, Voice
from tavus.errors import TavusRejectedError
from tavus.listing import ListedReplica, PageHook, ReplicaListing

logger = logging.getLogger(__name__)

PREFIX = "dry-"
DEFAULT_MODEL = "phoenix-4"  # Tavus's default when a create names none
PREVIEW_MODELS = frozenset({"phoenix-4.5"})  # two stages: preview, then tuning
PREVIEW_AT = 0.25  # of the training time: a Phoenix-4.5 preview is usable
FAIL_AT = 0.5  # of the first stage (the preview's for Phoenix-4.5, else the whole training)
FAIL_WORD = "fail"
# A harmless page that exists, standing in for Tavus's preview video.
PREVIEW_URL = "https://docs.tavus.io/"
# Tavus's own sentence for a video under the minimum duration (its docs' callback sample).
VIDEO_TOO_SHORT = (
    "There was an issue processing your training video. The video provided does not meet the "
    "minimum duration requirement for training"
)
# Modelled on Tavus's image rejections ("There was an error processing your image…").
PHOTO_REJECTED = (
    "There was an error processing your image. Make sure the head and shoulders are fully in frame."
)
INVALID_ID = json.dumps({"error": "Invalid replica_id"})
# Stock voice slugs as Tavus names them (lowercase first names).
VOICES = ("anna", "benjamin", "gloria", "ivy", "james", "julia", "liam", "lucas")
# How often the bot looks at a simulated training, and shows its progress: a dry run's
# training lasts minutes, not hours (see `dry_run_intervals`).
MIN_POLL_SECONDS = 5.0
POLLS_PER_TRAINING = 20
PROGRESS_STEPS = 10

_ID = re.compile(
    rf"{PREFIX}(?P<model>[a-z0-9.-]+)-(?P<ms>\d+)-(?P<n>\d+)(?:-(?P<fail>fail(?:-photo)?))?"
)


def dry_run_intervals(
    training_seconds: float, poll_interval_seconds: float, progress_update_seconds: float
) -> tuple[float, float]:
    """(poll interval, progress update interval) for a dry run: polled about 20 times per
    simulated training (at most every 5 s), progress shown in about 10 steps; never less often
    than the settings ask."""
    poll = min(poll_interval_seconds, max(MIN_POLL_SECONDS, training_seconds / POLLS_PER_TRAINING))
    progress = min(progress_update_seconds, max(poll, training_seconds / PROGRESS_STEPS))
    return poll, progress


@dataclass(frozen=True)
class SimulatedId:
    """What a simulated replica's id says about it."""

    model_name: str
    created_ms: int
    number: int
    fails: str | None = None  # None, "fail" (a video's failure) or "fail-photo"

    def __str__(self) -> str:
        fail = f"-{self.fails}" if self.fails else ""
        return f"{PREFIX}{self.model_name}-{self.created_ms}-{self.number}{fail}"

    @classmethod
    def parse(cls, replica_id: str) -> SimulatedId | None:
        found = _ID.fullmatch(replica_id)
        if found is None:
            return None
        return cls(
            model_name=found["model"],
            created_ms=int(found["ms"]),
            number=int(found["n"]),
            fails=found["fail"],
        )

    @property
    def created_at(self) -> datetime:
        return datetime.fromtimestamp(self.created_ms / 1000, UTC)


def _model_slug(value: Any) -> str:
    """The model named in a create, as an id can carry it."""
    slug = re.sub(r"[^a-z0-9.]+", "-", str(value or "").lower()).strip("-.")
    return slug or DEFAULT_MODEL


def _progress(fraction: float) -> str:
    return f"{max(0, min(99, int(100 * fraction)))}/100"


def simulated_state(replica_id: SimulatedId, now: float, training_seconds: float) -> ReplicaState:
    """What GET says of a simulated replica at `now` (unix seconds)."""
    total = max(training_seconds, 0.001)
    elapsed = max(0.0, now - replica_id.created_ms / 1000)
    two_stage = replica_id.model_name in PREVIEW_MODELS
    first_stage = total * PREVIEW_AT if two_stage else total
    base = ReplicaState(
        replica_id=str(replica_id),
        status="started",
        error_message=None,
        training_progress=_progress(elapsed / total),
        model_name=replica_id.model_name,
    )
    if replica_id.fails and elapsed >= first_stage * FAIL_AT:
        error = PHOTO_REJECTED if replica_id.fails == "fail-photo" else VIDEO_TOO_SHORT
        stalled = _progress(first_stage * FAIL_AT / total)
        return replace(base, status="error", error_message=error, training_progress=stalled)
    if elapsed < first_stage:
        return base
    done = elapsed >= total
    return replace(
        base,
        status="completed",
        training_progress="100/100",
        thumbnail_video_url=PREVIEW_URL,
        finetune_status=("completed" if done else "training") if two_stage else None,
    )


def _invalid(replica_id: str) -> TavusRejectedError:
    return TavusRejectedError(
        f"simulated Tavus knows no replica {replica_id!r}", status_code=400, body=INVALID_ID
    )


class SimulatedTavus:
    """TavusApi answered in memory; see the module docstring."""

    def __init__(
        self, *, training_seconds: float = 120.0, clock: Callable[[], float] = time.time
    ) -> None:
        self.training_seconds = training_seconds
        self._clock = clock
        self._numbers = itertools.count(1)
        self._names: dict[str, str] = {}  # replicas created (or renamed) since the start
        self._deleted: set[str] = set()

    async def aclose(self) -> None:
        return None

    async def check_key(self) -> None:
        return None  # no key to check: nothing is sent anywhere

    async def create_replica(self, body: dict[str, Any]) -> CreatedReplica:
        if not body.get("train_video_url") and not body.get("train_image_url"):
            raise TavusRejectedError(
                "simulated Tavus refused a create without media",
                status_code=400,
                body=json.dumps(
                    {"error": "Either train_video_url or train_image_url must be provided."}
                ),
            )
        name = str(body.get("replica_name") or "")
        fails = None
        if FAIL_WORD in name.lower():
            fails = "fail" if body.get("train_video_url") else "fail-photo"
        replica_id = str(
            SimulatedId(
                model_name=_model_slug(body.get("model_name")),
                created_ms=int(self._clock() * 1000),
                number=next(self._numbers),
                fails=fails,
            )
        )
        self._names[replica_id] = name
        logger.info(
            "Dry run: simulated replica %s (%s) trains for %g s%s",
            replica_id,
            name,
            self.training_seconds,
            ", then fails" if fails else "",
        )
        return CreatedReplica(replica_id=replica_id, status="started")

    def _known(self, replica_id: str) -> SimulatedId:
        parsed = SimulatedId.parse(replica_id)
        if parsed is None or replica_id in self._deleted:
            raise _invalid(replica_id)
        return parsed

    async def get_replica(self, replica_id: str) -> ReplicaState:
        return simulated_state(self._known(replica_id), self._clock(), self.training_seconds)

    async def list_replicas(self, after_each_page: PageHook | None = None) -> ReplicaListing:
        """The simulated account's replicas, as one page."""
        now = self._clock()
        listed = []
        for replica_id, name in self._names.items():
            parsed = SimulatedId.parse(replica_id)
            if parsed is None or replica_id in self._deleted:
                continue
            state = simulated_state(parsed, now, self.training_seconds)
            listed.append(
                ListedReplica(
                    replica_id=replica_id,
                    replica_name=name,
                    status=state.status,
                    created_at=parsed.created_at,
                    error_message=state.error_message,
                    thumbnail_video_url=state.thumbnail_video_url,
                    finetune_status=state.finetune_status,
                    model_name=state.model_name,
                    training_progress=state.training_progress,
                )
            )
        if after_each_page is not None:
            await after_each_page()
        return ReplicaListing.of(listed)

    async def list_voices(self) -> list[Voice]:
        return [Voice(name=name) for name in VOICES]

    async def rename_replica(self, replica_id: str, name: str) -> None:
        self._known(replica_id)
        self._names[replica_id] = name

    async def delete_replica(self, replica_id: str, *, hard: bool) -> bool:
        if SimulatedId.parse(replica_id) is None or replica_id in self._deleted:
            return False  # Tavus: 400 "Invalid replica_id", which the client reads as gone
        self._deleted.add(replica_id)
        logger.info("Dry run: simulated replica %s deleted (hard=%s)", replica_id, hard)
        return True
