"""The composition root: bot.py's commands and the server that carries the bot."""

from server.library_import import import_sqlite_utils, refuse_httpx_cli

# Before anything imports httpx or sqlite_utils (`server` is bot.py's first import of ours):
# both without what the bot never uses, ~50 ms of start-up (see server/library_import.py).
refuse_httpx_cli()
import_sqlite_utils()
