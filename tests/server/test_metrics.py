"""GET /metrics: what the bot counts, read by a real HTTP scrape of the running bot, and
parsed as Prometheus would."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tavus.errors import TavusServerError
from tests.conftest import Bot
from tests.handlers.test_replica_form import VIDEO

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
STATES = (
    "awaiting_consent",
    "submitting",
    "training",
    "preview_ready",
    "succeeded",
    "failed",
    "not_created",
    "uncertain",
    "deleted",
)


async def scrape(bot: Bot, accept: str | None = None) -> Samples:
    headers = {"accept": accept} if accept else {}
    response = await bot.http.get(f"{bot.url}/metrics", headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


async def scrape_until(bot: Bot, check: Callable[[Samples], bool]) -> Samples:
    """Scrape until `check` holds (what is counted after Slack or Tavus answered)."""
    deadline = time.monotonic() + 5.0
    while not check(samples := await scrape(bot)):
        assert time.monotonic() < deadline, "the metrics did not get there within 5 s"
        await asyncio.sleep(0.02)
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample; a KeyError if the bot does not serve it."""
    return samples[(name, tuple(sorted(labels.items())))]


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples of `name` with these labels (and any others)."""
    wanted = set(labels.items())
    return sum(v for (n, found), v in samples.items() if n == name and wanted <= set(found))


def requests_by_state(samples: Samples) -> dict[str, float]:
    return {state: value(samples, "replica_bot_requests", state=state) for state in STATES}


async def submit(bot: Bot) -> None:
    view_id, view = await bot.open_form()
    response = await bot.submit(view_id, view, VIDEO)
    assert response.status_code == 200
    await bot.settle()


async def test_a_fresh_bot_serves_every_metric_at_zero(bot: Bot) -> None:
    await bot.settle()
    samples = await scrape(bot)

    assert requests_by_state(samples) == dict.fromkeys(STATES, 0)
    for outcome in ("created", "refused", "uncertain", "unreachable"):
        assert value(samples, "replica_bot_creates_total", outcome=outcome) == 0
    for outcome in ("succeeded", "failed"):
        assert value(samples, "replica_bot_results_announced_total", outcome=outcome) == 0
    assert value(samples, "replica_bot_outbox_backlog") == 0
    assert value(samples, "replica_bot_outbox_oldest_age_seconds") == 0
    assert value(samples, "replica_bot_loops_stopped") == 0
    assert value(samples, "replica_bot_database_up") == 1
    assert value(samples, "replica_bot_background_failures_total") == 0
    assert "process_open_fds" in {name for name, _ in samples}
    # No `_created` series beside the counters.
    assert not [name for name, _ in samples if name.endswith("_created")]


async def test_metrics_move_as_a_request_goes_from_form_to_result(bot: Bot) -> None:
    await submit(bot)
    samples = await scrape(bot)

    assert requests_by_state(samples)["training"] == 1
    assert value(samples, "replica_bot_creates_total", outcome="created") == 1
    assert value(samples, "replica_bot_outbox_deliveries_total", outcome="sent") >= 1
    assert value(samples, "replica_bot_outbox_backlog") == 0
    create = {"method": "POST", "endpoint": "/v2/replicas"}
    assert value(samples, "replica_bot_tavus_api_requests_total", **create, outcome="ok") == 1
    # Latency histograms: every bucket, the count and the sum.
    assert value(samples, "replica_bot_tavus_api_request_duration_seconds_count", **create) == 1
    assert (
        value(samples, "replica_bot_tavus_api_request_duration_seconds_bucket", **create, le="+Inf")
        == 1
    )
    assert value(samples, "replica_bot_tavus_api_request_duration_seconds_sum", **create) > 0
    for method in ("views.open", "chat.postMessage", "auth.test"):
        assert (
            value(samples, "replica_bot_slack_api_requests_total", method=method, outcome="ok") >= 1
        )
        count = value(
            samples, "replica_bot_slack_api_request_duration_seconds_count", method=method
        )
        assert count == total(samples, "replica_bot_slack_api_requests_total", method=method)
        assert (
            value(
                samples,
                "replica_bot_slack_api_request_duration_seconds_bucket",
                method=method,
                le="+Inf",
            )
            == count
        )

    token = bot.callback_token()
    bot.tavus.set_status("r0001", "completed")
    response = await bot.tavus_callback(token, {"replica_id": "r0001", "status": "ready"})
    assert response.status_code == 202
    await bot.settle()
    samples = await scrape(bot)

    by_state = requests_by_state(samples)
    assert (by_state["training"], by_state["succeeded"]) == (0, 1)
    assert value(samples, "replica_bot_results_announced_total", outcome="succeeded") == 1
    assert value(samples, "replica_bot_results_announced_total", outcome="failed") == 0
    get = {"method": "GET", "endpoint": "/v2/replicas/{id}"}  # one series for every replica
    assert value(samples, "replica_bot_tavus_api_requests_total", **get, outcome="ok") >= 1


async def test_polling_rounds_are_counted_and_timed(bot: Bot) -> None:
    await submit(bot)
    bot.tavus.set_status("r0001", "error", "The video is too short")
    await bot.services.reconciler.round()
    await bot.settle()
    samples = await scrape(bot)

    assert value(samples, "replica_bot_reconciler_rounds_total", outcome="ok") >= 1
    rounds = total(samples, "replica_bot_reconciler_rounds_total")
    assert value(samples, "replica_bot_reconciler_round_duration_seconds_count") == rounds
    assert requests_by_state(samples)["failed"] == 1
    assert value(samples, "replica_bot_results_announced_total", outcome="failed") == 1

    # Tavus down: the round fails as a whole, and the reads it tried count as errors.
    await submit(bot)
    bot.tavus.fail_reads = 100
    errors_before = total(samples, "replica_bot_tavus_api_requests_total", outcome="error")
    with pytest.raises(TavusServerError):
        await bot.services.reconciler.round()
    samples = await scrape(bot)
    assert value(samples, "replica_bot_reconciler_rounds_total", outcome="tavus_unavailable") == 1
    errors = total(samples, "replica_bot_tavus_api_requests_total", outcome="error")
    assert errors > errors_before


async def test_refused_and_unanswered_creates_are_counted_by_outcome(bot: Bot) -> None:
    bot.tavus.answer_next_create(400, {"error": "Invalid training video"})
    bot.tavus.answer_next_create(502, "<html>Bad gateway</html>")
    await submit(bot)
    await submit(bot)
    samples = await scrape(bot)

    assert value(samples, "replica_bot_creates_total", outcome="refused") == 1
    assert value(samples, "replica_bot_creates_total", outcome="uncertain") == 1
    assert value(samples, "replica_bot_creates_total", outcome="created") == 0
    create = {"method": "POST", "endpoint": "/v2/replicas"}
    assert value(samples, "replica_bot_tavus_api_requests_total", **create, outcome="error") == 2
    by_state = requests_by_state(samples)
    assert (by_state["not_created"], by_state["uncertain"]) == (1, 1)


async def test_the_outbox_backlog_and_slack_errors_show_while_slack_is_down(bot: Bot) -> None:
    bot.slack.down_channels.add("C1")  # chat.* there: HTTP 500
    await submit(bot)
    samples = await scrape_until(
        bot, lambda s: value(s, "replica_bot_outbox_deliveries_total", outcome="retried") > 0
    )

    assert value(samples, "replica_bot_outbox_backlog") >= 1
    assert value(samples, "replica_bot_outbox_oldest_age_seconds") > 0
    assert value(samples, "replica_bot_outbox_deliveries_total", outcome="retried") >= 1
    assert value(samples, "replica_bot_outbox_deliveries_total", outcome="sent") == 0
    post = {"method": "chat.postMessage"}
    assert value(samples, "replica_bot_slack_api_requests_total", **post, outcome="error") >= 1


async def test_slack_error_answers_count_as_errors(bot: Bot) -> None:
    # Slack reports most errors with HTTP 200 and "ok": false.
    bot.slack.fail_next["users.info"] = ["user_not_found"]
    await bot.open_form()
    info = {"method": "users.info"}
    samples = await scrape_until(
        bot, lambda s: total(s, "replica_bot_slack_api_requests_total", **info) > 0
    )
    assert value(samples, "replica_bot_slack_api_requests_total", **info, outcome="error") == 1


async def test_openmetrics_is_served_to_a_scraper_that_asks(bot: Bot) -> None:
    response = await bot.http.get(
        f"{bot.url}/metrics", headers={"accept": "application/openmetrics-text; version=1.0.0"}
    )
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.endswith("# EOF\n")


async def test_metrics_are_served_in_socket_mode(socket_bot: Bot) -> None:
    await socket_bot.settle()
    samples = await scrape(socket_bot)
    assert value(samples, "replica_bot_database_up") == 1
    assert (
        value(samples, "replica_bot_slack_api_requests_total", method="auth.test", outcome="ok")
        == 1
    )
