"""The replica workflow: submit → record → announce. Every entry point calls into here.

Slack listeners, the Tavus callback route and the reconciler (polling) are thin adapters. The
state machine's moves (domain/states.py) are made here, with the Tavus calls they need and the
Slack messages they owe (queued in the outbox, rendered by blocks/messages.py on delivery).

Rules this module keeps:
- SQLite first: a request is recorded before Tavus is called, and a callback is recorded
  before it is answered.
- POST /v2/replicas is sent once per request and never re-sent automatically: `create_sent_at`
  is committed before it goes out, and a create whose answer was lost is reconciled by listing
  the account's replicas.
- A result is announced only once Tavus's GET agrees with it, whichever door brought it.
- Every Slack message is written to the outbox in the same transaction as the state change
  that calls for it (see replicas/outbox.py); every state change is conditional, so duplicate
  deliveries change and post nothing.
"""

from __future__ import annotations

import functools
import logging
import secrets
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

import sqlite_utils

from blocks.messages import ReplyKind
from domain.record import ReplicaRecord
from domain.request import ReplicaRequest, SlackOrigin
from domain.states import State
from domain.training import TrainingResult
from media_relay.relay import MediaRelay, RelayedFile, RelayError
from replicas import reasons
from replicas.access import MonthlyCap, MonthlyLimitReached
from replicas.ambiguous import match_creates
from replicas.callbacks import CallbackVerdict, hash_token, parse_callback
from replicas.confirmations import Answering, Confirmations
from replicas.consent import ConsentFlow
from replicas.manage import ReplicaManager
from replicas.metrics import Metrics
from replicas.outbox import OutboxWorker
from replicas.supervisor import Supervisor
from settings import Settings
from storage import outbox
from storage import replicas as store
from storage.database import Storage
from tavus.api import TavusApi
from tavus.errors import (
    TavusAuthError,
    TavusError,
    TavusRejectedError,
)
from tavus.listing import ListedReplica, PageHook, ReplicaListing

logger = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Accepted:
    """A recorded request waiting to be sent. The callback token lives only in memory: the
    database keeps its hash."""

    request_id: int
    callback_token: str
    # It waits for approval (replicas/consent.py), which sends it when everyone approved.
    awaiting_consent: bool = False


class ReplicaWorkflow:
    def __init__(
        self,
        *,
        settings: Settings,
        storage: Storage,
        tavus: TavusApi,
        relay: MediaRelay,
        outbox: OutboxWorker,
        supervisor: Supervisor,
        metrics: Metrics | None = None,
    ) -> None:
        self._settings = settings
        self._metrics = metrics if metrics is not None else Metrics()
        self._storage = storage
        self._tavus = tavus
        self._relay = relay
        self._outbox = outbox
        # Runs work after Slack or Tavus has been answered; its failure is logged, not lost.
        self._supervisor = supervisor
        # Requests this process is submitting right now; the reconciler leaves them alone.
        self._submitting: set[int] = set()
        # Callbacks being answered now: confirming gives way to them.
        self._answering = Answering()
        # Callbacks whose result waits for Tavus's GET, a few confirmed at a time.
        self._confirmations = Confirmations(
            supervisor, self.check_replica, answering=self._answering
        )
        # Approvals, their expiry, and deletions: the same state machine, its own module.
        self.consent = ConsentFlow(
            settings=settings,
            storage=storage,
            tavus=tavus,
            supervisor=supervisor,
            commit=self._commit,
            resume=self._resume,
        )
        self.manage = ReplicaManager(
            storage=storage, tavus=tavus, consent=self.consent, commit=self._commit
        )

    async def _commit(self, change: Callable[[sqlite_utils.Database], T]) -> T:
        """Run a state change and the outbox rows it writes in one transaction, then let the
        outbox worker deliver them: woken only if it wrote some, so that a polling round that
        changes nothing to be said does not send the worker looking 10,000 times."""

        def atomically(db: sqlite_utils.Database) -> tuple[T, bool]:
            before = outbox.owed(db)
            with db.atomic():
                result = change(db)
            return result, outbox.owed(db) != before

        result, owed = await self._storage.run(atomically)
        if owed:
            self._outbox.wake()
        return result

    # -- door: a submitted request form ----------------------------------------------------

    async def accept(
        self,
        view_id: str,
        request: ReplicaRequest,
        origin: SlackOrigin,
        *,
        cap: MonthlyCap | None = None,
    ) -> Accepted | None:
        """Record a validated request (its consent record opened, its root message owed, and
        the approvers it waits for asked), before Slack is answered. None if this view was
        already accepted (a repeated submission). Raises
        MonthlyLimitReached, recording nothing, if `cap` is already used up: counted in the
        same transaction as the insert, so concurrent submissions are counted exactly."""
        token = secrets.token_urlsafe(32)

        def record(db: sqlite_utils.Database) -> tuple[int, bool] | None:
            if cap is not None and cap.limit <= store.count_creates_since(
                db, origin.requester_id, cap.since, other_than_view=view_id
            ):
                raise MonthlyLimitReached(origin.requester_id)
            request_id = store.insert_request(
                db,
                view_id=view_id,
                request=request,
                origin=origin,
                callback_token_hash=hash_token(token),
            )
            if request_id is None:
                return None
            outbox.enqueue_status(db, request_id)
            awaiting = bool(request.approvers(origin.requester_id))
            if awaiting:
                self.consent.ask_approvers(db, request_id)
            return request_id, awaiting

        recorded = await self._commit(record)
        if recorded is None:
            logger.info("View %s was already submitted; ignoring the repeat", view_id)
            return None
        request_id, awaiting = recorded
        if awaiting:
            logger.info("Request %s waits for approval before it goes to Tavus", request_id)
        else:
            self._submitting.add(request_id)
        return Accepted(request_id=request_id, callback_token=token, awaiting_consent=awaiting)

    def start_submission(self, accepted: Accepted) -> None:
        """Send an accepted request to Tavus in the background; one that waits for approval
        is sent when it has it (ConsentFlow.answer)."""
        if accepted.awaiting_consent:
            return
        self._submitting.add(accepted.request_id)
        self._supervisor.spawn(self.submit(accepted), f"submit request {accepted.request_id}")

    async def submit(self, accepted: Accepted) -> None:
        """Relay a Slack file if there is one, then send the request to Tavus once."""
        request_id = accepted.request_id
        try:
            record = await self._storage.run(store.get_request, request_id)
            request = record.request
            if request.slack_file_id is not None:
                relayed = await self._relay_file(record, request.slack_file_id)
                if relayed is None:
                    return
                request = request.with_media_url(relayed.url)
                await self._storage.run(
                    store.set_media_url,
                    request_id,
                    request,
                    file_name=relayed.file_name,
                    size=relayed.size,
                    sha256=relayed.sha256,
                )
            if not await self._storage.run(store.mark_create_sent, request_id):
                logger.warning(
                    "Request %s was already sent to Tavus; not sending it again", request_id
                )
                return
            try:
                created = await self._tavus.create_replica(
                    request.tavus_body(self._settings.callback_url(accepted.callback_token))
                )
            except TavusError as error:
                await self._create_failed(request_id, error)
                return
        finally:
            self._submitting.discard(request_id)

        logger.info("Request %s: Tavus is training replica %s", request_id, created.replica_id)
        self._metrics.create_sent("created")

        def training(db: sqlite_utils.Database) -> ReplicaRecord:
            if store.mark_training(db, request_id, created.replica_id, created.status):
                outbox.enqueue_status(db, request_id)
            return store.get_request(db, request_id)

        trained = await self._commit(training)
        if trained.delete_requested_at is not None:
            # Consent was withdrawn while the create was in flight: delete what it made.
            self.consent.start_deletion(trained)
            return
        await self._apply_deferred_callbacks(request_id, created.replica_id)

    async def _relay_file(self, record: ReplicaRecord, file_id: str) -> RelayedFile | None:
        """Copy a Slack file to where Tavus can fetch it; None (told and recorded) on failure."""
        request_id = record.id
        try:
            relayed = await self._relay.relay(
                file_id,
                request_id,
                # With the client of the workspace that installed the app (multi-workspace).
                team_id=record.origin.team_id,
                enterprise_id=record.origin.enterprise_id,
            )
        except RelayError as error:
            logger.warning("Could not relay file %s of request %s: %s", file_id, request_id, error)
            await self._not_created(request_id, reasons.relay_failed(error))
            return None
        return relayed

    async def _create_failed(self, request_id: int, error: TavusError) -> None:
        if isinstance(error, TavusAuthError):
            self._metrics.create_sent("refused")
            logger.error(
                "Tavus rejected TAVUS_API_KEY (HTTP %s): %s", error.status_code, error.body_start
            )
            await self._not_created(request_id, reasons.refused(error))
        elif isinstance(error, TavusRejectedError):
            self._metrics.create_sent("refused")
            logger.warning(
                "Tavus refused request %s: HTTP %s %s",
                request_id,
                error.status_code,
                error.body_start,
            )
            await self._not_created(request_id, reasons.refused(error))
        elif error.may_have_taken_effect:
            self._metrics.create_sent("uncertain")
            logger.error(
                "Create for request %s is ambiguous: %s %s", request_id, error, error.body_start
            )
            await self._uncertain(request_id, reasons.ambiguous(error))
        else:
            self._metrics.create_sent("unreachable")
            logger.error("Create for request %s never reached Tavus: %s", request_id, error)
            await self._not_created(request_id, reasons.TAVUS_UNREACHABLE)

    async def _not_created(self, request_id: int, reason: str) -> None:
        await self._create_ended(request_id, State.NOT_CREATED, reason)

    async def _uncertain(self, request_id: int, reason: str) -> None:
        await self._create_ended(request_id, State.UNCERTAIN, reason)

    async def _create_ended(self, request_id: int, state: State, reason: str) -> None:
        """The create failed for sure (NOT_CREATED) or maybe (UNCERTAIN): record it and tell
        the requester, once per state."""

        def change(db: sqlite_utils.Database) -> None:
            if store.mark_create_failed(db, request_id, state, reason):
                reply = ReplyKind.OUTCOME if state is State.NOT_CREATED else ReplyKind.UNCERTAIN
                outbox.announce(db, request_id, reply)

        await self._commit(change)

    # -- door: Tavus callback --------------------------------------------------------------

    async def handle_callback(self, token: str, raw_body: bytes) -> CallbackVerdict:
        """Check a callback against its request and record it; durable before it returns, in
        one transaction (the request found by its token, what the callback says applied when
        it needs no confirming, and its audit row).

        A final status is announced only after `GET /v2/replicas/{id}` agrees (the body is
        unsigned), in the background, so Tavus gets its answer at once.
        """
        token_hash = hash_token(token)
        parsed = parse_callback(raw_body)

        def receive(
            db: sqlite_utils.Database,
        ) -> tuple[CallbackVerdict, ReplicaRecord | None, str | None]:
            record = store.find_by_token_hash(db, token_hash)
            if record is None:
                return CallbackVerdict.UNKNOWN_TOKEN, None, None
            raw = raw_body.decode("utf-8", errors="replace")
            if parsed is None:
                verdict, replica_id, status = CallbackVerdict.MALFORMED, None, None
            else:
                replica_id, result = parsed
                status = result.status
                verdict = _callback_verdict(record, replica_id, result)
                if verdict is CallbackVerdict.APPLIED:
                    # Nothing to confirm (in progress, or the request has finished): apply it.
                    verdict = self._apply_result(db, record, result)
            store.record_callback(
                db,
                record.id,
                replica_id=replica_id,  # the one it names
                status=status,
                outcome=verdict.value,
                raw_body=raw,
            )
            return verdict, record, replica_id

        with self._answering.one():
            verdict, record, replica_id = await self._commit(receive)
        if record is None or replica_id is None:
            return verdict
        if verdict is CallbackVerdict.DEFERRED and record.state is not State.SUBMITTING:
            # The create's answer was lost: check which replica the callback names.
            self._supervisor.spawn(
                self._adopt_named(record.id, replica_id), f"check callback {record.id}"
            )
        elif verdict is CallbackVerdict.REPLICA_MISMATCH:
            logger.warning(
                "Callback for request %s names replica %s, not %s",
                record.id,
                replica_id,
                record.replica_id,
            )
        elif verdict is CallbackVerdict.CONFIRMING:
            self._confirmations.ask(record.id, replica_id)
        return verdict

    async def _apply_deferred_callbacks(self, request_id: int, replica_id: str) -> None:
        """A callback that came before the create's answer: confirm it now."""
        callbacks = await self._storage.run(store.callbacks_for, request_id)
        for callback in callbacks:
            if callback["outcome"] != CallbackVerdict.DEFERRED:
                continue
            parsed = parse_callback(callback["raw_body"].encode())
            if parsed is not None and parsed[0] == replica_id and parsed[1].final_state:
                await self.check_replica(request_id, replica_id)
                return

    # -- door: the reconciler (polling) ----------------------------------------------------

    async def check_replica(self, request_id: int, replica_id: str) -> CallbackVerdict:
        """Ask Tavus for the replica's status and record it (announcing a final one)."""
        state = await self._tavus.get_replica(replica_id)
        verdict = await self.record_result(
            request_id,
            TrainingResult(
                status=state.status,
                error_message=state.error_message,
                training_progress=state.training_progress,
                finetune_status=state.finetune_status,
                thumbnail_video_url=state.thumbnail_video_url,
            ),
        )
        if verdict is CallbackVerdict.IN_PROGRESS:
            logger.info(
                "Request %s: Tavus says %s is still %s", request_id, replica_id, state.status
            )
        return verdict

    async def open_request_ids(self) -> list[int]:
        """The ids of requests that may still get a result, oldest first."""
        return await self._storage.run(store.open_request_ids)

    async def open_requests_among(self, ids: Sequence[int]) -> list[ReplicaRecord]:
        """Those of `ids` still open, oldest first, minus those this process is submitting."""
        records = await self._storage.run(store.open_requests_among, ids)
        return [record for record in records if record.id not in self._submitting]

    async def list_replicas(self, after_each_page: PageHook | None = None) -> ReplicaListing:
        """Every replica of the account (all pages, awaiting `after_each_page` after each):
        what a polling round reads instead of asking about each replica on its own."""
        return await self._tavus.list_replicas(after_each_page)

    async def reconcile_request(
        self, record: ReplicaRecord, listed: ListedReplica | None = None
    ) -> None:
        """Move one open request on: resume it if it never reached Tavus, mark it uncertain if
        the process stopped before Tavus answered, or find out how its training goes.

        `listed`: its replica as this round's listing showed it. Training still going on is
        then recorded from the listing alone, and nothing at all is written when nothing
        changed; a result (or Phoenix-4.5's preview) is confirmed with GET before it is
        announced, as is a replica the listing did not show. Raises TavusError when Tavus
        could not be asked."""
        if record.id in self._submitting:
            return
        if record.replica_id is not None and listed is not None:
            result = TrainingResult(
                status=listed.status,
                error_message=listed.error_message,
                training_progress=listed.training_progress,
                finetune_status=listed.finetune_status,
                thumbnail_video_url=listed.thumbnail_video_url,
            )
            stage = result.stage(record.request.model_name)
            if stage is None or (stage is State.PREVIEW_READY and record.state is stage):
                if _unchanged(record, result):
                    return
                await self.record_result(record.id, result)
                return
        if record.state is State.SUBMITTING and record.create_sent_at is None:
            logger.info("Request %s was never sent to Tavus; sending it now", record.id)
            self._resume(record.id)
        elif record.state is State.SUBMITTING and record.replica_id is None:
            # Sent, but the process stopped before Tavus's answer was recorded.
            self._metrics.create_sent("uncertain")
            await self._uncertain(record.id, reasons.RESTARTED)
        elif record.replica_id is not None:
            await self.check_replica(record.id, record.replica_id)

    async def resolve_uncertain(
        self, listing: ReplicaListing | None = None, after_each_page: PageHook | None = None
    ) -> None:
        """Find the replica of every ambiguous create (see _resolve_uncertain), in `listing`
        when the round already read it; else in a listing read now, awaiting
        `after_each_page` after each page."""
        uncertain = await self._storage.run(store.uncertain_requests)
        if uncertain:
            if listing is None:
                listing = await self._tavus.list_replicas(after_each_page)
            await self._resolve_uncertain(uncertain, listing)

    def _resume(self, request_id: int) -> None:
        token = secrets.token_urlsafe(32)
        self._submitting.add(request_id)

        async def resume() -> None:
            await self._storage.run(store.set_callback_token_hash, request_id, hash_token(token))
            await self.submit(Accepted(request_id=request_id, callback_token=token))

        self._supervisor.spawn(resume(), f"resume request {request_id}")

    async def _resolve_uncertain(
        self, uncertain: list[ReplicaRecord], listing: ReplicaListing
    ) -> None:
        """Find the replica each ambiguous create made (replicas/ambiguous.py), adopt it, or
        give up on the create when Tavus has listed none for long enough."""
        # Only replicas with an uncertain request's name can match (replicas/ambiguous.py), so
        # only those are read, and only their ids are looked up: never every replica listed,
        # nor every replica id ever stored.
        candidates = listing.named({record.request.replica_name for record in uncertain})
        claimed = await self._storage.run(
            store.claimed_replica_ids, [replica.replica_id for replica in candidates]
        )
        matches = match_creates(uncertain, candidates, claimed, datetime.now(UTC))
        outcomes: list[tuple[int, Callable[[], Awaitable[None]]]] = [
            (record.id, functools.partial(self._adopt, record.id, replica))
            for record, replica in matches.found
        ]
        for record in matches.given_up:
            logger.info("Request %s: no replica of it in Tavus's list", record.id)
            outcomes.append(
                (
                    record.id,
                    functools.partial(self._not_created, record.id, reasons.NO_REPLICA_LISTED),
                )
            )
        for request_id, outcome in outcomes:
            try:
                await outcome()
            except (TavusError, sqlite3.Error):
                raise  # the round backs off as a whole
            except Exception:
                # One request's fault must not keep the others unresolved; the next round
                # tries it again.
                logger.exception("Could not resolve the create of request %s", request_id)

    async def _adopt_named(self, request_id: int, replica_id: str) -> None:
        """A callback for an ambiguous create names its replica. The callback URL's secret is
        this request's alone, so the replica is adopted once GET shows that it exists and it
        belongs to no other request."""
        record = await self._storage.run(store.get_request, request_id)
        state = await self._tavus.get_replica(replica_id)
        if await self._storage.run(store.claimed_replica_ids, [replica_id]):
            return
        listed = ListedReplica(
            replica_id=replica_id,
            replica_name=record.request.replica_name,
            status=state.status,
            created_at=None,
            error_message=state.error_message,
        )
        await self._adopt(request_id, listed)

    async def _adopt(self, request_id: int, replica: ListedReplica) -> None:
        logger.info("Request %s created replica %s after all", request_id, replica.replica_id)

        def change(db: sqlite_utils.Database) -> bool:
            adopted = store.adopt_replica(db, request_id, replica.replica_id, replica.status)
            if adopted:
                outbox.enqueue_status(db, request_id)
                outbox.enqueue_reply(db, request_id, ReplyKind.ADOPTED)
            return adopted

        if await self._commit(change):
            result = TrainingResult(status=replica.status, error_message=replica.error_message)
            if result.final_state is not None:
                await self.check_replica(request_id, replica.replica_id)

    # -- shared: a training result, whichever door it came through -------------------------

    async def record_result(self, request_id: int, result: TrainingResult) -> CallbackVerdict:
        """Commit a reported status (see `_apply_result`)."""

        def change(db: sqlite_utils.Database) -> CallbackVerdict:
            return self._apply_result(db, store.get_request(db, request_id), result)

        return await self._commit(change)

    def _apply_result(
        self, db: sqlite_utils.Database, record: ReplicaRecord, result: TrainingResult
    ) -> CallbackVerdict:
        """Within a transaction: announce a final status (and a two-stage model's preview)
        once; show new training progress in the status message, the first at once and later
        ones at most every PROGRESS_UPDATE_SECONDS."""
        request_id = record.id
        stage = result.stage(record.request.model_name)
        if stage is State.PREVIEW_READY and store.mark_preview(db, request_id, result):
            outbox.announce(db, request_id, ReplyKind.PREVIEW)
            return CallbackVerdict.APPLIED
        if stage in (State.SUCCEEDED, State.FAILED) and store.finish_training(
            db, request_id, result, model_name=record.request.model_name
        ):
            outbox.announce(db, request_id, ReplyKind.OUTCOME)
            self._metrics.result_announced(stage)
            return CallbackVerdict.APPLIED
        if stage is None or stage is State.PREVIEW_READY:
            before = store.note_tavus_status(db, request_id, result)
            progress = result.training_progress
            if progress is not None and progress != before:
                # The first progress at once; later ones no more often than the setting.
                throttle = None if before is None else self._settings.progress_update_seconds
                outbox.enqueue_status(db, request_id, throttle_seconds=throttle)
            return CallbackVerdict.IN_PROGRESS
        return CallbackVerdict.DUPLICATE


def _callback_verdict(
    record: ReplicaRecord, replica_id: str, result: TrainingResult
) -> CallbackVerdict:
    """What to do with a readable callback for `record`: DEFERRED (Tavus answered before the
    create's response was recorded, or that response was lost: keep it), REPLICA_MISMATCH,
    CONFIRMING (a result for an open request: GET first), or APPLIED (apply it now)."""
    sent = record.create_sent_at is not None or record.state is State.UNCERTAIN
    if record.replica_id is None and (sent or record.state is State.SUBMITTING):
        return CallbackVerdict.DEFERRED
    if record.replica_id != replica_id:
        return CallbackVerdict.REPLICA_MISMATCH
    if result.final_state is None or not record.state.is_open:
        return CallbackVerdict.APPLIED
    return CallbackVerdict.CONFIRMING


def _unchanged(record: ReplicaRecord, result: TrainingResult) -> bool:
    """Whether a report says nothing the request does not already hold (fields it leaves out
    leave the request's as they are)."""
    return (
        result.status == record.tavus_status
        and result.training_progress in (None, record.training_progress)
        and result.finetune_status in (None, record.finetune_status)
        and result.thumbnail_video_url in (None, record.thumbnail_video_url)
    )
