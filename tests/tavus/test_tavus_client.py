"""tavus.client.TavusClient over httpx.MockTransport, and tavus.errors."""

from __future__ import annotations

import gzip
import json
from collections.abc import AsyncIterator, Callable
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

import tavus.client as client_module
from tavus.client import CreatedReplica, ReplicaState, TavusClient, Voice
from tavus.errors import (
    TavusAuthError,
    TavusError,
    TavusProtocolError,
    TavusRejectedError,
    TavusServerError,
    TavusUnreachableError,
    error_text,
)
from tavus.fields import MAX_THUMBNAIL_URL_CHARS
from tavus.listing import ListedReplica

BASE_URL = "https://tavus.test"
API_KEY = "test-api-key"
VIDEO_BODY = {
    "replica_name": "Jane",
    "model_name": "phoenix-4",
    "train_video_url": "https://media.example/jane.mp4",
    "callback_url": "https://bot.example/tavus/callback/tok",
}

Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """A MockTransport whose answers are queued per test; every request is kept."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.handler: Handler = lambda request: httpx.Response(500)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)

    def answer(self, *responses: httpx.Response | Exception) -> None:
        """Answer requests with these, in order; the last one repeats."""
        queue = list(responses)

        def handler(request: httpx.Request) -> httpx.Response:
            item = queue.pop(0) if len(queue) > 1 else queue[0]
            if isinstance(item, Exception):
                raise item
            return item

        self.handler = handler


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def tavus(recorder: Recorder) -> AsyncIterator[TavusClient]:
    client = TavusClient(BASE_URL, API_KEY, transport=httpx.MockTransport(recorder))
    yield client
    await client.aclose()


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Retry back-off delays, recorded instead of waited for."""
    delays: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        delays.append(seconds)

    monkeypatch.setattr(client_module, "asyncio", SimpleNamespace(sleep=fake_sleep))
    return delays


def json_response(status: int, body: Any) -> httpx.Response:
    return httpx.Response(status, json=body)


# -- create_replica ----------------------------------------------------------------------------


async def test_create_sends_exact_body_and_api_key(tavus: TavusClient, recorder: Recorder) -> None:
    recorder.answer(json_response(200, {"replica_id": "r90bbd427f71", "status": "started"}))

    created = await tavus.create_replica(VIDEO_BODY)

    assert created == CreatedReplica(replica_id="r90bbd427f71", status="started")
    [request] = recorder.requests
    assert request.method == "POST"
    assert str(request.url) == f"{BASE_URL}/v2/replicas"
    assert request.headers["x-api-key"] == API_KEY
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == VIDEO_BODY


async def test_every_request_names_the_bot_and_carries_the_timeouts(
    recorder: Recorder,
) -> None:
    client = TavusClient(
        BASE_URL + "/api/", API_KEY, timeout_seconds=20, transport=httpx.MockTransport(recorder)
    )
    recorder.answer(json_response(200, {"replica_id": "r1", "status": "ready"}))
    try:
        await client.get_replica("r1")
    finally:
        await client.aclose()
    [request] = recorder.requests
    assert str(request.url) == f"{BASE_URL}/api/v2/replicas/r1"  # under the base's path
    assert request.headers["user-agent"] == client_module.USER_AGENT
    assert request.headers["accept"] == "application/json"
    assert "gzip" in request.headers["accept-encoding"]
    assert request.extensions["timeout"] == {"connect": 10, "read": 20, "write": 20, "pool": 20}


async def test_a_compressed_answer_is_read(tavus: TavusClient, recorder: Recorder) -> None:
    body = gzip.compress(json.dumps({"replica_id": "r1", "status": "ready"}).encode())
    recorder.answer(httpx.Response(200, headers={"content-encoding": "gzip"}, content=body))
    assert (await tavus.get_replica("r1")).status == "ready"


async def test_create_reads_face_id(tavus: TavusClient, recorder: Recorder) -> None:
    recorder.answer(json_response(200, {"face_id": "f123", "status": "started"}))

    assert await tavus.create_replica(VIDEO_BODY) == CreatedReplica("f123", "started")


async def test_create_without_status_reads_as_started(
    tavus: TavusClient, recorder: Recorder
) -> None:
    recorder.answer(json_response(200, {"replica_id": "r1"}))

    assert (await tavus.create_replica(VIDEO_BODY)).status == "started"


async def test_create_400_is_rejected_with_tavus_reason(
    tavus: TavusClient, recorder: Recorder
) -> None:
    body = {"error": "Either train_video_url or train_image_url must be provided."}
    recorder.answer(json_response(400, body))

    with pytest.raises(TavusRejectedError) as caught:
        await tavus.create_replica(VIDEO_BODY)

    error = caught.value
    assert type(error) is TavusRejectedError
    assert error.status_code == 400
    assert json.loads(error.body) == body
    assert error.reason == "Either train_video_url or train_image_url must be provided."
    assert error.may_have_taken_effect is False
    assert len(recorder.requests) == 1


async def test_create_401_is_auth_error_with_message_reason(
    tavus: TavusClient, recorder: Recorder
) -> None:
    recorder.answer(json_response(401, {"message": "Invalid access token"}))

    with pytest.raises(TavusAuthError) as caught:
        await tavus.create_replica(VIDEO_BODY)

    assert isinstance(caught.value, TavusRejectedError)
    assert caught.value.status_code == 401
    assert caught.value.reason == "Invalid access token"
    assert caught.value.may_have_taken_effect is False


async def test_create_500_may_have_taken_effect_and_is_not_retried(
    tavus: TavusClient, recorder: Recorder, sleeps: list[float]
) -> None:
    recorder.answer(httpx.Response(500, text="upstream exploded"))

    with pytest.raises(TavusServerError) as caught:
        await tavus.create_replica(VIDEO_BODY)

    assert caught.value.status_code == 500
    assert caught.value.body == "upstream exploded"
    assert caught.value.may_have_taken_effect is True
    assert len(recorder.requests) == 1
    assert sleeps == []


@pytest.mark.parametrize("status", [429, 404])
async def test_create_other_4xx_is_rejected_and_not_retried(
    tavus: TavusClient, recorder: Recorder, sleeps: list[float], status: int
) -> None:
    recorder.answer(json_response(status, {"error": "slow down"}))

    with pytest.raises(TavusRejectedError) as caught:
        await tavus.create_replica(VIDEO_BODY)

    assert caught.value.status_code == status
    assert caught.value.reason == "slow down"
    assert len(recorder.requests) == 1
    assert sleeps == []


async def test_create_connect_error_was_not_sent(
    tavus: TavusClient, recorder: Recorder, sleeps: list[float]
) -> None:
    recorder.answer(httpx.ConnectError("connection refused"))

    with pytest.raises(TavusUnreachableError) as caught:
        await tavus.create_replica(VIDEO_BODY)

    assert caught.value.request_sent is False
    assert caught.value.may_have_taken_effect is False
    assert caught.value.status_code is None
    assert isinstance(caught.value.__cause__, httpx.ConnectError)
    assert len(recorder.requests) == 1
    assert sleeps == []


@pytest.mark.parametrize(
    "failure",
    [httpx.ReadTimeout("read timed out"), httpx.RemoteProtocolError("server hung up")],
    ids=["read-timeout", "remote-protocol-error"],
)
async def test_create_lost_answer_may_have_taken_effect_and_is_not_retried(
    tavus: TavusClient, recorder: Recorder, sleeps: list[float], failure: Exception
) -> None:
    recorder.answer(failure)

    with pytest.raises(TavusUnreachableError) as caught:
        await tavus.create_replica(VIDEO_BODY)

    assert caught.value.request_sent is True
    assert caught.value.may_have_taken_effect is True
    assert len(recorder.requests) == 1
    assert sleeps == []


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, text="<html>gateway</html>"),
        httpx.Response(200, json=["not", "an", "object"]),
        httpx.Response(200, json={"status": "started"}),  # no replica_id
    ],
    ids=["html", "json-list", "no-replica-id"],
)
async def test_create_unreadable_success_is_protocol_error(
    tavus: TavusClient, recorder: Recorder, response: httpx.Response
) -> None:
    recorder.answer(response)

    with pytest.raises(TavusProtocolError) as caught:
        await tavus.create_replica(VIDEO_BODY)

    assert caught.value.status_code == 200
    assert caught.value.may_have_taken_effect is True
    assert len(recorder.requests) == 1


# -- get_replica -------------------------------------------------------------------------------


async def test_get_replica(tavus: TavusClient, recorder: Recorder) -> None:
    recorder.answer(
        json_response(
            200,
            {
                "replica_id": "r1",
                "replica_name": "Jane",
                "status": "error",
                "training_progress": "40/100",
                "error_message": "There was an issue downloading your video file",
            },
        )
    )

    state = await tavus.get_replica("r1")

    assert state == ReplicaState(
        replica_id="r1",
        status="error",
        error_message="There was an issue downloading your video file",
        training_progress="40/100",
    )
    [request] = recorder.requests
    assert request.method == "GET"
    assert request.url.path == "/v2/replicas/r1"
    assert request.headers["x-api-key"] == API_KEY


async def test_get_replica_tolerates_sparse_and_renamed_fields(
    tavus: TavusClient, recorder: Recorder
) -> None:
    recorder.answer(json_response(200, {"face_id": "f9", "status": "completed"}))

    state = await tavus.get_replica("f9")

    assert state == ReplicaState("f9", "completed", None, None)


async def test_get_replica_falls_back_to_requested_id(
    tavus: TavusClient, recorder: Recorder
) -> None:
    recorder.answer(json_response(200, {"training_progress": 100}))

    state = await tavus.get_replica("r7")

    assert (state.replica_id, state.status, state.training_progress) == ("r7", "", "100")


async def test_get_replica_reads_thumbnail_finetune_status_and_model(
    tavus: TavusClient, recorder: Recorder
) -> None:
    recorder.answer(
        json_response(
            200,
            {
                "face_id": "f1",
                "face_name": "Jane",
                "status": "completed",
                "training_progress": "100/100",
                "thumbnail_video_url": " https://cdn.tavus.test/f1/thumb.mp4 ",
                "finetune_status": " training ",
                "model_name": "phoenix-4.5",
            },
        )
    )

    state = await tavus.get_replica("f1")

    assert state == ReplicaState(
        replica_id="f1",
        status="completed",
        error_message=None,
        training_progress="100/100",
        thumbnail_video_url="https://cdn.tavus.test/f1/thumb.mp4",
        finetune_status="training",
        model_name="phoenix-4.5",
    )


async def test_get_replica_without_the_new_fields_reads_them_as_none(
    tavus: TavusClient, recorder: Recorder
) -> None:
    recorder.answer(
        json_response(
            200,
            {
                "replica_id": "r1",
                "status": "completed",
                "thumbnail_video_url": None,
                "finetune_status": None,
                "model_name": 4,
            },
        )
    )

    state = await tavus.get_replica("r1")

    assert (state.thumbnail_video_url, state.finetune_status, state.model_name) == (
        None,
        None,
        None,
    )


@pytest.mark.parametrize(
    "thumbnail",
    [
        "javascript:alert(1)",
        "ftp://cdn.tavus.test/thumb.mp4",
        "data:video/mp4;base64,AAAA",
        "/relative/thumb.mp4",
        "https://",
        "https:///no-host.mp4",
        "https://cdn.tavus.test/a thumb.mp4",
        "https://cdn.tavus.test/\x00.mp4",
        "https://cdn.tavus.test/\x7f.mp4",
        "https://cdn.tavus.test/a\u00a0thumb.mp4",
        "https://cdn.tavus.test/a\u2028thumb.mp4",
        "https://[::1/thumb.mp4",
        "https://cdn.tavus.test/" + "x" * 2_000,
        "",
        42,
        ["https://cdn.tavus.test/thumb.mp4"],
    ],
    ids=[
        "javascript",
        "ftp",
        "data",
        "relative",
        "no-host",
        "empty-host",
        "space",
        "control-char",
        "delete-char",
        "no-break-space",
        "line-separator",
        "bad-ipv6",
        "too-long",
        "empty",
        "number",
        "list",
    ],
)
async def test_get_replica_ignores_a_bad_thumbnail(
    tavus: TavusClient, recorder: Recorder, thumbnail: Any
) -> None:
    recorder.answer(
        json_response(
            200, {"replica_id": "r1", "status": "completed", "thumbnail_video_url": thumbnail}
        )
    )

    state = await tavus.get_replica("r1")

    assert state.thumbnail_video_url is None
    assert state.status == "completed"


async def test_get_replica_keeps_a_thumbnail_of_exactly_the_limit(
    tavus: TavusClient, recorder: Recorder
) -> None:
    prefix = "http://cdn.tavus.test/"
    url = prefix + "x" * (MAX_THUMBNAIL_URL_CHARS - len(prefix))
    recorder.answer(json_response(200, {"replica_id": "r1", "thumbnail_video_url": url}))

    assert (await tavus.get_replica("r1")).thumbnail_video_url == url


@pytest.mark.parametrize(
    "first_failure",
    [
        httpx.Response(500),
        httpx.Response(503),
        httpx.Response(429, json={"error": "rate limited"}),
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
    ],
    ids=["500", "503", "429", "connect-error", "read-timeout"],
)
async def test_reads_are_retried_then_succeed(
    tavus: TavusClient,
    recorder: Recorder,
    sleeps: list[float],
    first_failure: httpx.Response | Exception,
) -> None:
    recorder.answer(first_failure, json_response(200, {"replica_id": "r1", "status": "started"}))

    state = await tavus.get_replica("r1")

    assert state.status == "started"
    assert len(recorder.requests) == 2
    assert sleeps == [0.5]


async def test_reads_give_up_after_the_retries(
    tavus: TavusClient, recorder: Recorder, sleeps: list[float]
) -> None:
    recorder.answer(httpx.Response(502, text="bad gateway"))

    with pytest.raises(TavusServerError) as caught:
        await tavus.get_replica("r1")

    assert caught.value.status_code == 502
    assert len(recorder.requests) == 3
    assert sleeps == [0.5, 1.0]


@pytest.mark.parametrize(
    ("response", "error_type"),
    [
        (httpx.Response(400, json={"error": "Invalid replica_id"}), TavusRejectedError),
        (httpx.Response(401, json={"message": "Invalid access token"}), TavusAuthError),
        (httpx.Response(200, text="not json"), TavusProtocolError),
    ],
    ids=["400", "401", "non-json"],
)
async def test_reads_do_not_retry_permanent_errors(
    tavus: TavusClient,
    recorder: Recorder,
    sleeps: list[float],
    response: httpx.Response,
    error_type: type[TavusError],
) -> None:
    recorder.answer(response)

    with pytest.raises(error_type):
        await tavus.get_replica("r1")

    assert len(recorder.requests) == 1
    assert sleeps == []


# -- list_voices -------------------------------------------------------------------------------


def voice_item(name: str, *tags: str) -> dict[str, Any]:
    return {
        "voice_name": name,
        "replica_id": f"r-{name}",
        "audio_url": None,
        "tags": [{"tag_name": tag} for tag in tags],
    }


def voice_pages(items: list[dict[str, Any]], *, total: int | None) -> Handler:
    """Serve `items` the way /v2/voices pages them (1-based pages of `limit`)."""

    def handler(request: httpx.Request) -> httpx.Response:
        limit = int(request.url.params["limit"])
        page = int(request.url.params["page"])
        chunk = items[(page - 1) * limit : page * limit]
        body: dict[str, Any] = {"data": chunk, "page": page, "limit": limit}
        if total is not None:
            body["total_count"] = total
        return json_response(200, body)

    return handler


def pages_requested(recorder: Recorder) -> list[tuple[str, str]]:
    return [(r.url.params["limit"], r.url.params["page"]) for r in recorder.requests]


async def test_list_voices_single_short_page(tavus: TavusClient, recorder: Recorder) -> None:
    recorder.handler = voice_pages(
        [voice_item("Anna", "Female", "Warm"), voice_item("james")], total=2
    )

    voices = await tavus.list_voices()

    assert voices == [Voice("anna", ("Female", "Warm")), Voice("james", ())]
    assert pages_requested(recorder) == [("100", "1")]
    assert all(r.url.path == "/v2/voices" for r in recorder.requests)


async def test_list_voices_pages_until_a_short_page(tavus: TavusClient, recorder: Recorder) -> None:
    items = [voice_item(f"voice{i:03}") for i in range(230)]
    recorder.handler = voice_pages(items, total=None)

    voices = await tavus.list_voices()

    assert [v.name for v in voices] == [f"voice{i:03}" for i in range(230)]
    assert pages_requested(recorder) == [("100", "1"), ("100", "2"), ("100", "3")]


async def test_list_voices_stops_at_total_count(tavus: TavusClient, recorder: Recorder) -> None:
    items = [voice_item(f"voice{i:03}") for i in range(200)]
    recorder.handler = voice_pages(items, total=200)

    voices = await tavus.list_voices()

    assert len(voices) == 200
    assert pages_requested(recorder) == [("100", "1"), ("100", "2")]  # no empty third page


async def test_list_voices_stops_on_empty_page(tavus: TavusClient, recorder: Recorder) -> None:
    recorder.handler = voice_pages([], total=0)

    assert await tavus.list_voices() == []
    assert len(recorder.requests) == 1


async def test_list_voices_parses_items_defensively(tavus: TavusClient, recorder: Recorder) -> None:
    recorder.answer(
        json_response(
            200,
            {
                "data": [
                    {"voice_id": "v1", "status": "ready"},  # third-party shape: no voice_name
                    {"voice_name": "", "tags": []},
                    {"voice_name": None},
                    "not-a-dict",
                    {"voice_name": "IVY", "tags": None},
                    {
                        "voice_name": "Liam",
                        "tags": [{"tag_name": "Male"}, {"tag_name": ""}, "loose", {"x": 1}],
                    },
                ],
                "total_count": 6,
            },
        )
    )

    assert await tavus.list_voices() == [Voice("ivy"), Voice("liam", ("Male",))]


async def test_list_voices_without_data_array_is_protocol_error(
    tavus: TavusClient, recorder: Recorder
) -> None:
    recorder.answer(json_response(200, {"voices": []}))

    with pytest.raises(TavusProtocolError):
        await tavus.list_voices()


async def test_list_voices_retries_a_failed_page(
    tavus: TavusClient, recorder: Recorder, sleeps: list[float]
) -> None:
    recorder.answer(httpx.Response(500), json_response(200, {"data": [voice_item("anna")]}))

    assert await tavus.list_voices() == [Voice("anna")]
    assert len(recorder.requests) == 2
    assert sleeps == [0.5]


# -- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('{"error": "Invalid replica_id"}', "Invalid replica_id"),
        ('{"message": "Invalid access token"}', "Invalid access token"),
        ('{"detail": "Not Found"}', "Not Found"),
        ('{"error": "  padded  "}', "padded"),
        ('{"error": "first", "message": "second"}', "first"),
        ('{"error": "", "message": "fallback"}', "fallback"),
        ('{"error": 42}', None),
        ('{"other": "x"}', None),
        ('["a list"]', None),
        ("[" * 100_000, None),
        ("plain text failure\n", "plain text failure"),
        # A server's default status line is not Tavus's words (the log has the status).
        ("404 page not found", None),
        ("HTTP/1.1 403 Forbidden", None),
        ("Forbidden", None),
        ("Bad Gateway.", None),
        ("<html>502 Bad Gateway</html>", None),
        ("x" * 201, None),
        ("two\nlines", None),
        ("", None),
    ],
)
def test_error_text(body: str, expected: str | None) -> None:
    assert error_text(body) == expected


@pytest.mark.parametrize(
    ("status", "body", "phrase"),
    [
        (400, "", "400 Bad Request"),
        (404, "  ", "404 Not Found"),
        (403, "<html><body>Access denied by firewall</body></html>", "403 Forbidden"),
        (499, "<html/>", "499"),
    ],
)
def test_rejected_reason_without_tavus_words_says_who_refused(
    status: int, body: str, phrase: str
) -> None:
    reason = TavusRejectedError("x", status_code=status, body=body).reason
    assert "Tavus, or something in front of it" in reason
    assert phrase in reason
    assert "<" not in reason


def test_body_start_is_one_bounded_line() -> None:
    error = TavusRejectedError("x", status_code=403, body="<html>\n" + "x" * 5000)
    assert "\n" not in error.body_start
    assert len(error.body_start) < 600
    assert error.body_start.endswith("…")


def test_error_hierarchy() -> None:
    assert issubclass(TavusAuthError, TavusRejectedError)
    for error_type in (
        TavusRejectedError,
        TavusServerError,
        TavusUnreachableError,
        TavusProtocolError,
    ):
        assert issubclass(error_type, TavusError)


# -- delete_replica ----------------------------------------------------------------------------


@pytest.mark.parametrize("hard", [True, False])
async def test_delete_sends_hard_only_when_asked(
    tavus: TavusClient, recorder: Recorder, hard: bool
) -> None:
    recorder.answer(httpx.Response(200))  # no body: Tavus documents none

    assert await tavus.delete_replica("r1", hard=hard) is True

    [request] = recorder.requests
    assert (request.method, request.url.path) == ("DELETE", "/v2/replicas/r1")
    assert dict(request.url.params) == ({"hard": "true"} if hard else {})
    assert request.headers["x-api-key"] == API_KEY


@pytest.mark.parametrize(
    "gone",
    [
        httpx.Response(400, json={"error": "Invalid replica_id"}),
        httpx.Response(404, json={"error": "Not found"}),
    ],
    ids=["400 invalid replica_id", "404"],
)
async def test_delete_of_a_replica_tavus_no_longer_has_is_false(
    tavus: TavusClient, recorder: Recorder, gone: httpx.Response
) -> None:
    recorder.answer(gone)

    assert await tavus.delete_replica("r1", hard=True) is False


async def test_delete_is_retried_on_a_server_error(
    tavus: TavusClient, recorder: Recorder, sleeps: list[float]
) -> None:
    recorder.answer(httpx.Response(503), httpx.Response(200, json={"message": "deleted"}))

    assert await tavus.delete_replica("r1", hard=True) is True
    assert len(recorder.requests) == 2 and sleeps == [0.5]


@pytest.mark.parametrize(
    ("response", "error_type"),
    [
        (httpx.Response(400, json={"error": "Bad request"}), TavusRejectedError),
        (httpx.Response(401, json={"message": "Invalid access token"}), TavusAuthError),
        (httpx.Response(502), TavusServerError),
    ],
)
async def test_a_delete_tavus_refused_raises(
    tavus: TavusClient,
    recorder: Recorder,
    sleeps: list[float],
    response: httpx.Response,
    error_type: type[TavusError],
) -> None:
    recorder.answer(response)

    with pytest.raises(error_type):
        await tavus.delete_replica("r1", hard=True)


# -- list_replicas -----------------------------------------------------------------------------


async def test_list_replicas_reads_both_spellings_and_the_new_fields(
    tavus: TavusClient, recorder: Recorder
) -> None:
    recorder.answer(
        json_response(
            200,
            {
                "data": [
                    {
                        "replica_id": "r1",
                        "replica_name": "Jane",
                        "status": "training",
                        "training_progress": "42/100",
                        "created_at": "2024-01-24T07:14:03.327Z",
                        "model_name": "phoenix-4",
                        "thumbnail_video_url": None,
                    },
                    {
                        "face_id": "f2",
                        "face_name": "Joe",
                        "status": "completed",
                        "finetune_status": "completed",
                        "model_name": "phoenix-4.5",
                        "thumbnail_video_url": "https://cdn.tavus.test/f2.mp4",
                    },
                    {"face_name": "no id", "status": "completed"},
                    {
                        "face_id": "f3",
                        "status": "completed",
                        "thumbnail_video_url": "javascript:alert(1)",
                        "finetune_status": 7,
                    },
                ],
                "total_count": 4,
            },
        )
    )

    listed = list(await tavus.list_replicas())

    assert [(r.replica_id, r.replica_name, r.status) for r in listed] == [
        ("r1", "Jane", "training"),
        ("f2", "Joe", "completed"),
        ("f3", "", "completed"),
    ]
    assert listed[0].created_at is not None
    assert (listed[0].model_name, listed[0].finetune_status, listed[0].thumbnail_video_url) == (
        "phoenix-4",
        None,
        None,
    )
    assert listed[1] == ListedReplica(
        replica_id="f2",
        replica_name="Joe",
        status="completed",
        created_at=None,
        error_message=None,
        thumbnail_video_url="https://cdn.tavus.test/f2.mp4",
        finetune_status="completed",
        model_name="phoenix-4.5",
    )
    assert (listed[2].thumbnail_video_url, listed[2].finetune_status) == (None, None)
    [request] = recorder.requests
    assert request.url.path == "/v2/replicas"
    assert request.url.params["replica_type"] == "user"


async def test_list_replicas_awaits_the_hook_after_each_page(
    tavus: TavusClient, recorder: Recorder
) -> None:
    items = [{"replica_id": f"r{n}", "status": "training"} for n in range(150)]
    recorder.handler = voice_pages(items, total=150)  # /v2/replicas pages the same way
    pages_when_called: list[int] = []

    async def after_each_page() -> None:
        pages_when_called.append(len(recorder.requests))

    listing = await tavus.list_replicas(after_each_page)

    assert pages_when_called == [1, 2]  # after each page was read, before the next was asked
    assert len(listing) == 150 and listing.get("r149") is not None


# -- rename_replica ----------------------------------------------------------------------------


async def test_rename_sends_the_name_to_the_name_path(
    tavus: TavusClient, recorder: Recorder
) -> None:
    recorder.answer(httpx.Response(200))  # no body: Tavus documents none

    await tavus.rename_replica("r1", "Jane – sales")

    [request] = recorder.requests
    assert (request.method, request.url.path) == ("PATCH", "/v2/replicas/r1/name")
    assert request.headers["x-api-key"] == API_KEY
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {"replica_name": "Jane – sales"}


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200),
        httpx.Response(200, text="OK"),
        httpx.Response(200, json=["renamed"]),
        httpx.Response(200, json={"replica_id": "r1", "replica_name": "Jane"}),
        httpx.Response(204),
    ],
    ids=["empty", "text", "json-list", "json-object", "204"],
)
async def test_rename_accepts_any_success_body(
    tavus: TavusClient, recorder: Recorder, response: httpx.Response
) -> None:
    recorder.answer(response)

    await tavus.rename_replica("r1", "Jane")

    assert len(recorder.requests) == 1


@pytest.mark.parametrize(
    "first_failure",
    [
        httpx.Response(503),
        httpx.Response(429, json={"error": "rate limited"}),
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
    ],
    ids=["503", "429", "connect-error", "read-timeout"],
)
async def test_rename_is_retried_then_succeeds(
    tavus: TavusClient,
    recorder: Recorder,
    sleeps: list[float],
    first_failure: httpx.Response | Exception,
) -> None:
    recorder.answer(first_failure, httpx.Response(200))

    await tavus.rename_replica("r1", "Jane")

    assert len(recorder.requests) == 2
    assert sleeps == [0.5]
    assert all(json.loads(r.content) == {"replica_name": "Jane"} for r in recorder.requests)


async def test_rename_gives_up_after_the_retries(
    tavus: TavusClient, recorder: Recorder, sleeps: list[float]
) -> None:
    recorder.answer(httpx.Response(503))

    with pytest.raises(TavusServerError):
        await tavus.rename_replica("r1", "Jane")

    assert len(recorder.requests) == 3
    assert sleeps == [0.5, 1.0]


@pytest.mark.parametrize(
    ("response", "error_type", "reason"),
    [
        (
            httpx.Response(400, json={"error": "Invalid replica_id"}),
            TavusRejectedError,
            "Invalid replica_id",
        ),
        (
            httpx.Response(401, json={"message": "Invalid access token"}),
            TavusAuthError,
            "Invalid access token",
        ),
    ],
    ids=["400", "401"],
)
async def test_a_rename_tavus_refused_raises_without_retrying(
    tavus: TavusClient,
    recorder: Recorder,
    sleeps: list[float],
    response: httpx.Response,
    error_type: type[TavusRejectedError],
    reason: str,
) -> None:
    recorder.answer(response)

    with pytest.raises(error_type) as caught:
        await tavus.rename_replica("nope", "Jane")

    assert type(caught.value) is error_type
    assert caught.value.reason == reason
    assert len(recorder.requests) == 1
    assert sleeps == []


# -- replica ids in paths ----------------------------------------------------------------------


async def test_a_replica_id_stays_one_path_segment(tavus: TavusClient, recorder: Recorder) -> None:
    recorder.answer(httpx.Response(200, json={"status": "started"}))

    await tavus.get_replica("a/b?c")
    await tavus.rename_replica("a/b?c", "Jane")
    await tavus.delete_replica("a/b?c", hard=True)

    get, rename, delete = recorder.requests
    assert get.url.raw_path == b"/v2/replicas/a%2Fb%3Fc"
    assert rename.url.raw_path == b"/v2/replicas/a%2Fb%3Fc/name"
    assert delete.url.raw_path == b"/v2/replicas/a%2Fb%3Fc?hard=true"
    assert all(r.url.host == "tavus.test" for r in recorder.requests)
    assert dict(get.url.params) == {} and dict(rename.url.params) == {}


async def test_get_replica_keeps_the_requested_id_when_quoted(
    tavus: TavusClient, recorder: Recorder
) -> None:
    recorder.answer(httpx.Response(200, json={"status": "started"}))

    assert (await tavus.get_replica("r 1#x")).replica_id == "r 1#x"
    assert recorder.requests[0].url.raw_path == b"/v2/replicas/r%201%23x"


@pytest.mark.parametrize("replica_id", ["", ".", ".."])
async def test_an_id_that_would_name_another_path_is_refused_unsent(
    tavus: TavusClient, recorder: Recorder, replica_id: str
) -> None:
    recorder.answer(httpx.Response(200, json={"data": []}))

    with pytest.raises(TavusRejectedError) as caught:
        await tavus.get_replica(replica_id)
    with pytest.raises(TavusRejectedError):
        await tavus.rename_replica(replica_id, "Jane")
    with pytest.raises(TavusRejectedError):
        await tavus.delete_replica(replica_id, hard=True)

    assert caught.value.reason == "Invalid replica_id"
    assert caught.value.may_have_taken_effect is False
    assert recorder.requests == []
