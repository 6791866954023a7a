"""The composition root: bot.py's commands and the server that carries the bot."""

import sys

# httpx imports its command-line client (`httpx._main`: click, rich, pygments) whenever those
# happen to be installed, as they are in the dev venv, and skips it on ImportError, as in a
# production install (requirements.txt). The bot never runs httpx's CLI, so it is refused here
# before anything imports httpx: ~25 ms less start-up, and the same httpx everywhere.
# (`server` is imported before any module that imports httpx: bot.py's first import.)
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
