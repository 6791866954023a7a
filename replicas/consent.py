"""Consent in the workflow: the approvals a request waits for, their expiry, and deletions
(consent revoked, an admin's delete, a departed person's replicas).

Part of the one state machine (replicas/workflow.py builds it and hands it the workflow's
transaction and resume): every door (the DM's buttons, App Home, the `user_change` event, the
poller) calls these methods, and each decision is recorded in the consent record in the same
transaction as the state change it makes and the messages it owes.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Protocol, TypeVar

import sqlite_utils

from blocks.consent import consent_request, person_left_notice, role_of
from blocks.messages import ReplyKind
from domain.consent import ConsentEventKind, decided, deletion_asked, expired
from domain.record import ReplicaRecord
from domain.states import State
from replicas import reasons
from replicas.supervisor import Supervisor
from settings import Settings
from storage import outbox
from storage import replicas as store
from storage.database import Storage
from tavus.api import TavusApi

logger = logging.getLogger(__name__)
T = TypeVar("T")


class Commit(Protocol):
    """The workflow's transaction: runs `change` atomically, then wakes the outbox."""

    def __call__(self, change: Callable[[sqlite_utils.Database], T]) -> Awaitable[T]: ...


class Answer(StrEnum):
    """What became of an approver's click (or a deletion asked for)."""

    NOT_YOURS = "not_yours"  # the clicker may not answer this request
    ENDED = "ended"  # the request had already moved on: nothing changed
    REPEATED = "repeated"  # they had answered it before: nothing changed
    APPROVED = "approved"  # recorded; others still have to approve
    CONSENTED = "consented"  # recorded; everyone approved, so it goes to Tavus now
    DECLINED = "declined"  # recorded; nothing is created
    WITHDRAWN = "withdrawn"  # consent withdrawn before the create went out: nothing created
    DELETING = "deleting"  # recorded; the replica is being deleted at Tavus


@dataclass(frozen=True)
class Outcome:
    answer: Answer
    record: ReplicaRecord  # as the answer left it
    # The clicker's earlier answer, for REPEATED and ENDED (APPROVED or DECLINED), if any.
    earlier: ConsentEventKind | None = None
    waiting: tuple[str, ...] = field(default_factory=tuple)  # approvers still to approve


class ConsentFlow:
    def __init__(
        self,
        *,
        settings: Settings,
        storage: Storage,
        tavus: TavusApi,
        supervisor: Supervisor,
        commit: Commit,
        resume: Callable[[int], None],
    ) -> None:
        self._settings = settings
        self._storage = storage
        self._tavus = tavus
        self._supervisor = supervisor
        self._commit = commit
        self._resume = resume

    @property
    def timeout_days(self) -> int:
        return self._settings.consent_timeout_days

    # -- asking ------------------------------------------------------------------------------

    def ask_approvers(self, db: sqlite_utils.Database, request_id: int) -> None:
        """Within the transaction that records a request awaiting consent: the DM to each
        approver, in their own lane (delivered whatever becomes of the request's channel)."""
        record = store.get_request(db, request_id)
        for user_id in record.approvers:
            message = consent_request(record, user_id, expires_in_days=self.timeout_days)
            outbox.enqueue_dm(db, user_id, f"consent:{request_id}", message.as_kwargs())

    # -- answering ---------------------------------------------------------------------------

    async def answer(self, request_id: int, user_id: str, *, approve: bool) -> Outcome:
        """An approver's Approve or Decline. Only the approvers of the request may answer,
        each once; the first answer counts. Approved by all, the request is sent to Tavus."""

        def decide(db: sqlite_utils.Database) -> Outcome:
            record = store.get_request(db, request_id)
            if user_id not in record.approvers:
                return Outcome(Answer.NOT_YOURS, record)
            earlier = store.decisions(db, request_id).get(user_id)
            if record.state is not State.AWAITING_CONSENT:
                return Outcome(Answer.ENDED, record, earlier)
            if earlier is not None:
                return Outcome(Answer.REPEATED, record, earlier, record.awaiting)
            now = store.utc_now()
            store.append_consent(
                db,
                decided(
                    request_id,
                    now,
                    by=user_id,
                    approved=approve,
                    role=role_of(record, user_id),
                    statement=record.request.statement,
                ),
            )
            if not approve:
                store.consent_refused(db, request_id, reasons.declined(role_of(record, user_id)))
                outbox.announce(db, request_id, ReplyKind.OUTCOME)
                return Outcome(Answer.DECLINED, store.get_request(db, request_id))
            record = store.get_request(db, request_id)
            if record.awaiting:
                outbox.enqueue_status(db, request_id)  # "Waiting for …" names fewer people
                return Outcome(Answer.APPROVED, record, waiting=record.awaiting)
            store.consent_given(db, request_id)
            outbox.enqueue_status(db, request_id)
            return Outcome(Answer.CONSENTED, store.get_request(db, request_id))

        outcome = await self._commit(decide)
        if outcome.answer is Answer.CONSENTED:
            logger.info("Request %s: everyone approved; sending it to Tavus", request_id)
            self._resume(request_id)
        return outcome

    async def expire_overdue(self) -> None:
        """End every request that has waited longer than CONSENT_TIMEOUT_DAYS for approval;
        the requester is told in its thread. Each on its own: one failure is logged, and the
        next round tries it again."""
        days = self.timeout_days
        cutoff = (datetime.now(UTC) - timedelta(days=days)).isoformat(timespec="milliseconds")
        overdue = await self._storage.run(store.awaiting_consent_since_before, cutoff)
        for record in overdue:
            try:
                await self._expire(record.id, days)
            except Exception:
                logger.exception("Could not expire request %s", record.id)

    async def _expire(self, request_id: int, days: int) -> None:
        def lapse(db: sqlite_utils.Database) -> None:
            record = store.get_request(db, request_id)
            waiting = list(record.awaiting)
            if store.consent_refused(db, request_id, reasons.expired(waiting, days)):
                now = store.utc_now()
                store.append_consent(db, expired(request_id, now, waiting_for=waiting, days=days))
                outbox.announce(db, request_id, ReplyKind.OUTCOME)
                logger.info("Request %s: no consent within %d days; it lapsed", request_id, days)

        await self._commit(lapse)

    # -- deleting ----------------------------------------------------------------------------

    def may_manage(self, record: ReplicaRecord, user_id: str) -> bool:
        """The requester, the person on camera and admins may rename, delete or retry."""
        return (
            user_id in (record.origin.requester_id, record.request.subject.user_id)
            or user_id in self._settings.replica_admins
        )

    def may_withdraw(self, record: ReplicaRecord, user_id: str) -> bool:
        """Those who may manage it, and whoever shared the footage, may withdraw consent to
        (or delete) a request's replica."""
        return self.may_manage(record, user_id) or user_id in record.approvers

    async def withdraw(self, request_id: int, user_id: str, *, hard: bool = True) -> Outcome:
        """Consent withdrawn, or a deletion asked for, by `user_id`: before the create went
        out, the request ends with nothing created; after, its replica is deleted at Tavus
        (`hard`: the training footage too), now if its id is known, else once it is.
        Recorded as REVOKED when the person on camera (or owning the footage) asks, else
        DELETE_REQUESTED."""

        def ask(db: sqlite_utils.Database) -> Outcome:
            record = store.get_request(db, request_id)
            if not self.may_withdraw(record, user_id):
                return Outcome(Answer.NOT_YOURS, record)
            if record.state in (State.NOT_CREATED, State.DELETED):
                return Outcome(Answer.ENDED, record)
            revoked = user_id == record.request.subject.user_id or user_id in record.approvers
            event = deletion_asked(request_id, store.utc_now(), by=user_id, revoked=revoked)
            if store.consent_refused(db, request_id, reasons.WITHDRAWN):
                store.append_consent(db, event)
                outbox.announce(db, request_id, ReplyKind.OUTCOME)
                return Outcome(Answer.WITHDRAWN, store.get_request(db, request_id))
            if store.ask_deletion(db, request_id, user_id, hard=hard):
                store.append_consent(db, event)
                outbox.enqueue_status(db, request_id)
            return Outcome(Answer.DELETING, store.get_request(db, request_id))

        outcome = await self._commit(ask)
        if outcome.answer is Answer.DELETING and outcome.record.replica_id is not None:
            self.start_deletion(outcome.record)
        return outcome

    def start_deletion(self, record: ReplicaRecord) -> None:
        """Delete at Tavus in the background; on failure the poller tries again."""
        self._supervisor.spawn(self.delete_at_tavus(record), f"delete request {record.id}")

    async def pending_deletions(self) -> list[ReplicaRecord]:
        return await self._storage.run(store.pending_deletions)

    async def delete_at_tavus(self, record: ReplicaRecord) -> None:
        """DELETE the request's replica at Tavus (hard), then record it and tell the requester.
        Raises TavusError if Tavus could not do it (the deletion stays pending)."""
        if record.replica_id is None or record.delete_requested_by is None:
            return
        hard = record.delete_hard
        found = await self._tavus.delete_replica(record.replica_id, hard=hard)
        if not found:
            logger.info("Request %s: Tavus no longer had %s", record.id, record.replica_id)
        by = record.delete_requested_by

        def gone(db: sqlite_utils.Database) -> None:
            if store.mark_deleted(db, record.id, by=by, hard=hard):
                outbox.announce(db, record.id, ReplyKind.DELETED)

        await self._commit(gone)
        logger.info("Request %s: replica %s deleted at Tavus", record.id, record.replica_id)

    # -- a person leaves ---------------------------------------------------------------------

    async def person_left(self, user_id: str, occasion: str) -> int:
        """A deactivated Slack account: DM every admin the replicas that show that person or
        were made from footage they shared, with Delete buttons. `occasion` tells this
        deactivation from a later one (a repeated event is told once). How many replicas."""
        admins = self._settings.replica_admins

        def tell(db: sqlite_utils.Database) -> int:
            records = store.replicas_of_person(db, user_id)
            if not records:
                return 0
            message = person_left_notice(user_id, records).as_kwargs()
            for admin in admins:
                outbox.enqueue_dm(db, admin, f"left:{user_id}:{occasion}", message)
            return len(records)

        count = await self._commit(tell)
        if count and not admins:
            logger.warning(
                "%s was deactivated and is in %d replica(s), but REPLICA_ADMINS is empty: "
                "nobody was told",
                user_id,
                count,
            )
        return count
