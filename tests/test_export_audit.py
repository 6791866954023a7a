"""`python bot.py export-audit [--since YYYY-MM-DD]` as an operator runs it: the consent record
as CSV on stdout, with nothing but the database; every problem one line and exit status 2."""

from __future__ import annotations

import asyncio
import csv
import io
import sqlite3
import sys
from pathlib import Path

import pytest
import sqlite_utils

from domain.audit import COLUMNS
from domain.consent import ConsentEvent, ConsentEventKind
from storage import consent
from storage.database import open_database
from storage.migrations import migrations
from tests.test_bot import ROOT, bot_environment

USAGE = "python bot.py export-audit [--since YYYY-MM-DD]"


async def export_audit(
    cwd: Path, *args: str, database: Path | None = None
) -> tuple[int, bytes, list[str]]:
    """Run the command; its exit status, stdout, and stderr's lines. No Slack or Tavus
    credentials in the environment: an operator exporting need not have them."""
    env = bot_environment(cwd)
    if database is not None:
        env["DATABASE_PATH"] = str(database)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "bot.py"),
        "export-audit",
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode is not None
    return process.returncode, stdout, stderr.decode().splitlines()


def rows_of(stdout: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(stdout.decode("utf-8"), newline="")))


def submitted(request_id: int, at: str, name: str) -> ConsentEvent:
    details = {"requester_id": "U1", "replica_name": name, "mode": "video"}
    return ConsentEvent(request_id, ConsentEventKind.SUBMITTED, at, details, actor_id="U1")


@pytest.fixture
def database(tmp_path: Path) -> Path:
    """Two requests' records, made in January and in March. (Their request rows are gone, as
    after a hard deletion: a request is then as old as its first event.)"""
    path = tmp_path / "data" / "bot.db"
    db = open_database(path)
    consent.append(db, submitted(1, "2026-01-15T09:00:00.000+00:00", "January"))
    consent.append(db, submitted(2, "2026-03-01T00:00:00.000+00:00", "=March"))
    state = {"from": "submitting", "to": "training", "replica_id": "r2"}
    at = "2026-03-01T00:00:01.000+00:00"
    consent.append(db, ConsentEvent(2, ConsentEventKind.STATE_CHANGED, at, state))
    db.close()
    return path


async def test_writes_a_header_and_one_row_per_request(tmp_path: Path, database: Path) -> None:
    code, stdout, stderr = await export_audit(tmp_path, database=database)
    assert (code, stderr) == (0, [])
    assert stdout.startswith(b"request_id,submitted_at,")
    rows = rows_of(stdout)
    assert rows[0] == list(COLUMNS)
    assert [(row[0], row[COLUMNS.index("replica_name")]) for row in rows[1:]] == [
        ("1", "January"),
        ("2", "'=March"),  # written as text, never run by a spreadsheet
    ]
    assert rows[2][COLUMNS.index("state")] == "training"


async def test_since_keeps_the_requests_made_on_or_after_that_day(
    tmp_path: Path, database: Path
) -> None:
    code, stdout, _ = await export_audit(tmp_path, "--since", "2026-03-01", database=database)
    assert code == 0
    assert [row[0] for row in rows_of(stdout)[1:]] == ["2"]
    code, stdout, _ = await export_audit(tmp_path, "--since=2026-03-02", database=database)
    assert code == 0
    assert rows_of(stdout) == [list(COLUMNS)]  # nothing since: the header alone


async def test_reads_database_path_from_dot_env_and_needs_no_credentials(
    tmp_path: Path, database: Path
) -> None:
    (tmp_path / ".env").write_text(f"DATABASE_PATH={database}\n")
    code, stdout, stderr = await export_audit(tmp_path)
    assert (code, stderr) == (0, [])
    assert len(rows_of(stdout)) == 3


@pytest.mark.parametrize("since", ["2026-3-1", "01/03/2026", "2026-02-30", "yesterday", ""])
async def test_a_bad_since_is_one_line_and_exit_2(
    tmp_path: Path, database: Path, since: str
) -> None:
    code, stdout, stderr = await export_audit(tmp_path, "--since", since, database=database)
    assert (code, stdout) == (2, b"")
    assert stderr == [
        f"replica-bot: --since must be a date written YYYY-MM-DD, e.g. 2026-03-01; got {since!r}"
    ]


@pytest.mark.parametrize("args", [["--since"], ["--until", "2026-01-01"], ["extra"]])
async def test_bad_arguments_are_one_line_and_exit_2(
    tmp_path: Path, database: Path, args: list[str]
) -> None:
    code, stdout, stderr = await export_audit(tmp_path, *args, database=database)
    assert (code, stdout) == (2, b"")
    assert len(stderr) == 1 and stderr[0].startswith("replica-bot: ")
    assert stderr[0].endswith(f"(usage: {USAGE})")


async def test_a_missing_database_is_one_line_and_is_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "bot.db"
    code, stdout, stderr = await export_audit(tmp_path, database=missing)
    assert (code, stdout) == (2, b"")
    assert stderr == [
        f"replica-bot: cannot read DATABASE_PATH {str(missing)!r}: there is no file there"
    ]
    assert not missing.parent.exists()


async def test_the_default_database_path_is_the_bots(tmp_path: Path) -> None:
    code, _, stderr = await export_audit(tmp_path)  # no DATABASE_PATH, no .env
    assert code == 2
    assert stderr == [
        "replica-bot: cannot read DATABASE_PATH 'replica-bot.db': there is no file there"
    ]


async def test_a_file_that_is_not_a_database_is_one_line(tmp_path: Path) -> None:
    junk = tmp_path / "bot.db"
    junk.write_bytes(b"not a database " * 100)
    code, stdout, stderr = await export_audit(tmp_path, database=junk)
    assert (code, stdout) == (2, b"")
    assert len(stderr) == 1
    assert stderr[0].startswith(f"replica-bot: cannot read DATABASE_PATH {str(junk)!r}: ")
    assert junk.read_bytes() == b"not a database " * 100


async def test_a_database_from_an_older_bot_is_refused_and_left_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = sqlite_utils.Database(path)
    migrations.apply(old, stop_before="add_consent_events")
    old.close()
    code, stdout, stderr = await export_audit(tmp_path, database=path)
    assert (code, stdout) == (2, b"")
    assert len(stderr) == 1 and "start the bot once" in stderr[0]
    with sqlite3.connect(path) as check:  # read-only: not migrated behind the bot's back
        assert (
            check.execute("SELECT 1 FROM sqlite_master WHERE name = 'consent_events'").fetchone()
            is None
        )
