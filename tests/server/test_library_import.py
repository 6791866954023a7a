"""Libraries imported without what the bot never uses (server/library_import.py): the
deferred pattern still does what the compiled one does, when it is used."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from server.library_import import DeferredPattern, slow_to_compile
from tests.test_bot import ROOT

SLOW = r"[A-Za-z_\u0080-\uffff][A-Za-z_\u0080-\uffff0-9\$]*"


def test_a_deferred_pattern_compiles_when_first_used_and_matches_alike() -> None:
    deferred = DeferredPattern(SLOW, re.IGNORECASE)
    assert not deferred.is_compiled
    compiled = re.compile(SLOW, re.IGNORECASE)
    for text in ("Réplica_1", "été", "ſtraße", "9lives", "", "$x"):
        first = deferred.match(text)
        expected = compiled.match(text)
        assert (first and first.group()) == (expected and expected.group()), text
    assert deferred.is_compiled
    assert deferred.pattern == SLOW
    assert deferred.flags == compiled.flags
    assert deferred.sub("·", "a b") == compiled.sub("·", "a b")


@pytest.mark.parametrize(
    ("pattern", "flags", "slow"),
    [
        (SLOW, re.IGNORECASE, True),
        (SLOW, re.IGNORECASE | re.VERBOSE, True),
        (SLOW, 0, False),  # without case folding it compiles quickly
        (r"[a-z]+", re.IGNORECASE, False),
        (SLOW.encode(), re.IGNORECASE, False),  # bytes: left alone
    ],
)
def test_only_case_insensitive_patterns_over_the_whole_bmp_are_deferred(
    pattern: str | bytes, flags: int, slow: bool
) -> None:
    assert slow_to_compile(pattern, flags) is slow


# In a new interpreter, imported as bot.py does (server first): a full-text table's schema is
# still read by the deferred pattern, and only then compiled.
FULL_TEXT = """
import json, sys
import server
import sqlite_utils, sqlite_utils.db

pattern = sqlite_utils.db._virtual_table_using_re
before = pattern.is_compiled
db = sqlite_utils.Database(memory=True, execute_plugins=False)
db["docs"].insert({"title": "Réplica"})
db["docs"].enable_fts(["title"], fts_version="FTS5")
print(json.dumps({
    "deferred": type(pattern).__name__,
    "compiled_before": before,
    "using": db["docs_fts"].virtual_table_using,
    "compiled_after": pattern.is_compiled,
    "re_compile_restored": __import__("re").compile.__module__,
    "found": [row["title"] for row in db["docs"].search("Réplica")],
}))
"""


def test_sqlite_utils_reads_a_full_text_tables_schema_with_the_deferred_pattern() -> None:
    done = subprocess.run(
        [sys.executable, "-c", FULL_TEXT], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert json.loads(done.stdout) == {
        "deferred": "DeferredPattern",
        "compiled_before": False,
        "using": "FTS5",
        "compiled_after": True,
        "re_compile_restored": "re",
        "found": ["Réplica"],
    }
