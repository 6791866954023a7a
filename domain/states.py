"""A request's states and the transitions between them, as data.

The storage layer derives every conditional UPDATE's guard from TRANSITIONS (storage/
replicas.py), so the allowed moves are written once, here, next to the states.
"""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    """Where a request is in its life. Finished states never change again."""

    # Recorded; nothing goes to Tavus until everyone on camera (or owning the footage) approves.
    AWAITING_CONSENT = "awaiting_consent"
    SUBMITTING = "submitting"  # recorded; POST /v2/replicas sent or about to be
    TRAINING = "training"  # Tavus accepted it and is training
    # A two-stage model (phoenix-4.5): its watermarked preview is usable; tuning goes on.
    PREVIEW_READY = "preview_ready"
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # Tavus reported a training error
    NOT_CREATED = "not_created"  # Tavus refused it, or it never reached Tavus
    UNCERTAIN = "uncertain"  # the create may or may not have taken effect
    DELETED = "deleted"  # the replica was deleted at Tavus (consent revoked, or an admin)

    @property
    def is_open(self) -> bool:
        """True while a training result may still arrive."""
        return self in OPEN


OPEN = frozenset({State.SUBMITTING, State.TRAINING, State.UNCERTAIN, State.PREVIEW_READY})


class Transition(StrEnum):
    """The workflow's moves, by what happened."""

    CONSENTED = "consented"  # every approver approved: it may go to Tavus
    # Declined, expired, or consent withdrawn before the create went out: nothing is created.
    CONSENT_REFUSED = "consent_refused"
    ACCEPTED = "accepted"  # Tavus answered the create with a replica id
    CREATE_FAILED = "create_failed"  # certainly nothing was created
    CREATE_UNCERTAIN = "create_uncertain"  # it may have been created: never re-sent
    ADOPTED = "adopted"  # an ambiguous (or given-up) create turned out to have a replica
    PREVIEWED = "previewed"  # a two-stage model's preview is usable; tuning goes on
    SUCCEEDED = "succeeded"  # training ended well
    FAILED = "failed"  # training ended in an error
    DELETED = "deleted"  # the replica is gone at Tavus


# Each move: the states it may start from, and the state it leads to.
TRANSITIONS: dict[Transition, tuple[frozenset[State], State]] = {
    Transition.CONSENTED: (frozenset({State.AWAITING_CONSENT}), State.SUBMITTING),
    # From SUBMITTING only while the create has not gone out (storage adds that guard).
    Transition.CONSENT_REFUSED: (
        frozenset({State.AWAITING_CONSENT, State.SUBMITTING}),
        State.NOT_CREATED,
    ),
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
    Transition.PREVIEWED: (
        frozenset({State.SUBMITTING, State.TRAINING, State.UNCERTAIN}),
        State.PREVIEW_READY,
    ),
    Transition.SUCCEEDED: (OPEN, State.SUCCEEDED),
    Transition.FAILED: (OPEN, State.FAILED),
    # A replica that exists (or did): deleted at Tavus when its consent is revoked or an admin
    # deletes it. Not UNCERTAIN: until its replica is found there is nothing to delete.
    Transition.DELETED: (
        frozenset({State.TRAINING, State.PREVIEW_READY, State.SUCCEEDED, State.FAILED}),
        State.DELETED,
    ),
}


def sources(transition: Transition) -> frozenset[State]:
    """The states `transition` may start from."""
    return TRANSITIONS[transition][0]


def target(transition: Transition) -> State:
    """The state `transition` leads to."""
    return TRANSITIONS[transition][1]
