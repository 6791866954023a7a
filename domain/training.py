"""What Tavus says about a training, in the bot's terms: the status vocabulary and progress."""

from __future__ import annotations

from dataclasses import dataclass

from domain.states import State

SUCCESS_STATUSES = frozenset({"ready", "completed", "success"})
FAILURE_STATUSES = frozenset({"error", "errored", "failed"})
# Models that train in two stages from one create: a watermarked preview (`status` completed)
# usable within minutes, then tuning (`finetune_status`). Others have no preview stage.
PREVIEW_MODELS = frozenset({"phoenix-4.5"})
FINETUNE_DONE = "completed"
FINETUNE_FAILED = frozenset({"error", "errored", "failed"})


@dataclass(frozen=True)
class TrainingResult:
    """A replica status as Tavus reported it (by callback or GET). Anything but a success or
    failure status (`started`, `training`, a status Tavus adds later) means in progress."""

    status: str
    error_message: str | None = None
    # Tavus's "N/100" while training; kept as Tavus wrote it (it may stall: not a failure).
    training_progress: str | None = None
    # Phoenix-4.5's second stage: None or "training" while tuning, then completed or errored.
    finetune_status: str | None = None
    thumbnail_video_url: str | None = None  # the preview video, once there is one

    @property
    def final_state(self) -> State | None:
        """SUCCEEDED or FAILED by `status` alone, or None while training goes on (any unknown
        status). For a two-stage model SUCCEEDED may be only its preview: see `stage`."""
        status = self.status.strip().lower()
        if status in SUCCESS_STATUSES:
            return State.SUCCEEDED
        if status in FAILURE_STATUSES:
            return State.FAILED
        return None

    @property
    def tuning_failed(self) -> bool:
        return (self.finetune_status or "").strip().lower() in FINETUNE_FAILED

    def stage(self, model_name: str) -> State | None:
        """Where this report puts a request of `model_name`: FAILED; SUCCEEDED (tuned, or for
        a one-stage model, ready; also a tuning that failed, since the preview stays usable);
        PREVIEW_READY (a two-stage model's preview, tuning goes on); None: still training."""
        final = self.final_state
        if final is not State.SUCCEEDED or model_name not in PREVIEW_MODELS:
            return final
        finetune = (self.finetune_status or "").strip().lower()
        if finetune == FINETUNE_DONE or self.tuning_failed:
            return State.SUCCEEDED
        return State.PREVIEW_READY


def progress_percent(training_progress: str | None) -> int | None:
    """Tavus's "N/100" as a percentage from 0 to 100; None if it says nothing readable."""
    if not training_progress:
        return None
    done, _, total = training_progress.strip().partition("/")
    try:
        numerator, denominator = float(done), float(total or "100")
    except ValueError:
        return None
    if not denominator > 0 or numerator != numerator:  # NaN
        return None
    return max(0, min(100, round(100 * numerator / denominator)))
