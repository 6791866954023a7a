from __future__ import annotations

from tests.conftest import Bot


async def test_healthz_answers_small_json(bot: Bot) -> None:
    response = await bot.http.get(f"{bot.url}/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


async def test_unknown_paths_are_404(bot: Bot) -> None:
    response = await bot.http.get(f"{bot.url}/nope")
    assert response.status_code == 404
