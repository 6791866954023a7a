"""Importing libraries without the parts of them the bot never uses (see server/__init__.py).

- httpx imports its command-line client (`httpx._main`: click, rich, pygments) whenever those
  happen to be installed, as they are in the dev venv, and skips it on ImportError, as in a
  production install (requirements.txt). The bot never runs httpx's CLI, so it is refused
  before anything imports httpx: ~25 ms less start-up, and the same httpx everywhere.
- `sqlite_utils.db` compiles `_virtual_table_using_re` as it is imported: a case-insensitive
  character class over U+0080 to U+FFFF, which `re` case-folds one character at a time, ~25 ms,
  for a pattern read only when the schema of a virtual (full-text) table is inspected, which
  the bot never does. Such patterns are compiled the first time they are used instead; if a
  later sqlite-utils changes the pattern, it is simply compiled at import again.

Neither changes what the libraries do, only what start-up pays for. Start-up's one thread
only: `re.compile` is replaced for the duration of sqlite-utils' import.
"""

from __future__ import annotations

import functools
import re
import sys
from typing import Any

# What makes a pattern slow to compile: case-insensitive, over (nearly) all of the BMP.
_WIDE_RANGE = "\\u0080-\\uffff"
# The real one, even while import_sqlite_utils has replaced re.compile.
_compile = re.compile
HTTPX_CLI = "httpx._main"


def refuse_httpx_cli() -> None:
    # A None entry makes `import httpx._main` raise ImportError (the import system's documented
    # way to block a module); httpx catches it and defines a stub `main` instead.
    sys.modules.setdefault(HTTPX_CLI, None)  # type: ignore[arg-type]


class DeferredPattern:
    """A compiled pattern made the first time one of its attributes is used."""

    def __init__(self, pattern: str, flags: int) -> None:
        self._pattern = pattern
        self._flags = flags

    @functools.cached_property
    def compiled(self) -> re.Pattern[str]:
        return _compile(self._pattern, self._flags)

    @property
    def is_compiled(self) -> bool:
        return "compiled" in self.__dict__

    def __getattr__(self, name: str) -> Any:
        # Only for what this class does not have itself: match, search, pattern, flags, …
        return getattr(self.compiled, name)


def slow_to_compile(pattern: object, flags: int) -> bool:
    return isinstance(pattern, str) and bool(flags & re.IGNORECASE) and _WIDE_RANGE in pattern


def import_sqlite_utils() -> None:
    """Import sqlite_utils (once, before anything else does), its slow patterns deferred."""
    if "sqlite_utils" in sys.modules:
        return

    def compile_unless_slow(pattern: Any, flags: int = 0) -> Any:
        if slow_to_compile(pattern, flags):
            return DeferredPattern(pattern, flags)
        return _compile(pattern, flags)

    re.compile = compile_unless_slow
    try:
        import sqlite_utils  # noqa: F401 (imported for its side effect: sys.modules)
    finally:
        re.compile = _compile
