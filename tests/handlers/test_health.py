from __future__ import annotations

import asyncio
from typing import Any

from tests.conftest import Bot, BotFactory, eventually
from tests.handlers.test_replica_form import VIDEO


async def test_healthz_answers_small_json(bot: Bot) -> None:
    response = await bot.http.get(f"{bot.url}/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


async def test_unknown_paths_are_404(bot: Bot) -> None:
    response = await bot.http.get(f"{bot.url}/nope")
    assert response.status_code == 404


# -- GET /readyz ---------------------------------------------------------------------------------


async def readyz(bot: Bot) -> tuple[int, dict[str, Any]]:
    response = await bot.http.get(f"{bot.url}/readyz")
    return response.status_code, response.json()


async def test_readyz_is_200_with_every_check_named(bot: Bot) -> None:
    status, body = await readyz(bot)
    assert status == 200, body
    assert body["status"] == "ready" and body["failing"] == []
    assert body["checks"] == {
        "database": "ok",
        "slack": "ok",
        "tavus": "ok",
        "loops": "ok",
        "outbox": "ok",
    }
    assert body["outbox"] == {"backlog": 0, "oldest_age_seconds": None}
    # The Tavus key is checked with the cheapest authenticated call.
    assert bot.tavus.list_requests >= 1


async def test_a_refused_slack_token_or_tavus_key_is_named(make_bot: BotFactory) -> None:
    bot = await make_bot(slack_bot_token="xoxb-revoked", tavus_api_key="wrong-key")
    status, body = await readyz(bot)
    assert status == 503
    assert body["status"] == "not ready"
    assert set(body["failing"]) == {"slack", "tavus"}
    assert "invalid_auth" in body["checks"]["slack"]
    assert body["checks"]["tavus"] == "Tavus rejected TAVUS_API_KEY"
    assert body["checks"]["database"] == "ok"


async def test_an_unwritable_database_is_not_ready_but_still_alive(bot: Bot) -> None:
    await bot.services.storage.run(lambda db: db.execute("PRAGMA query_only = 1"))
    status, body = await readyz(bot)
    assert status == 503
    assert "database" in body["failing"]
    assert body["checks"]["database"].startswith("not writable")
    assert (await bot.http.get(f"{bot.url}/healthz")).status_code == 200  # liveness: still up
    await bot.services.storage.run(lambda db: db.execute("PRAGMA query_only = 0"))
    assert (await readyz(bot))[0] == 200


async def test_a_stopped_background_loop_is_a_readiness_failure(bot: Bot) -> None:
    bot.services.supervisor._loops["reconciler"].cancel()
    await asyncio.sleep(0.05)
    status, body = await readyz(bot)
    assert status == 503
    assert body["failing"] == ["loops"]
    assert body["checks"]["loops"] == "stopped: reconciler"


async def test_the_outbox_backlog_and_its_oldest_age_are_reported(bot: Bot) -> None:
    bot.slack.down_channels.add("C1")
    view_id, view = await bot.open_form()
    await bot.submit(view_id, view, VIDEO)
    await eventually(lambda: bot.slack.calls_to("chat.postMessage"))
    await asyncio.sleep(0.1)
    status, body = await readyz(bot)
    assert status == 200  # a backlog alone is not a fault: Slack may be down for a while
    assert body["outbox"]["backlog"] >= 1
    assert body["outbox"]["oldest_age_seconds"] >= 0


async def test_socket_mode_readiness_follows_the_connection(socket_bot: Bot) -> None:
    bot = socket_bot
    status, body = await readyz(bot)
    assert status == 200, body
    assert body["checks"]["socket_mode"] == "ok"
    # Slack drops the link and will not open a new one for a while.
    bot.slack.fail_next["apps.connections.open"] = ["internal_error"] * 1000
    bot.slack.socket_mode.drop_links()
    await eventually(lambda: not bot.slack.socket_mode.open_links)

    async def not_connected() -> bool:
        status, body = await readyz(bot)
        return status == 503 and body["failing"] == ["socket_mode"]

    deadline = asyncio.get_running_loop().time() + 10
    while not await not_connected():
        assert asyncio.get_running_loop().time() < deadline, "never reported the lost link"
        await asyncio.sleep(0.1)
    bot.slack.fail_next["apps.connections.open"] = []
    await bot.slack.socket_mode.connected()
    deadline = asyncio.get_running_loop().time() + 10
    while (await readyz(bot))[0] != 200:
        assert asyncio.get_running_loop().time() < deadline, "never reported the new link"
        await asyncio.sleep(0.1)
