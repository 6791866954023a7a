"""What Tavus says about a training, in the bot's terms: the status vocabulary and progress."""

from __future__ import annotations

from dataclasses import dataclass

from domain.states import State

SUCCESS_STATUSES = frozenset({"ready", "completed", "success"})
FAILURE_STATUSES = frozenset({"error", "errored", "failed"})


@dataclass(frozen=True)
class TrainingResult:
    """A replica status as Tavus reported it (by callback or GET). Anything but a success or
    failure status (`started`, `training`, a status Tavus adds later) means in progress."""

    status: str
    error_message: str | None = None
    # Tavus's "N/100" while training; kept as Tavus wrote it (it may stall: not a failure).
    training_progress: str | None = None

    @property
    def final_state(self) -> State | None:
        """SUCCEEDED or FAILED, or None while training goes on (any unknown status)."""
        status = self.status.strip().lower()
        if status in SUCCESS_STATUSES:
            return State.SUCCEEDED
        if status in FAILURE_STATUSES:
            return State.FAILED
        return None
