"""`/replica audit` end to end: an admin gets the consent record's CSV in their DM with the bot
(the very file `bot.py export-audit` writes); anyone else is refused and nothing is read or
uploaded; a failure is told in words."""

from __future__ import annotations

import csv
import io
import logging
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlite_utils

from domain.audit import COLUMNS
from handlers.audit import summary
from tests.conftest import Bot, BotFactory, eventually
from tests.fakes.fake_slack import Upload
from tests.test_export_audit import export_audit

ADMIN = "UADMIN"
VIDEO = {
    "replica_name": "Jane",
    "mode": "video",
    "train_video_url": "https://cdn.example.com/jane.mp4",
    "model_name": "phoenix-4",
    "intended_use": "Sales demos",
    "consent": True,
}
FILE_METHODS = ("files.getUploadURLExternal", "files.completeUploadExternal")


async def make_requests(bot: Bot, count: int, *, channel: str = "C1") -> None:
    for _ in range(count):
        view_id, view = await bot.open_form(channel=channel)
        assert (await bot.submit(view_id, view, VIDEO)).text == ""
    await bot.settle()


async def audit(bot: Bot, text: str = "", *, user: str = ADMIN, channel: str = "C1") -> str:
    """Run `/replica audit text`; the ephemeral text it is acknowledged with."""
    response = await bot.command(f"audit {text}".strip(), user=user, channel=channel)
    assert response.status_code == 200
    answer = response.json()
    assert answer["response_type"] == "ephemeral"
    return str(answer["text"])


async def uploaded(bot: Bot) -> Upload:
    uploads: list[Upload] = await eventually(bot.slack.shared_uploads)
    [upload] = uploads
    assert upload.content is not None
    return upload


def rows_of(upload: Upload) -> list[list[str]]:
    assert upload.content is not None
    return list(csv.reader(io.StringIO(upload.content.decode("utf-8"), newline="")))


def nothing_uploaded(bot: Bot) -> bool:
    return not any(bot.slack.calls_to(method) for method in FILE_METHODS)


# -- not an admin ---------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "2026-01-01", "please"])
async def test_someone_not_an_admin_is_refused_and_nothing_is_uploaded(
    make_bot: BotFactory, text: str
) -> None:
    bot = await make_bot(replica_admins=(ADMIN, "UADMIN2"))
    await make_requests(bot, 1)
    answer = await audit(bot, text, user="U1")
    assert "only this bot's admins" in answer
    assert "<@UADMIN> or <@UADMIN2>" in answer  # whom to ask
    await bot.settle()
    assert nothing_uploaded(bot)
    assert bot.slack.messages_in("DU1") == []


async def test_with_no_admins_nobody_may_export(bot: Bot) -> None:
    answer = await audit(bot, user="U1")
    assert "only this bot's admins" in answer and "whoever runs this bot" in answer
    assert nothing_uploaded(bot)


async def test_help_tells_admins_about_audit_and_no_one_else(make_bot: BotFactory) -> None:
    bot = await make_bot(replica_admins=(ADMIN,))
    for user, told in (("U1", False), (ADMIN, True)):
        answer = (await bot.command("help", user=user)).json()
        assert ("/replica audit" in str(answer["blocks"])) is told, user


# -- an admin -------------------------------------------------------------------------------


async def test_an_admin_gets_the_csv_in_their_dm_as_the_command_line_writes_it(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    bot = await make_bot(replica_admins=(ADMIN,))
    await make_requests(bot, 2)
    assert "direct messages" in await audit(bot)

    upload = await uploaded(bot)
    # Into the admin's DM, whose id the answer to a short message there told; never C1.
    [intro] = bot.slack.messages_in("DUADMIN")
    assert upload.channel == "DUADMIN" and "consent record" in intro.text
    assert not any("consent record" in m.text for m in bot.slack.messages_in("C1"))
    assert upload.filename.startswith("consent-record-") and upload.filename.endswith(".csv")
    assert upload.initial_comment is not None
    assert "all 2 requests" in upload.initial_comment
    rows = rows_of(upload)
    assert rows[0] == list(COLUMNS)
    assert [row[0] for row in rows[1:]] == ["1", "2"]
    assert {row[COLUMNS.index("requester_id")] for row in rows[1:]} == {"U1"}

    code, stdout, _ = await export_audit(tmp_path, database=bot.settings.database_path)
    assert code == 0 and stdout == upload.content  # beside the running bot, the same bytes


async def test_since_a_day_exports_the_requests_made_from_then(make_bot: BotFactory) -> None:
    bot = await make_bot(replica_admins=(ADMIN,))
    await make_requests(bot, 1)
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date()
    await audit(bot, f"{tomorrow:%Y-%m-%d}")
    upload = await uploaded(bot)
    assert rows_of(upload) == [list(COLUMNS)]
    assert upload.initial_comment is not None
    assert f"No requests were made since {tomorrow.day} {tomorrow:%B %Y}" in upload.initial_comment

    today = datetime.now(UTC).date()
    await audit(bot, f"{today:%Y-%m-%d}")
    await eventually(lambda: len(bot.slack.shared_uploads()) == 2)
    latest = bot.slack.shared_uploads()[-1]
    assert len(rows_of(latest)) == 2
    assert latest.initial_comment is not None
    assert f"of the request made since {today.day} {today:%B %Y}" in latest.initial_comment


@pytest.mark.parametrize("text", ["yesterday", "2026-02-30", "2026-01-01 2026-02-01"])
async def test_a_date_it_cannot_read_is_answered_and_nothing_is_uploaded(
    make_bot: BotFactory, text: str
) -> None:
    bot = await make_bot(replica_admins=(ADMIN,))
    answer = await audit(bot, text)
    assert "YYYY-MM-DD" not in answer and "`/replica audit 2026-03-01`" in answer
    await bot.settle()
    assert nothing_uploaded(bot)


async def test_in_the_dm_with_the_bot_the_file_comes_there_with_no_extra_message(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot(replica_admins=("U1",))
    bot.slack.private.add("G1")  # its status message moves to U1's DM: the bot learns its id
    await make_requests(bot, 1, channel="G1")
    before = len(bot.slack.messages_in("DU1"))

    await audit(bot, user="U1", channel="DU1")
    upload = await uploaded(bot)
    assert upload.channel == "DU1"
    assert len(bot.slack.messages_in("DU1")) == before
    assert bot.slack.calls_to("chat.postMessage")[-1].params["channel"] != "U1"


async def test_a_dm_the_bot_is_not_known_to_be_in_is_never_uploaded_to(
    make_bot: BotFactory,
) -> None:
    # A D… channel may be the admin's DM with a colleague: the file goes to the bot's DM.
    bot = await make_bot(replica_admins=(ADMIN,))
    await audit(bot, channel="DCOLLEAGUE")
    upload = await uploaded(bot)
    assert upload.channel == "DUADMIN"
    assert [c.params["channel_id"] for c in bot.slack.calls_to(FILE_METHODS[1])] == ["DUADMIN"]


@pytest.mark.parametrize(
    ("submitted", "since", "comment"),
    [
        ([], None, "No requests have been made yet: the file has the headings only."),
        (
            ["2026-03-02T10:00:00.000+00:00"],
            None,
            "The consent record of the one request so far (made on 2 March 2026, UTC), "
            "one row each.",
        ),
        (
            ["2026-03-02T10:00:00.000+00:00", "2026-01-05T23:59:00.000+00:00"],
            None,
            "The consent record of all 2 requests (the first made on 5 January 2026, UTC), "
            "one row each.",
        ),
        (["", ""], None, "The consent record of all 2 requests, one row each."),
        (
            ["x"],
            date(2026, 3, 1),
            "The consent record of the request made since 1 March 2026 (UTC), one row each.",
        ),
        (
            ["x", "y"],
            date(2026, 3, 1),
            "The consent record of the 2 requests made since 1 March 2026 (UTC), one row each.",
        ),
    ],
)
def test_the_files_comment_says_how_many_since_when(
    submitted: list[str], since: date | None, comment: str
) -> None:
    assert summary([{"submitted_at": at} for at in submitted], since) == comment


# -- failures -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "error", "told"),
    [
        ("files.completeUploadExternal", "missing_scope", "files:write scope and reinstall"),
        ("files.getUploadURLExternal", "http_500", "wouldn't take the file just now"),
        ("chat.postMessage", "ratelimited", "wouldn't take the file just now"),
    ],
)
async def test_a_refused_upload_is_told_in_words_and_logged(
    make_bot: BotFactory,
    caplog: pytest.LogCaptureFixture,
    method: str,
    error: str,
    told: str,
) -> None:
    bot = await make_bot(replica_admins=(ADMIN,))
    # Slack's client retries a rate limit twice (server/app.py): fail every try.
    bot.slack.fail_next[method] = [error] * 3
    with caplog.at_level(logging.INFO, logger="handlers.audit"):
        await audit(bot)
        [answer] = await eventually(lambda: bot.slack.responses)
    assert answer["response_type"] == "ephemeral" and told in answer["text"]
    for word in (error, "HTTP", "500", "429", "channel_id"):
        assert word not in answer["text"]
    assert bot.slack.shared_uploads() == []
    logged = [
        r for r in caplog.records if r.name == "handlers.audit" and r.levelno >= logging.ERROR
    ]
    assert logged, caplog.text


async def test_a_record_it_cannot_read_is_told_in_words(make_bot: BotFactory) -> None:
    bot = await make_bot(replica_admins=(ADMIN,))
    await make_requests(bot, 1)

    def lose_the_record(db: sqlite_utils.Database) -> None:  # the disk "fails" under the bot
        db.execute("ALTER TABLE consent_events RENAME TO lost")

    await bot.services.storage.run(lose_the_record)
    await audit(bot)
    [answer] = await eventually(lambda: bot.slack.responses)
    assert "couldn't read the consent record" in answer["text"]
    assert nothing_uploaded(bot)
