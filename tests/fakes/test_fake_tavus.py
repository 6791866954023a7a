"""The fake Tavus server over real HTTP: renames, Phoenix-4.5 statuses, thumbnails and face_*
field names, read through the real TavusClient where it can be."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from tavus.client import ReplicaState, TavusClient
from tavus.errors import TavusAuthError, TavusRejectedError
from tests.fakes.fake_tavus import API_KEY, FakeTavus


@pytest.fixture
async def fake() -> AsyncIterator[FakeTavus]:
    server = FakeTavus()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def client(fake: FakeTavus) -> AsyncIterator[TavusClient]:
    tavus = TavusClient(fake.url, API_KEY)
    yield tavus
    await tavus.aclose()


@pytest.fixture
async def http(fake: FakeTavus) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=fake.url, headers={"x-api-key": API_KEY}) as raw:
        yield raw


async def create(client: TavusClient, name: str = "Jane", model: str = "phoenix-4.5") -> str:
    body = {"replica_name": name, "model_name": model, "train_video_url": "https://m.test/v.mp4"}
    return (await client.create_replica(body)).replica_id


# -- PATCH /v2/replicas/{id}/name --------------------------------------------------------------


async def test_rename_renames_and_answers_an_empty_200(
    fake: FakeTavus, client: TavusClient, http: httpx.AsyncClient
) -> None:
    replica_id = await create(client)

    response = await http.patch(f"/v2/replicas/{replica_id}/name", json={"replica_name": "Joe"})

    assert response.status_code == 200 and response.content == b""
    assert fake.renames == [(replica_id, "Joe")]
    [listed] = await client.list_replicas()
    assert listed.replica_name == "Joe"


async def test_rename_through_the_client_retries_a_503(
    fake: FakeTavus, client: TavusClient
) -> None:
    replica_id = await create(client)
    fake.fail_renames = 1

    await client.rename_replica(replica_id, "Joe")

    assert fake.fail_renames == 0
    assert fake.renames == [(replica_id, "Joe")]
    assert fake.replicas[replica_id]["replica_name"] == "Joe"


async def test_rename_renames_face_name_too(fake: FakeTavus, http: httpx.AsyncClient) -> None:
    fake.replicas["f1"] = {"face_id": "f1", "face_name": "Jane", "status": "completed"}

    response = await http.patch("/v2/replicas/f1/name", json={"replica_name": "Joe"})

    assert response.status_code == 200
    assert (fake.replicas["f1"]["face_name"], fake.replicas["f1"]["replica_name"]) == (
        "Joe",
        "Joe",
    )


async def test_rename_refusals(
    fake: FakeTavus, client: TavusClient, http: httpx.AsyncClient
) -> None:
    replica_id = await create(client)
    path = f"/v2/replicas/{replica_id}/name"

    unknown = await http.patch("/v2/replicas/nope/name", json={"replica_name": "Joe"})
    blank = await http.patch(path, json={"replica_name": "  "})
    missing = await http.patch(path, json={})
    unauthorised = await http.patch(
        path, json={"replica_name": "Joe"}, headers={"x-api-key": "wrong"}
    )

    assert (unknown.status_code, unknown.json()) == (400, {"error": "Invalid replica_id"})
    assert (blank.status_code, missing.status_code) == (400, 400)
    assert unauthorised.status_code == 401
    assert unauthorised.json() == {"message": "Invalid access token"}
    assert fake.replicas[replica_id]["replica_name"] == "Jane"


async def test_rename_refusals_through_the_client(fake: FakeTavus, client: TavusClient) -> None:
    with pytest.raises(TavusRejectedError) as caught:
        await client.rename_replica("nope", "Joe")
    assert caught.value.reason == "Invalid replica_id"

    wrong_key = TavusClient(fake.url, "wrong")
    try:
        with pytest.raises(TavusAuthError):
            await wrong_key.rename_replica("nope", "Joe")
    finally:
        await wrong_key.aclose()


# -- GET: model, finetune_status, thumbnail, progress ------------------------------------------


async def test_phoenix_45_preview_then_tuned(fake: FakeTavus, client: TavusClient) -> None:
    replica_id = await create(client)

    started = await client.get_replica(replica_id)
    fake.set_progress(replica_id, "42/100")
    training = await client.get_replica(replica_id)
    fake.set_finetune(replica_id, None)
    preview = await client.get_replica(replica_id)
    fake.set_finetune(replica_id, "completed")
    tuned = await client.get_replica(replica_id)

    assert (started.status, started.thumbnail_video_url, started.model_name) == (
        "started",
        None,
        "phoenix-4.5",
    )
    assert (training.status, training.training_progress) == ("training", "42/100")
    assert (preview.status, preview.finetune_status) == ("completed", None)
    assert preview.thumbnail_video_url == fake.thumbnail_url(replica_id)
    assert tuned == ReplicaState(
        replica_id=replica_id,
        status="completed",
        error_message=None,
        training_progress="100/100",
        thumbnail_video_url=f"{fake.url}/thumbnails/{replica_id}.mp4",
        finetune_status="completed",
        model_name="phoenix-4.5",
    )


async def test_the_thumbnail_is_served_once_done(
    fake: FakeTavus, client: TavusClient, http: httpx.AsyncClient
) -> None:
    replica_id = await create(client, model="phoenix-4")
    thumbnail = fake.thumbnail_url(replica_id)

    assert (await http.get(thumbnail)).status_code == 404
    fake.set_status(replica_id, "completed")
    served = await http.get(thumbnail)

    assert (served.status_code, served.headers["content-type"]) == (200, "video/mp4")
    assert (await client.get_replica(replica_id)).finetune_status is None


async def test_set_status_works_as_before(fake: FakeTavus, client: TavusClient) -> None:
    replica_id = await create(client, model="phoenix-4")

    fake.set_status(replica_id, "error", "There was an issue downloading your video file")
    state = await client.get_replica(replica_id)

    assert (state.status, state.error_message, state.training_progress) == (
        "error",
        "There was an issue downloading your video file",
        "42/100",
    )
    assert state.thumbnail_video_url is None


# -- faces_field_names -------------------------------------------------------------------------


async def test_faces_field_names(
    fake: FakeTavus, client: TavusClient, http: httpx.AsyncClient
) -> None:
    fake.faces_field_names = True
    replica_id = await create(client)
    fake.add_replica("rold", "Old", datetime(2024, 1, 24, tzinfo=UTC), model_name="phoenix-4")

    raw_get = (await http.get(f"/v2/replicas/{replica_id}")).json()
    raw_list = (await http.get("/v2/replicas", params={"limit": 10})).json()["data"]
    state = await client.get_replica(replica_id)
    listed = list(await client.list_replicas())

    assert raw_get["face_id"] == replica_id and raw_get["face_name"] == "Jane"
    assert "replica_id" not in raw_get and "replica_name" not in raw_get
    assert all("replica_id" not in item and "face_id" in item for item in raw_list)
    assert state.replica_id == replica_id and state.model_name == "phoenix-4.5"
    assert [(r.replica_id, r.replica_name, r.model_name) for r in listed] == [
        (replica_id, "Jane", "phoenix-4.5"),
        ("rold", "Old", "phoenix-4"),
    ]
    assert listed[1].thumbnail_video_url == fake.thumbnail_url("rold")
    assert fake.replicas["rold"]["replica_id"] == "rold"  # stored as before; only shown renamed
