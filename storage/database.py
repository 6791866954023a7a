"""One SQLite connection, owned by one worker thread.

sqlite-utils is synchronous and a sqlite3 connection may only be used on the thread that
opened it, so every storage call runs on a single dedicated thread. That keeps the event loop
free and serialises writes, which is what SQLite wants anyway.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

import sqlite_utils

from storage.migrations import migrations

P = ParamSpec("P")
T = TypeVar("T")


def open_database(path: Path | str) -> sqlite_utils.Database:
    """Open (creating if needed) the database in WAL mode, with every migration applied."""
    if isinstance(path, Path):
        path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite_utils.Database(path)
    db.execute("PRAGMA busy_timeout = 5000")
    if path != ":memory:":
        db.enable_wal()
    migrations.apply(db)
    return db


class Storage:
    """Runs storage functions `fn(db, *args)` on the database thread."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self._db: sqlite_utils.Database | None = None

    async def open(self) -> None:
        """Open the database and apply migrations; call once at start-up."""
        await self.run(lambda db: None)

    async def run(
        self,
        fn: Callable[Concatenate[sqlite_utils.Database, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._thread, lambda: fn(self._connection(), *args, **kwargs)
        )

    def _connection(self) -> sqlite_utils.Database:
        if self._db is None:
            self._db = open_database(self._path)
        return self._db

    async def close(self) -> None:
        def close_connection() -> None:
            if self._db is not None:
                self._db.close()
                self._db = None

        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._thread, close_connection)
        self._thread.shutdown(wait=True)
