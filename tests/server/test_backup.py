"""`python bot.py backup PATH`: a consistent copy of the live database, even while it is being
written; every problem one line and exit status 2."""

from __future__ import annotations

import asyncio
import sqlite3
import stat
import sys
import threading
from pathlib import Path

import pytest

from domain.request import Mode, ReplicaRequest, SlackOrigin
from server.backup import BackupError, backup
from storage import replicas as store
from storage.database import open_database
from tests.test_bot import ROOT, bot_environment

REQUEST = ReplicaRequest(
    replica_name="Jane", mode=Mode.VIDEO, train_video_url="https://media.example/j.mp4"
)
ORIGIN = SlackOrigin(requester_id="U1", channel_id="C1")


def add_requests(path: Path, first: int, count: int) -> None:
    db = open_database(path)
    try:
        for n in range(first, first + count):
            store.insert_request(
                db, view_id=f"V{n}", request=REQUEST, origin=ORIGIN, callback_token_hash=f"h{n}"
            )
    finally:
        db.close()


def view_ids(path: Path) -> set[str]:
    connection = sqlite3.connect(path)
    try:
        return {row[0] for row in connection.execute("SELECT view_id FROM replica_requests")}
    finally:
        connection.close()


async def run_backup(cwd: Path, database: Path, *args: str) -> tuple[int, str, list[str]]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "bot.py"),
        "backup",
        *args,
        cwd=cwd,
        env=bot_environment(cwd, DATABASE_PATH=str(database)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode().splitlines()


async def test_the_command_copies_the_database_with_no_credentials(tmp_path: Path) -> None:
    database = tmp_path / "bot.db"
    add_requests(database, 1, 3)

    status, out, err = await run_backup(tmp_path, database, "backups/copy.db")

    assert (status, err) == (0, [])
    assert out.startswith("Backed up") and "3 requests" in out
    copy = tmp_path / "backups" / "copy.db"
    assert view_ids(copy) == {"V1", "V2", "V3"}
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert not list(copy.parent.glob(".*partial"))  # nothing left beside it


def test_a_backup_taken_while_the_bot_writes_holds_every_committed_row(tmp_path: Path) -> None:
    database = tmp_path / "bot.db"
    add_requests(database, 1, 200)
    committed: list[int] = []
    stop = threading.Event()

    def write() -> None:
        db = open_database(database)
        n = 1000
        try:
            while not stop.is_set():
                store.insert_request(
                    db, view_id=f"V{n}", request=REQUEST, origin=ORIGIN, callback_token_hash=f"h{n}"
                )
                committed.append(n)
                n += 1
        finally:
            db.close()

    writer = threading.Thread(target=write)
    writer.start()
    try:
        while len(committed) < 20:  # the writer is well under way
            threading.Event().wait(0.01)
        before = list(committed)
        backup(database, tmp_path / "copy.db")
    finally:
        stop.set()
        writer.join()

    copied = view_ids(tmp_path / "copy.db")
    # Every row committed before the backup began is in the copy, and the copy is whole.
    assert {f"V{n}" for n in range(1, 201)} | {f"V{n}" for n in before} <= copied
    connection = sqlite3.connect(tmp_path / "copy.db")
    try:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        connection.close()


@pytest.mark.parametrize(
    ("args", "phrase"),
    [
        ((), "the following arguments are required: PATH"),
        (("existing.db",), "exists already: choose another PATH, or add --force"),
        (("bot.db",), "exists already"),
    ],
)
async def test_problems_are_one_line(tmp_path: Path, args: tuple[str, ...], phrase: str) -> None:
    database = tmp_path / "bot.db"
    add_requests(database, 1, 1)
    (tmp_path / "existing.db").write_text("keep me")

    status, out, err = await run_backup(tmp_path, database, *args)

    assert status == 2 and out == ""
    [line] = err
    assert line.startswith("replica-bot: ") and phrase in line
    assert (tmp_path / "existing.db").read_text() == "keep me"


def test_no_database_and_the_database_itself_are_refused(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="there is no file there"):
        backup(tmp_path / "missing.db", tmp_path / "copy.db")
    database = tmp_path / "bot.db"
    add_requests(database, 1, 1)
    with pytest.raises(BackupError, match="PATH is the database itself"):
        backup(database, database, force=True)


async def test_force_replaces_an_older_backup(tmp_path: Path) -> None:
    database = tmp_path / "bot.db"
    add_requests(database, 1, 2)
    (tmp_path / "copy.db").write_text("old")
    status, _, _ = await run_backup(tmp_path, database, "copy.db", "--force")
    assert status == 0 and view_ids(tmp_path / "copy.db") == {"V1", "V2"}
