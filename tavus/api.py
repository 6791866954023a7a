"""What the bot needs of Tavus, as one interface: the real client (tavus/client.py) and the
dry run's simulation (tavus/simulated.py) both provide it, and the workflow, the voice
catalogue, consent, management and readiness are written against it alone."""

from __future__ import annotations

from typing import Any, Protocol

from tavus.client import CreatedReplica, ReplicaState, Voice
from tavus.listing import PageHook, ReplicaListing


class TavusApi(Protocol):
    async def create_replica(self, body: dict[str, Any]) -> CreatedReplica:
        """POST /v2/replicas, once: each call may start a paid training."""
        ...

    async def check_key(self) -> None:
        """Raises TavusAuthError if the key is refused, another TavusError if Tavus cannot
        be asked."""
        ...

    async def get_replica(self, replica_id: str) -> ReplicaState: ...

    async def list_replicas(self, after_each_page: PageHook | None = None) -> ReplicaListing:
        """Every replica of the account, awaiting `after_each_page` after each page read."""
        ...

    async def list_voices(self) -> list[Voice]:
        """Every stock voice."""
        ...

    async def rename_replica(self, replica_id: str, name: str) -> None: ...

    async def delete_replica(self, replica_id: str, *, hard: bool) -> bool:
        """False if Tavus knows no such replica (already deleted)."""
        ...

    async def aclose(self) -> None: ...
