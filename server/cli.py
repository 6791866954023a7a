"""What the operator commands of bot.py (`export-audit`, `backup`) share: every problem is one
line on stderr, prefixed "replica-bot: ", and exit status 2, as bot.py's configuration errors
are."""

from __future__ import annotations

import argparse
from typing import NoReturn


class CommandError(Exception):
    """A problem to report in one line."""


class OneLineParser(argparse.ArgumentParser):
    """argparse, whose errors become one CommandError line with the usage in brackets
    (argparse itself would print the usage and the error on two lines, and exit)."""

    def __init__(self, *, usage_line: str, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._usage_line = usage_line

    def error(self, message: str) -> NoReturn:
        raise CommandError(f"{message} (usage: {self._usage_line})")
