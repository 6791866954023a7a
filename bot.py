"""replica-bot entry point: `python bot.py`. Reads .env and the environment, then serves."""

from __future__ import annotations

import logging
import os
import sqlite3
import sys

from aiohttp import web
from dotenv import find_dotenv, load_dotenv

from access_log import AccessLogger
from app_factory import create_app
from settings import SettingsError, load_settings
from socket_mode import SlackAppTokenRejected
from storage.database import open_database

logger = logging.getLogger("replica-bot")


def main() -> int:
    # .env from the working directory (or a parent); the real environment wins over it.
    load_dotenv(find_dotenv(usecwd=True), override=False)
    try:
        settings = load_settings(os.environ)
    except SettingsError as error:
        for problem in error.problems:
            print(f"replica-bot: {problem}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level_number,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
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
    try:
        web.run_app(
            create_app(settings),
            host=settings.host,
            port=settings.port,
            access_log_class=AccessLogger,
            print=lambda line: logger.info("%s", line.strip()),
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
