"""How a Slack call's answer and URL become metric labels (replicas/metrics.py), without
reading more of the answer than it takes."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from yarl import URL

from replicas.metrics import _slack_outcome, slack_method, tavus_endpoint

API = "https://slack.com/api/"


@dataclass
class Answer:
    """What `_slack_outcome` reads of an aiohttp response."""

    body: bytes
    status: int = 200
    content_type: str = "application/json"

    async def read(self) -> bytes:
        return self.body


@pytest.mark.parametrize(
    ("body", "outcome"),
    [
        (b'{"ok":true,"view":{"id":"V1"}}', "ok"),  # Slack's own, compact
        (b'{"ok": true, "view": {"id": "V1"}}', "ok"),  # with spaces (the tests' fake)
        (b'{"ok":false,"error":"expired_trigger_id"}', "error"),
        (b'{"ok": false, "error": "channel_not_found"}', "error"),
        (b'{"warning":"x","ok":false}', "error"),  # another order: parsed
        (b'{"warning":"x","ok":true}', "ok"),
        (b'{"ok":tru', "error"),  # cut short: not JSON
        (b"[1, 2]", "ok"),  # JSON without "ok": the status decides
    ],
)
async def test_the_outcome_is_read_from_the_answer(body: bytes, outcome: str) -> None:
    assert await _slack_outcome(Answer(body)) == outcome  # type: ignore[arg-type]


async def test_an_http_error_or_a_non_json_answer_needs_no_body() -> None:
    assert await _slack_outcome(Answer(b'{"ok":true}', status=503)) == "error"  # type: ignore[arg-type]
    assert await _slack_outcome(Answer(b"<html>", content_type="text/html")) == "ok"  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("url", "method"),
    [
        (API + "chat.postMessage", "chat.postMessage"),
        (API + "views.open?x=1#top", "views.open"),
        ("https://files.slack.com/files-pri/T1-F1/a.mp4", "other"),
        (API + "chat.postMessage/../../x", "other"),
    ],
)
def test_the_slack_method_is_read_from_the_url(url: str, method: str) -> None:
    assert slack_method(API, URL(url)) == method
    assert slack_method(API.rstrip("/"), URL(url)) == method  # a base without its slash


def test_tavus_ids_are_not_labels() -> None:
    assert tavus_endpoint("/v2/replicas/r123/name") == "/v2/replicas/{id}/name"
