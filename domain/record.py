"""A replica request as the bot tracks it, from submission to result."""

from __future__ import annotations

from dataclasses import dataclass

from domain.request import ReplicaRequest, SlackOrigin
from domain.states import State


@dataclass(frozen=True)
class ReplicaRecord:
    id: int
    state: State
    request: ReplicaRequest
    origin: SlackOrigin
    created_at: str
    replica_id: str | None = None
    tavus_status: str | None = None
    error_message: str | None = None
    # Where the root status message was posted (the channel, or the requester's DM).
    message_channel_id: str | None = None
    message_ts: str | None = None
    finished_at: str | None = None
    create_sent_at: str | None = None  # when POST /v2/replicas went out (None: not yet)
    training_progress: str | None = None  # Tavus's latest "N/100", as it wrote it
    # Who must approve before it goes to Tavus (the request's approvers, as recorded), and,
    # while it waits for them, who already has.
    approvers: tuple[str, ...] = ()
    approved_by: tuple[str, ...] = ()
    # A deletion asked for (consent revoked, or an admin): kept until Tavus has done it.
    delete_requested_at: str | None = None
    delete_requested_by: str | None = None
    delete_hard: bool = True  # the deletion takes the training footage too
    deleted_at: str | None = None  # when Tavus deleted it
    submitted_at: str | None = None  # when Tavus accepted the create
    thumbnail_video_url: str | None = None  # the preview, once Tavus has one
    finetune_status: str | None = None  # Phoenix-4.5's tuning: training, completed, errored

    @property
    def awaiting(self) -> tuple[str, ...]:
        """The approvers who have not approved yet (only meaningful while AWAITING_CONSENT)."""
        return tuple(user for user in self.approvers if user not in self.approved_by)

    @property
    def reply_thread_ts(self) -> str | None:
        """The thread that holds this request's conversation.

        It is the origin's thread (e.g. an upload's) when the root message went there, else the
        root message's own thread (also when the root had to move to the requester's DM).
        """
        if self.origin.thread_ts and self.message_channel_id in (None, self.origin.channel_id):
            return self.origin.thread_ts
        return self.message_ts
