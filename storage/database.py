"""One SQLite connection, owned by one worker thread; files only the bot's user can read.

sqlite-utils is synchronous and a sqlite3 connection may only be used on the thread that
opened it, so every storage call runs on a single dedicated thread. That keeps the event loop
free and serialises writes, which is what SQLite wants anyway.

The database (requests, callback audit, who uploaded what) and the relayed media are private:
files are created 0600 and directories the bot creates 0700, whatever the process umask.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import queue
import sqlite3
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

import sqlite_utils

from storage.migrations import migrations
from storage.schema import start_from_snapshot

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
    # No sqlite-utils plugins: the bot uses none, and looking for them (the entry points of
    # every installed package) took ~11 ms of each start-up.
    db = sqlite_utils.Database(path, execute_plugins=False)
    db.execute("PRAGMA busy_timeout = 5000")
    if not in_memory:
        db.enable_wal()
    apply_migrations(db)
    return db


def apply_migrations(db: sqlite_utils.Database) -> None:
    """Apply the pending migrations in one transaction: one commit (one fsync) for a new
    database's twenty-odd, not one each (a new database opened ~10 ms sooner), and a database
    is upgraded all or not at all. Each still runs in a savepoint of its own. A migration that
    cannot run inside a transaction (`transactional=False`, e.g. VACUUM) makes them run one by
    one, as sqlite-utils does."""
    if all(migration.transactional for migration in migrations.pending(db)):
        with db.atomic():
            # A new database: most of it from the snapshot of the schema, at once.
            start_from_snapshot(db)
            migrations.apply(db)
    else:
        migrations.apply(db)


# At most this many queued jobs share one transaction (see `Storage`).
MAX_GROUP = 64


@dataclass
class _Job:
    call: Callable[[sqlite_utils.Database], Any]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    settled: bool = False  # its outcome is on its way to the caller (database thread only)


@dataclass
class _Outcome:
    value: Any = None
    error: BaseException | None = None


class GroupEndedEarly(sqlite3.OperationalError):
    """A job in a group ended the group's transaction (SQLite rolls a transaction back on
    some I/O and disk-full errors): what the jobs before it wrote may be gone, so they fail."""


class Storage:
    """Runs storage functions `fn(db, *args)` on the database thread.

    Group commit: the thread takes every job waiting (up to MAX_GROUP) and runs them in one
    transaction, each in a savepoint of its own, then commits once. A commit waits for the
    disk (synchronous=FULL, so it survives a power cut), which is most of a small write's time:
    under load (32 Tavus callbacks at once) one fsync then serves many jobs. Each job's result
    reaches its caller only after the commit, so "durable before acknowledged" still holds; a
    job that raises is rolled back to its savepoint alone; a commit that fails fails every job
    of the group. A job that finds the queue empty runs alone, exactly as before, with its own
    transactions."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._db: sqlite_utils.Database | None = None
        self._closed = False
        self.groups = 0  # transactions shared by more than one job (tests, metrics)

    async def open(self) -> None:
        """Open the database and apply migrations; call once at start-up."""
        await self.run(lambda db: None)

    def open_now(self) -> None:
        """Open the database (every migration applied) on the database thread and wait for it,
        outside any event loop. bot.py calls this before it builds the app: a database that
        cannot be opened stops start-up with one clear line (its OSError or sqlite3.Error is
        raised here), and the app finds it open: opened and migrated once, by the thread
        that uses it."""
        if self._thread is not None:
            raise RuntimeError("open_now() is for storage that has not started yet")
        opened: concurrent.futures.Future[None] = concurrent.futures.Future()
        thread = self._start_thread(opened)
        try:
            opened.result()
        except BaseException:
            # Nothing else was asked of the thread yet: stop it. A later run() starts another,
            # which tries to open the database again.
            self._jobs.put(None)
            thread.join()
            self._thread = None
            raise

    async def run(
        self,
        fn: Callable[Concatenate[sqlite_utils.Database, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        if self._closed:  # as an executor that was shut down says
            raise RuntimeError("storage is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        if self._thread is None:
            self._start_thread()
        self._jobs.put(_Job(lambda db: fn(db, *args, **kwargs), loop, future))
        return await future

    def _start_thread(
        self, opened: concurrent.futures.Future[None] | None = None
    ) -> threading.Thread:
        thread = threading.Thread(target=self._work, args=(opened,), name="sqlite", daemon=True)
        thread.start()
        self._thread = thread
        return thread

    def _connection(self) -> sqlite_utils.Database:
        if self._db is None:
            self._db = open_database(self._path)
        return self._db

    async def close(self) -> None:
        """Finish the jobs queued so far, close the connection on its thread, stop it. Jobs
        asked for later are refused (RuntimeError), as by an executor that was shut down."""
        self._closed = True
        if self._thread is None:
            return
        self._jobs.put(None)
        await asyncio.to_thread(self._thread.join)
        self._thread = None

    # -- the database thread ---------------------------------------------------------------

    def _work(self, opened: concurrent.futures.Future[None] | None) -> None:
        if opened is not None:  # open_now(): the database first, its outcome to the caller
            try:
                self._connection()
            except BaseException as error:
                opened.set_exception(error)
            else:
                opened.set_result(None)
        while True:
            job = self._jobs.get()
            if job is None:
                break
            group = [job]
            stop = False
            while len(group) < MAX_GROUP:
                try:
                    more = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                group.append(more)
            self._run_group(group)
            if stop:
                break
        if self._db is not None:
            self._db.close()
            self._db = None
        # Jobs queued after close() began (a task stopping meanwhile): refused, never lost
        # in a queue no one reads.
        while True:
            try:
                late = self._jobs.get_nowait()
            except queue.Empty:
                return
            if late is not None:
                self._settle([late], [_Outcome(error=RuntimeError("storage is closed"))])

    def _run_group(self, group: list[_Job]) -> None:
        try:
            self._run_group_unguarded(group)
        except BaseException as error:
            # A bug here must not leave callers waiting for ever, nor stop the thread.
            logger.exception("Storage jobs failed together")
            unsettled = [job for job in group if not job.settled]
            self._settle(unsettled, [_Outcome(error=error)] * len(unsettled))

    def _run_group_unguarded(self, group: list[_Job]) -> None:
        try:
            db = self._connection()
        except BaseException as error:  # the database cannot be opened: every job says so
            self._settle(group, [_Outcome(error=error)] * len(group))
            return
        if len(group) == 1:
            self._settle(group, [_call(group[0], db)])
            return
        conn = db.conn
        conn.execute("BEGIN")
        outcomes: list[_Outcome] = []
        for index, job in enumerate(group):
            outcomes.append(_call(job, db, savepoint=True))
            if not conn.in_transaction:
                ended = GroupEndedEarly(
                    "the transaction shared with other storage jobs ended early"
                )
                ended.__cause__ = outcomes[-1].error
                failed = [_Outcome(error=ended) for _ in outcomes[:index]]
                self._settle(group[: index + 1], [*failed, outcomes[-1]])
                if index + 1 < len(group):
                    self._run_group(group[index + 1 :])
                return
        try:
            conn.execute("COMMIT")
        except BaseException as error:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            outcomes = [_Outcome(error=error)] * len(group)
        else:
            self.groups += 1
        self._settle(group, outcomes)

    @staticmethod
    def _settle(group: list[_Job], outcomes: list[_Outcome]) -> None:
        """Hand each job's outcome to its caller's event loop: one wake-up per loop for the
        whole group, not one per job (each wake-up is a write to the loop's self-pipe, and a
        callback's answer and its confirmation made eight)."""
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], _Outcome]]] = {}
        for job, outcome in zip(group, outcomes, strict=True):
            job.settled = True
            by_loop.setdefault(job.loop, []).append((job.future, outcome))
        for loop, settled in by_loop.items():
            loop.call_soon_threadsafe(_resolve_all, settled)


def _call(job: _Job, db: sqlite_utils.Database, *, savepoint: bool = False) -> _Outcome:
    try:
        if not savepoint:
            return _Outcome(value=job.call(db))
        with db.atomic():  # inside the group's transaction: a savepoint of its own
            return _Outcome(value=job.call(db))
    except BaseException as error:
        return _Outcome(error=error)


def _resolve_all(settled: list[tuple[asyncio.Future[Any], _Outcome]]) -> None:
    """On the event loop: every job's outcome to its caller, in the order the jobs ran."""
    for future, outcome in settled:
        if future.cancelled():  # its caller stopped waiting (shutdown); the job ran regardless
            continue
        if outcome.error is not None:
            future.set_exception(outcome.error)
        else:
            future.set_result(outcome.value)
