"""replica-bot entry point: `python bot.py`. Reads .env and the environment, then serves."""

import sys

# First, and in syntax old Pythons can parse (no `from __future__ import annotations`: 3.6
# rejects it): on an old Python the imports below would fail with a traceback that does not
# say the version is the problem.
if sys.version_info < (3, 11):  # noqa: UP036 (for the Pythons requires-python excludes)
    found = ".".join(str(part) for part in sys.version_info[:3])
    sys.stderr.write("replica-bot: needs Python 3.11 or newer, found Python " + found + "\n")
    sys.exit(2)

import gc
import logging
import os
import sqlite3

from aiohttp import web
from dotenv import find_dotenv, load_dotenv

from server import backup, check, export, log_format
from server.app import create_app
from server.http import raise_open_file_limit, server_options
from server.socket_mode import SlackAppTokenRejected
from settings import SettingsError, load_settings
from storage.database import open_database

logger = logging.getLogger("replica-bot")


async def freeze_what_start_up_built(_: web.Application) -> None:
    """What start-up built (modules, the app and its services) lives as long as the process:
    frozen out of the garbage collector's sight, a full collection in a busy moment walks only
    what came after. Without it, a polling round over 10,000 replicas met full collections of
    14-27 ms on the event loop (bench/polling.py). Not in create_app: tests build many apps in
    one process, and what is frozen is never collected."""
    gc.freeze()


def main() -> int:
    # .env from the working directory (or a parent); the real environment wins over it.
    load_dotenv(find_dotenv(usecwd=True), override=False)
    if sys.argv[1:2] == [export.COMMAND]:
        # Before load_settings: an operator exporting needs only DATABASE_PATH.
        return export.main(sys.argv[2:], os.environ, sys.stdout.buffer, sys.stderr)
    if sys.argv[1:2] == [backup.COMMAND]:
        # Likewise: a backup needs only DATABASE_PATH.
        return backup.main(sys.argv[2:], os.environ, sys.stdout, sys.stderr)
    if sys.argv[1:2] == [check.COMMAND]:
        # Reads the configuration itself: its problems are lines of the report.
        return check.main(sys.argv[2:], os.environ, sys.stdout, sys.stderr)
    try:
        settings = load_settings(os.environ)
    except SettingsError as error:
        for problem in error.problems:
            print(f"replica-bot: {problem}", file=sys.stderr)
        return 2
    log_format.configure(settings.log_level_number, settings.log_format)
    try:
        # Apply migrations now, so a bad DATABASE_PATH is one clear line, not a traceback.
        open_database(settings.database_path).close()
    except (OSError, sqlite3.Error) as error:
        print(
            f"replica-bot: cannot open DATABASE_PATH {str(settings.database_path)!r}: {error}",
            file=sys.stderr,
        )
        return 2
    logger.info("Starting with %r", settings)
    raise_open_file_limit()
    try:
        app = create_app(settings)
        app.on_startup.append(freeze_what_start_up_built)  # after create_app's own start
        web.run_app(
            app,
            host=settings.host,
            port=settings.port,
            **server_options(),
            print=lambda text: logger.info("%s", " ".join(text.split())),  # one line
            # Open HTTP connections get this long after SIGTERM; with the workflow's grace
            # period the bot exits well within 10 s.
            shutdown_timeout=2.0,
        )
    except SlackAppTokenRejected as error:
        print(f"replica-bot: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
