"""The database's files are the bot user's alone, whatever the umask: the database, its WAL
and shared-memory files, and the folder the bot makes for them."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage.database import make_private_dir, open_database


@pytest.fixture(params=[0o022, 0o000], ids=["umask-022", "umask-000"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    """Umasks under which new files would be readable (022) or writable (000) by everyone."""
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def wal_and_shm(path: Path) -> list[Path]:
    return [Path(f"{path}-wal"), Path(f"{path}-shm")]


def test_a_new_database_its_wal_and_its_folder_are_private(umask: int, tmp_path: Path) -> None:
    path = tmp_path / "data" / "bot.db"
    os.chmod(tmp_path, 0o755)

    db = open_database(path)
    try:
        db.table("notes").insert({"text": "written through the WAL"})
        # While the connection is open, WAL mode keeps both files next to the database.
        assert all(found.exists() for found in wal_and_shm(path))
        assert [mode(found) for found in [path, *wal_and_shm(path)]] == [0o600] * 3
        assert mode(path.parent) == 0o700
        assert mode(tmp_path) == 0o755  # it was there already: not the bot's to change
    finally:
        db.close()


def test_missing_parents_are_all_created_private(umask: int, tmp_path: Path) -> None:
    path = tmp_path / "var" / "lib" / "replica-bot" / "bot.db"

    open_database(path).close()

    for folder in (tmp_path / "var", tmp_path / "var" / "lib", path.parent):
        assert mode(folder) == 0o700, folder


def test_an_existing_database_and_wal_are_made_private(
    umask: int, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A database from before this release: created under the umask, 0644 (or 0666).
    path = tmp_path / "bot.db"
    sqlite3.connect(path).close()
    path.chmod(0o644)
    wal = Path(f"{path}-wal")
    wal.touch()  # an empty WAL, as a crash may leave; SQLite takes it as no changes
    wal.chmod(0o664)

    with caplog.at_level(logging.INFO, logger="storage.database"):
        open_database(path).close()

    assert mode(path) == 0o600
    assert f"made {path} readable by its owner only (its mode was 644)" in caplog.text
    assert f"made {wal} readable by its owner only (its mode was 664)" in caplog.text


def test_a_private_database_is_left_as_it_is(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "bot.db"
    open_database(path).close()
    path.chmod(0o400 | 0o200)  # 0600 already

    with caplog.at_level(logging.INFO, logger="storage.database"):
        open_database(path).close()

    assert mode(path) == 0o600
    assert caplog.text == ""


def test_a_database_the_bot_may_not_chmod_is_logged_and_still_opened(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # E.g. a file owned by the operator and shared with the bot's group on purpose.
    path = tmp_path / "bot.db"
    sqlite3.connect(path).close()
    path.chmod(0o660)

    def refuse(target: object, new_mode: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "chmod", refuse)
    db = open_database(path)
    db.close()

    assert mode(path) == 0o660
    assert f"{path} is open to other users (mode 660)" in caplog.text
    assert "chmod 600" in caplog.text


def test_in_memory_databases_touch_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    open_database(":memory:").close()
    assert list(tmp_path.iterdir()) == []


def test_make_private_dir_leaves_an_existing_directory_alone(tmp_path: Path) -> None:
    folder = tmp_path / "media"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)

    make_private_dir(folder)

    assert mode(folder) == 0o755
