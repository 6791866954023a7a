"""`python bot.py backup PATH`: a consistent copy of the live database, safe while the bot runs.

A WAL database cannot be copied with `cp`: the file alone may miss committed transactions
still in its `-wal`, or catch a page half-written. SQLite's online backup API copies a
consistent snapshot page by page, a few at a time, so the running bot keeps writing
meanwhile (a write during the copy restarts the remaining steps from a fresh snapshot).

The copy is written beside PATH and renamed into place only once it is whole and passes
`PRAGMA integrity_check`, owner-only like the database. It needs only DATABASE_PATH (from the
environment or .env, as the bot reads it). Every problem is one line on stderr and exit
status 2; success prints one line on stdout.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TextIO

from server.cli import CommandError, OneLineParser
from settings import database_path

COMMAND = "backup"
USAGE = f"python bot.py {COMMAND} PATH [--force]"
PAGES_PER_STEP = 256  # ~1 MB at SQLite's 4 KB pages: short steps, so the bot's writes go on
BUSY_TIMEOUT_MS = 5000


BackupError = CommandError  # the one-line problem of this command


def main(args: Sequence[str], environ: Mapping[str, str], out: TextIO, err: TextIO) -> int:
    parser = OneLineParser(
        usage_line=USAGE,
        prog=f"python bot.py {COMMAND}",
        description="Copy the bot's database consistently, even while the bot runs.",
    )
    parser.add_argument("path", metavar="PATH", help="where to write the copy")
    parser.add_argument("--force", action="store_true", help="replace PATH if it exists")
    try:
        options = parser.parse_args(args)
        source = database_path(environ)
        target = Path(options.path)
        requests = backup(source, target, force=options.force)
    except BackupError as error:
        print(f"replica-bot: {error}", file=err)
        return 2
    size = target.stat().st_size
    print(f"Backed up {source} to {target}: {requests} requests, {size:,} bytes.", file=out)
    return 0


def backup(source: Path, target: Path, *, force: bool = False) -> int:
    """Copy the database at `source` to `target`; how many requests the copy holds."""
    if not source.is_file():
        raise BackupError(f"cannot back up DATABASE_PATH {str(source)!r}: there is no file there")
    if target.exists() and not force:
        raise BackupError(f"{str(target)!r} exists already: choose another PATH, or add --force")
    if target.resolve() == source.resolve():
        raise BackupError("PATH is the database itself: choose another PATH")
    partial = target.with_name(f".{target.name}.partial")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial.unlink(missing_ok=True)
        # Owner-only from the start: the copy holds what the database holds.
        os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        requests = _copy(source, partial)
        os.replace(partial, target)
    except (OSError, sqlite3.Error) as error:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        raise BackupError(f"could not back up to {str(target)!r}: {error}") from None
    return requests


def _copy(source: Path, partial: Path) -> int:
    reader = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
    writer = sqlite3.connect(partial)
    try:
        reader.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        reader.backup(writer, pages=PAGES_PER_STEP)
        # The copy is a plain (rollback-journal) database: one file, nothing beside it.
        writer.execute("PRAGMA journal_mode = DELETE")
        [verdict] = writer.execute("PRAGMA integrity_check").fetchone()
        if verdict != "ok":
            raise BackupError(f"the copy failed its integrity check: {verdict}")
        found = writer.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'replica_requests'"
        ).fetchone()
        if found is None:
            return 0
        return int(writer.execute("SELECT count(*) FROM replica_requests").fetchone()[0])
    finally:
        writer.close()
        reader.close()
