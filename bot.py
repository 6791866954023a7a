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

if __name__ == "__main__":
    # Start-up (the imports below, then building the app) makes almost only what lives as
    # long as the process, yet the collector would walk all of it again and again as it
    # grows: ~40 ms of a 0.3 s start. It collects again once the bot serves
    # (resume_garbage_collection), after freeze_what_start_up_built has set all that aside
    # (with it the ~2,000 objects of cyclic garbage start-up leaves behind).
    # Not when imported (tests).
    gc.disable()

import logging
import os
import sqlite3
from pathlib import Path

from aiohttp import web

from server import log_format
from server.app import create_app
from server.http import raise_open_file_limit, server_options
from server.socket_mode import SlackAppTokenRejected
from settings import SettingsError, load_settings
from storage.database import Storage

logger = logging.getLogger("replica-bot")


async def freeze_what_start_up_built(_: web.Application) -> None:
    """What start-up built (modules, the app and its services) lives as long as the process:
    frozen out of the garbage collector's sight, a full collection in a busy moment walks only
    what came after. Without it, a polling round over 10,000 replicas met full collections of
    14-27 ms on the event loop (bench/polling.py). Not in create_app: tests build many apps in
    one process, and what is frozen is never collected."""
    gc.freeze()


async def resume_garbage_collection(_: web.Application) -> None:
    """The collector, paused while the bot started (see the top of this file), runs again."""
    gc.enable()


def env_file_nearby() -> bool:
    """Whether the working directory or a parent has a `.env`, where python-dotenv's
    find_dotenv(usecwd=True) looks. Most deployments set the environment itself: without a
    .env, python-dotenv is not imported at all (~2 ms of start-up)."""
    here = Path.cwd()
    return any((folder / ".env").exists() for folder in (here, *here.parents))


# The operator's commands, `python bot.py NAME …`: server/export.py, backup.py and check.py,
# named by their COMMAND. Each is imported only when asked for: serving needs none of them.
COMMANDS = ("export-audit", "backup", "check")


def run_command(name: str, args: list[str]) -> int:
    gc.enable()  # paused for start-up (top of this file); a command runs as long as it needs
    if name == "export-audit":
        from server import export

        # Before load_settings: an operator exporting needs only DATABASE_PATH.
        return export.main(args, os.environ, sys.stdout.buffer, sys.stderr)
    if name == "backup":
        from server import backup

        # Likewise: a backup needs only DATABASE_PATH.
        return backup.main(args, os.environ, sys.stdout, sys.stderr)
    from server import check

    # Reads the configuration itself: its problems are lines of the report.
    return check.main(args, os.environ, sys.stdout, sys.stderr)


def main() -> int:
    # .env from the working directory (or a parent); the real environment wins over it.
    if env_file_nearby():
        from dotenv import find_dotenv, load_dotenv

        load_dotenv(find_dotenv(usecwd=True), override=False)
    if sys.argv[1:2] and sys.argv[1] in COMMANDS:
        return run_command(sys.argv[1], sys.argv[2:])
    try:
        settings = load_settings(os.environ)
    except SettingsError as error:
        for problem in error.problems:
            print(f"replica-bot: {problem}", file=sys.stderr)
        return 2
    log_format.configure(settings.log_level_number, settings.log_format)
    storage = Storage(settings.database_path)
    try:
        # Open it and apply migrations now, so a bad DATABASE_PATH is one clear line, not a
        # traceback; the app gets it open.
        storage.open_now()
    except (OSError, sqlite3.Error) as error:
        print(
            f"replica-bot: cannot open DATABASE_PATH {str(settings.database_path)!r}: {error}",
            file=sys.stderr,
        )
        return 2
    logger.info("Starting with %r", settings)
    raise_open_file_limit()
    try:
        app = create_app(settings, storage=storage)
        app.on_startup.append(freeze_what_start_up_built)  # after create_app's own start
        app.on_startup.append(resume_garbage_collection)  # after the freeze
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
