"""One SQLite connection, owned by one worker thread; files only the bot's user can read.

sqlite-utils is synchronous and a sqlite3 connection may only be used on the thread that
opened it, so every storage call runs on a single dedicated thread. That keeps the event loop
free and serialises writes, which is what SQLite wants anyway.

The database (requests, callback audit, who uploaded what) and the relayed media are private:
files are created 0600 and directories the bot creates 0700, whatever the process umask.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

import sqlite_utils

from storage.migrations import migrations

logger = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700
MEMORY = ":memory:"


def make_private_dir(path: Path) -> None:
    """Create `path` and any missing parents, owner-only (0700) whatever the umask.

    Directories that already exist are left alone: where they are and who may list them is the
    operator's choice (it may be the working directory), and the bot's files in them are 0600.
    """
    if path.is_dir():
        return
    make_private_dir(path.parent)  # ends at an existing directory: "/" or "." at the latest
    try:
        os.mkdir(path, PRIVATE_DIR_MODE)
    except FileExistsError:
        return  # made meanwhile; or a file, which the caller's next step reports
    # The umask only takes bits away, so until this chmod the directory is at most 0700.
    os.chmod(path, PRIVATE_DIR_MODE)


def create_private_file(path: Path) -> int:
    """Create `path` owner-only (0600) and open it for writing; FileExistsError if anything is
    there already (a symlink included, so a planted link cannot redirect the write)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, PRIVATE_FILE_MODE)
    os.fchmod(fd, PRIVATE_FILE_MODE)  # the umask may have taken bits the owner needs
    return fd


def restrict_to_owner(path: Path) -> None:
    """Take group and other access away from an existing file, e.g. a database made before the
    bot created it private. Missing files are skipped; a refused chmod is logged, not fatal."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if not mode & 0o077:
        return
    try:
        os.chmod(path, mode & 0o700)
    except OSError as error:  # not the file's owner, a read-only mount…
        logger.warning(
            "%s is open to other users (mode %03o) and the bot could not change that (%s): "
            "run chmod 600 on it",
            path,
            mode,
            error,
        )
        return
    logger.info("made %s readable by its owner only (its mode was %03o)", path, mode)


def _prepare_database_file(path: Path) -> None:
    """Before SQLite opens it: the database file private, created if missing. SQLite gives its
    -wal and -shm files the database file's permissions, so those follow."""
    make_private_dir(path.parent)
    try:
        os.close(create_private_file(path))  # SQLite takes an empty file as a new database
    except FileExistsError:
        for existing in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            restrict_to_owner(existing)


def open_database(path: Path | str) -> sqlite_utils.Database:
    """Open (creating if needed) the database in WAL mode, with every migration applied."""
    in_memory = path == MEMORY
    if not in_memory:
        _prepare_database_file(Path(path))
    db = sqlite_utils.Database(path)
    db.execute("PRAGMA busy_timeout = 5000")
    if not in_memory:
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
