"""Managing a replica from Slack: who may, and renaming it (Tavus first, then the record and
its status message). Deleting is consent's withdrawal (replicas/consent.py); trying again is
a new request through the form."""

from __future__ import annotations

import logging
from enum import StrEnum

import sqlite_utils

from domain.record import ReplicaRecord
from domain.request import MAX_NAME_LENGTH
from replicas.consent import Commit, ConsentFlow
from storage import outbox
from storage import replicas as store
from storage.database import Storage
from tavus.api import TavusApi

logger = logging.getLogger(__name__)


class Renamed(StrEnum):
    DONE = "done"
    NOT_YOURS = "not_yours"
    NO_REPLICA = "no_replica"  # nothing at Tavus to rename (not created, deleted)
    BAD_NAME = "bad_name"


class ReplicaManager:
    def __init__(
        self, *, storage: Storage, tavus: TavusApi, consent: ConsentFlow, commit: Commit
    ) -> None:
        self._storage = storage
        self._tavus = tavus
        self._consent = consent
        self._commit = commit

    async def record(self, request_id: int) -> ReplicaRecord:
        """The request; LookupError if there is none."""
        return await self._storage.run(store.get_request, request_id)

    def may_manage(self, record: ReplicaRecord, user_id: str) -> bool:
        return self._consent.may_manage(record, user_id)

    async def rename(self, request_id: int, user_id: str, name: str) -> Renamed:
        """Rename the replica at Tavus (PATCH), then in the record, and refresh its status
        message. Raises TavusError if Tavus could not do it (nothing changed here)."""
        record = await self.record(request_id)
        name = name.strip()
        if not self.may_manage(record, user_id):
            return Renamed.NOT_YOURS
        if not name or len(name) > MAX_NAME_LENGTH:
            return Renamed.BAD_NAME
        if record.replica_id is None or record.delete_requested_at is not None:
            return Renamed.NO_REPLICA
        await self._tavus.rename_replica(record.replica_id, name)

        def renamed(db: sqlite_utils.Database) -> None:
            if store.rename(db, request_id, name):
                outbox.enqueue_status(db, request_id)

        await self._commit(renamed)
        logger.info("Request %s: %s renamed replica %s", request_id, user_id, record.replica_id)
        return Renamed.DONE
