"""`POST /tavus/callback/{token}` end to end, including forged and malformed deliveries.

A final status is recorded before the answer (202) and announced once Tavus's GET agrees.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from domain.states import State
from storage import replicas as store
from tests.conftest import Bot, eventually
from tests.handlers.test_replica_form import VIDEO
from tests.raw_http import port_of, request_head, send_in_parts, status_of


async def submitted(bot: Bot) -> str:
    """Submit a video request and return the callback token Tavus was given."""
    view_id, view = await bot.open_form()
    await bot.submit(view_id, view, VIDEO)
    await bot.settle()
    return bot.callback_token()


async def test_ready_updates_the_root_and_replies_in_thread(bot: Bot) -> None:
    token = await submitted(bot)
    bot.tavus.set_status("r0001", "completed")
    response = await bot.tavus_callback(token, {"replica_id": "r0001", "status": "ready"})
    assert response.status_code == 202
    # Durable before acknowledged: the callback is on disk when the answer arrives.
    audit = await bot.services.storage.run(store.callbacks_for, 1)
    assert [row["outcome"] for row in audit] == ["confirming"]
    await bot.settle()
    assert bot.tavus.gets == ["r0001"]  # confirmed with GET before it was announced
    assert (await bot.services.storage.run(store.get_request, 1)).state is State.SUCCEEDED
    root, reply = bot.slack.messages_in("C1")
    assert root.blocks[0]["text"]["text"].startswith(":white_check_mark:")
    assert reply.thread_ts == root.ts
    assert reply.text.startswith("<@U1>") and "r0001" in reply.text


async def test_confirming_gives_way_while_a_callback_is_being_recorded(
    bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    # replicas/confirmations.py: answers first. The callback's durable part counts as being
    # answered; its own confirmation starts only after.
    token = await submitted(bot)
    answering = bot.services.workflow._answering
    seen: list[int] = []
    record_callback = store.record_callback

    def recording(*args: Any, **kwargs: Any) -> None:
        seen.append(answering.in_flight)
        record_callback(*args, **kwargs)

    monkeypatch.setattr(store, "record_callback", recording)
    bot.tavus.set_status("r0001", "ready")
    response = await bot.tavus_callback(token, {"replica_id": "r0001", "status": "ready"})
    assert response.status_code == 202
    assert seen == [1]
    assert answering.in_flight == 0
    await bot.settle()
    assert bot.tavus.gets == ["r0001"]
    assert (await bot.services.storage.run(store.get_request, 1)).state is State.SUCCEEDED


async def test_a_confirmed_result_reads_its_request_once(bot: Bot) -> None:
    # The "no repeated reads of the same row": the transaction that records a
    # confirmed result reads the request whole once (and its state before the UPDATE, which
    # returns what the consent record keeps), not again for its model or after the change.
    token = await submitted(bot)
    statements: list[str] = []
    await bot.services.storage.run(lambda db: db.conn.set_trace_callback(statements.append))
    bot.tavus.set_status("r0001", "ready")
    response = await bot.tavus_callback(token, {"replica_id": "r0001", "status": "ready"})
    assert response.status_code == 202
    await bot.settle()
    await bot.services.storage.run(lambda db: db.conn.set_trace_callback(None))

    update = next(i for i, sql in enumerate(statements) if "SET tavus_status" in sql)
    start = max(i for i, sql in enumerate(statements[:update]) if sql.startswith("BEGIN"))
    end = update + statements[update:].index("COMMIT")
    confirming = statements[start:end]
    reads = [sql for sql in confirming if sql.startswith("SELECT") and "replica_requests" in sql]
    assert [sql.split(" FROM")[0] for sql in reads] == [
        "SELECT *",  # the request, to apply the result to
        "SELECT state",  # its state before the UPDATE, for the consent record
        "SELECT requester_id, subject_user_id, slack_file_owner",  # whose Home shows it
        "SELECT state, error_message",  # what the reply announces
    ]
    assert "RETURNING state, replica_id, error_message, tavus_status" in statements[update]
    assert (await bot.services.storage.run(store.get_request, 1)).state is State.SUCCEEDED


async def test_completed_means_success_too(bot: Bot) -> None:
    token = await submitted(bot)
    bot.tavus.set_status("r0001", "completed")
    await bot.tavus_callback(token, {"replica_id": "r0001", "status": "completed"})
    await bot.settle()
    assert (await bot.services.storage.run(store.get_request, 1)).state is State.SUCCEEDED


async def test_error_includes_tavus_message_and_a_hint(bot: Bot) -> None:
    token = await submitted(bot)
    message = (
        "Your consent phrase does not match our requirements. "
        "Please follow our specified format closely"
    )
    bot.tavus.set_status("r0001", "error", message)
    response = await bot.tavus_callback(
        token, {"replica_id": "r0001", "status": "error", "error_message": message}
    )
    assert response.status_code == 202
    await bot.settle()
    root, reply = bot.slack.messages_in("C1")
    assert root.blocks[0]["text"]["text"].startswith(":x:")
    assert message in reply.text
    assert "consent sentence" in reply.text  # the how-to-fix hint
    assert reply.text.startswith("<@U1>")


async def test_duplicate_callback_changes_and_posts_nothing(bot: Bot) -> None:
    token = await submitted(bot)
    bot.tavus.set_status("r0001", "completed")
    body = {"replica_id": "r0001", "status": "ready"}
    first = await bot.tavus_callback(token, body)
    await bot.settle()
    again = await bot.tavus_callback(token, body)
    second = await bot.tavus_callback(token, {"replica_id": "r0001", "status": "error"})
    await bot.settle()
    assert (first.status_code, again.status_code, second.status_code) == (202, 200, 200)
    assert second.json()["result"] == "duplicate"
    assert len(bot.slack.messages_in("C1")) == 2  # root + one reply
    assert (await bot.services.storage.run(store.get_request, 1)).state is State.SUCCEEDED
    audit = await bot.services.storage.run(store.callbacks_for, 1)
    assert [row["outcome"] for row in audit] == ["confirming", "duplicate", "duplicate"]
    assert audit[0]["raw_body"] == '{"replica_id": "r0001", "status": "ready"}'


async def test_in_progress_status_is_kept_without_announcing(bot: Bot) -> None:
    token = await submitted(bot)
    response = await bot.tavus_callback(token, {"replica_id": "r0001", "status": "training"})
    assert response.status_code == 200
    await bot.settle()
    record = await bot.services.storage.run(store.get_request, 1)
    assert record.state is State.TRAINING and record.tavus_status == "training"
    assert len(bot.slack.messages_in("C1")) == 1


async def test_unknown_token_is_404_and_posts_nothing(bot: Bot) -> None:
    await submitted(bot)
    response = await bot.tavus_callback("forged-token", {"replica_id": "r0001", "status": "ready"})
    assert response.status_code == 404
    await bot.settle()
    assert len(bot.slack.messages_in("C1")) == 1
    assert (await bot.services.storage.run(store.get_request, 1)).state is State.TRAINING


async def test_replica_id_mismatch_is_refused(bot: Bot) -> None:
    token = await submitted(bot)
    response = await bot.tavus_callback(token, {"replica_id": "r9999", "status": "ready"})
    assert response.status_code == 409
    await bot.settle()
    assert len(bot.slack.messages_in("C1")) == 1
    assert (await bot.services.storage.run(store.get_request, 1)).state is State.TRAINING


async def test_malformed_json_is_400(bot: Bot) -> None:
    token = await submitted(bot)
    for raw in (b'{"replica_id": "r0001", "status": "ready",}', b"[]", b'{"status": "ready"}'):
        response = await bot.tavus_callback(token, None, raw=raw)
        assert response.status_code == 400, raw
    await bot.settle()
    assert len(bot.slack.messages_in("C1")) == 1


async def test_oversized_body_is_413(bot: Bot) -> None:
    token = await submitted(bot)
    raw = b'{"replica_id": "r0001", "status": "ready", "pad": "' + b"x" * 70_000 + b'"}'
    response = await bot.tavus_callback(token, None, raw=raw)
    assert response.status_code == 413
    await bot.settle()
    assert (await bot.services.storage.run(store.get_request, 1)).state is State.TRAINING


async def test_callback_before_the_create_answer_is_applied_once_it_arrives(bot: Bot) -> None:
    bot.tavus.answer_next_create(200, {"replica_id": "rfast", "status": "started"}, delay=0.5)
    bot.tavus.replicas["rfast"] = {"replica_id": "rfast", "replica_name": "Jane"}
    bot.tavus.set_status("rfast", "error", "There was an issue downloading your video file")
    view_id, view = await bot.open_form()
    await bot.submit(view_id, view, VIDEO)
    await eventually(lambda: bot.tavus.creates)
    token = bot.callback_token()
    response = await bot.tavus_callback(
        token,
        {
            "replica_id": "rfast",
            "status": "error",
            "error_message": "There was an issue downloading your video file",
        },
    )
    assert response.status_code == 202
    await bot.settle()
    await asyncio.sleep(0)
    await bot.settle()
    record = await bot.services.storage.run(store.get_request, 1)
    assert record.state is State.FAILED and record.replica_id == "rfast"
    _, reply = bot.slack.messages_in("C1")
    assert "downloading" in reply.text


async def test_callbacks_after_a_restart_are_handled(bot: Bot) -> None:
    token = await submitted(bot)
    await bot.restart()  # same DATABASE_PATH, new process state
    bot.tavus.set_status("r0001", "completed")
    response = await bot.tavus_callback(token, {"replica_id": "r0001", "status": "ready"})
    assert response.status_code == 202
    await bot.settle()
    root, reply = bot.slack.messages_in("C1")
    assert root.blocks[0]["text"]["text"].startswith(":white_check_mark:")
    assert "is ready" in reply.text


async def test_ready_while_get_says_training_announces_nothing_until_get_agrees(
    bot: Bot,
) -> None:
    token = await submitted(bot)
    response = await bot.tavus_callback(token, {"replica_id": "r0001", "status": "ready"})
    assert response.status_code == 202
    await bot.settle()
    record = await bot.services.storage.run(store.get_request, 1)
    assert record.state is State.TRAINING and record.tavus_status == "started"
    assert len(bot.slack.messages_in("C1")) == 1  # the root only: nothing announced
    # The request stays open for the poller, which announces once GET agrees.
    bot.tavus.set_status("r0001", "completed")
    await bot.services.reconciler.round()
    await bot.settle()
    _, reply = bot.slack.messages_in("C1")
    assert "is ready" in reply.text


async def test_non_ascii_replica_id_is_a_mismatch_not_a_crash(bot: Bot) -> None:
    token = await submitted(bot)
    response = await bot.tavus_callback(token, {"replica_id": "r0001é", "status": "ready"})
    assert response.status_code == 409


# -- bodies that arrive in pieces are judged whole ------------------------------------------

READY = json.dumps({"replica_id": "r0001", "status": "ready"}).encode()


async def test_body_sent_in_two_parts_is_read_whole(bot: Bot) -> None:
    token = await submitted(bot)
    bot.tavus.set_status("r0001", "completed")
    head = request_head(
        "POST",
        f"/tavus/callback/{token}",
        {"content-type": "application/json", "content-length": str(len(READY))},
    )
    response = await send_in_parts(port_of(bot.url), [head + READY[:10], READY[10:]], pause=0.2)

    assert status_of(response) == 202, response
    await bot.settle()
    assert (await bot.services.storage.run(store.get_request, 1)).state is State.SUCCEEDED


async def test_chunked_body_is_read_whole(bot: Bot) -> None:
    token = await submitted(bot)

    async def pieces() -> AsyncIterator[bytes]:
        yield READY[:10]
        await asyncio.sleep(0.2)  # the first chunk is all the server has for a while
        yield READY[10:]

    response = await bot.http.post(
        f"{bot.url}/tavus/callback/{token}",
        content=pieces(),
        headers={"content-type": "application/json"},
    )

    assert response.status_code == 202, response.text
    audit = await bot.services.storage.run(store.callbacks_for, 1)
    assert [row["raw_body"] for row in audit] == [READY.decode()]


async def test_chunked_body_over_the_limit_without_a_length_is_413(bot: Bot) -> None:
    token = await submitted(bot)

    async def pieces() -> AsyncIterator[bytes]:
        yield READY[:-1] + b', "pad": "'
        for _ in range(7):
            await asyncio.sleep(0.01)
            yield b"x" * 10_000  # 70 kB in all, over 64 KiB
        yield b'"}'

    response = await bot.http.post(
        f"{bot.url}/tavus/callback/{token}",
        content=pieces(),
        headers={"content-type": "application/json"},
    )

    assert response.status_code == 413
    assert await bot.services.storage.run(store.callbacks_for, 1) == []


async def test_deeply_nested_json_is_400_not_500(bot: Bot) -> None:
    token = await submitted(bot)
    response = await bot.tavus_callback(token, None, raw=b"[" * 30_000 + b"]" * 30_000)

    assert response.status_code == 400
