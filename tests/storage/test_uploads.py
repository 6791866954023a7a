from __future__ import annotations

import pytest
import sqlite_utils

from domain.slack_files import SlackFile
from storage import uploads

UPLOAD = uploads.Upload(
    channel_id="C1",
    message_ts="1700000000.000100",
    thread_ts="1700000000.000100",
    user_id="U1",
    files=[SlackFile(id="F1", name="a.mp4", mimetype="video/mp4", size=10)],
)


def test_an_upload_is_recorded_once(db: sqlite_utils.Database) -> None:
    assert uploads.record_upload(db, UPLOAD) is True
    assert uploads.record_upload(db, UPLOAD) is False
    assert db.table("slack_uploads").count == 1


def test_found_by_its_key(db: sqlite_utils.Database) -> None:
    uploads.record_upload(db, UPLOAD)
    assert UPLOAD.key == "C1:1700000000.000100"
    assert uploads.find_upload(db, UPLOAD.key) == UPLOAD


@pytest.mark.parametrize("key", ["", "C1", "C2:1700000000.000100", "C1:1.2:3"])
def test_unknown_keys_find_nothing(db: sqlite_utils.Database, key: str) -> None:
    uploads.record_upload(db, UPLOAD)
    assert uploads.find_upload(db, key) is None


def test_prompts_are_wanted_until_declined_and_can_be_wanted_again(
    db: sqlite_utils.Database,
) -> None:
    assert uploads.prompts_wanted(db, "U1")
    assert uploads.set_prompts(db, "U1", wanted=False)
    assert not uploads.set_prompts(db, "U1", wanted=False)  # already off: no change
    assert not uploads.prompts_wanted(db, "U1") and uploads.prompts_wanted(db, "U2")
    assert uploads.set_prompts(db, "U1", wanted=True)
    assert uploads.prompts_wanted(db, "U1")
    assert not uploads.set_prompts(db, "U1", wanted=True)
