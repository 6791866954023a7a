"""`python bot.py export-audit [--since YYYY-MM-DD]`: the consent record as CSV on stdout.

For operators: the same file `/replica audit` uploads to an admin (domain/audit.py), a header
row then one row per request, of the requests created on or after `--since` (UTC), or all.

It needs only the database (DATABASE_PATH, from the environment or .env, as the bot reads
it), not the Slack or Tavus credentials, and it only reads it: the file is opened read-only,
so an export never migrates, creates or changes anything, and can run next to the bot. A
database this version of the bot has not upgraded yet is refused rather than misread.
Every problem is one line on stderr and exit status 2, as bot.py's configuration errors are.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import BinaryIO, TextIO

import sqlite_utils

from domain.audit import audit_csv, day_start, parse_day
from domain.consent import ConsentEvent
from server.cli import CommandError, OneLineParser
from settings import database_path
from storage.consent import events_since
from storage.migrations import migrations

COMMAND = "export-audit"
USAGE = f"python bot.py {COMMAND} [--since YYYY-MM-DD]"
# How long a read waits for the running bot's write to finish (as the bot's own connection).
BUSY_TIMEOUT_MS = 5000


ExportError = CommandError  # the one-line problem of this command


def main(args: Sequence[str], environ: Mapping[str, str], out: BinaryIO, err: TextIO) -> int:
    """Run the command with `args` (after its name); the exit status."""
    parser = OneLineParser(
        usage_line=USAGE,
        prog=f"python bot.py {COMMAND}",
        description="Write the consent record, one CSV row per request, to stdout.",
    )
    parser.add_argument(
        "--since", metavar="YYYY-MM-DD", help="only requests created on or after this day (UTC)"
    )
    try:
        options = parser.parse_args(args)
        since = None if options.since is None else _since(options.since)
        text = audit_csv(read_events(database_path(environ), since))
    except ExportError as error:
        print(f"replica-bot: {error}", file=err)
        return 2
    try:
        out.write(text.encode("utf-8"))
        out.flush()
    except BrokenPipeError:
        # The reader left (`| head`): not an error of ours, and Python would print a
        # traceback when it flushes stdout at exit. (The recipe of Python's signal docs.)
        os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())
    return 0


def _since(text: str) -> str:
    try:
        return day_start(parse_day(text))
    except ValueError:
        raise ExportError(
            f"--since must be a date written YYYY-MM-DD, e.g. 2026-03-01; got {text!r}"
        ) from None


def read_events(path: Path, since: str | None) -> list[ConsentEvent]:
    """The consent events of the requests created since `since` (all: None), read from the
    database at `path` without writing to it."""
    where = f"DATABASE_PATH {str(path)!r}"
    if not path.is_file():
        # Checked first: SQLite would create a missing file, and an export of an empty new
        # database would look like "no requests" rather than a wrong path.
        raise ExportError(f"cannot read {where}: there is no file there")
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as error:
        raise ExportError(f"cannot read {where}: {error}") from None
    try:
        connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        db = sqlite_utils.Database(connection)
        if migrations.pending(db):
            raise ExportError(
                f"{where} is not a database this version of the bot has set up: start the "
                "bot once with it (that upgrades it), then export again"
            )
        return events_since(db, since)
    except (OSError, sqlite3.Error) as error:
        raise ExportError(f"cannot read {where}: {error}") from None
    finally:
        connection.close()
