"""A request's states and the transitions between them, as data.

The storage layer derives every conditional UPDATE's guard from TRANSITIONS (storage/
replicas.py), so the allowed moves are written once, here, next to the states.
"""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    """Where a request is in its life. Finished states never change again."""

    SUBMITTING = "submitting"  # recorded; POST /v2/replicas sent or about to be
    TRAINING = "training"  # Tavus accepted it and is training
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # Tavus reported a training error
    NOT_CREATED = "not_created"  # Tavus refused it, or it never reached Tavus
    UNCERTAIN = "uncertain"  # the create may or may not have taken effect

    @property
    def is_open(self) -> bool:
        """True while a training result may still arrive."""
        return self in OPEN


OPEN = frozenset({State.SUBMITTING, State.TRAINING, State.UNCERTAIN})


class Transition(StrEnum):
    """The workflow's moves, by what happened."""

    ACCEPTED = "accepted"  # Tavus answered the create with a replica id
    CREATE_FAILED = "create_failed"  # certainly nothing was created
    CREATE_UNCERTAIN = "create_uncertain"  # it may have been created: never re-sent
    ADOPTED = "adopted"  # an ambiguous (or given-up) create turned out to have a replica
    SUCCEEDED = "succeeded"  # training ended well
    FAILED = "failed"  # training ended in an error


# Each move: the states it may start from, and the state it leads to.
TRANSITIONS: dict[Transition, tuple[frozenset[State], State]] = {
    Transition.ACCEPTED: (frozenset({State.SUBMITTING}), State.TRAINING),
    Transition.CREATE_FAILED: (
        frozenset({State.SUBMITTING, State.UNCERTAIN}),
        State.NOT_CREATED,
    ),
    Transition.CREATE_UNCERTAIN: (frozenset({State.SUBMITTING}), State.UNCERTAIN),
    # Also from NOT_CREATED: Tavus may list a replica after the bot gave up looking for it.
    Transition.ADOPTED: (
        frozenset({State.SUBMITTING, State.UNCERTAIN, State.NOT_CREATED}),
        State.TRAINING,
    ),
    Transition.SUCCEEDED: (OPEN, State.SUCCEEDED),
    Transition.FAILED: (OPEN, State.FAILED),
}


def sources(transition: Transition) -> frozenset[State]:
    """The states `transition` may start from."""
    return TRANSITIONS[transition][0]


def target(transition: Transition) -> State:
    """The state `transition` leads to."""
    return TRANSITIONS[transition][1]
