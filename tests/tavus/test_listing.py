"""tavus.listing: a listing keeps each page's items and reads a replica only when asked."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

import tavus.listing as listing_module
from tavus.listing import ListedReplica, ReplicaListing


@pytest.fixture
def read(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ids of the replicas a listing reads into ListedReplicas, in order."""
    ids: list[str] = []
    real = listing_module.listed_replica

    def counted(replica_id: str, item: dict[str, Any]) -> ListedReplica:
        ids.append(replica_id)
        return real(replica_id, item)

    monkeypatch.setattr(listing_module, "listed_replica", counted)
    return ids


def _item(replica_id: str, **fields: Any) -> dict[str, Any]:
    return {"replica_id": replica_id, "replica_name": f"Replica {replica_id}", **fields}


def test_items_are_found_by_either_spelling_of_the_id() -> None:
    listing = ReplicaListing()
    listing.add(_item("r1", status="training", training_progress=" 42/100 "))
    listing.add({"face_id": "f2", "face_name": "Joe", "status": "completed"})

    assert listing.get("r1") == ListedReplica(
        replica_id="r1",
        replica_name="Replica r1",
        status="training",
        created_at=None,
        training_progress="42/100",
    )
    found = listing.get("f2")
    assert found is not None and (found.replica_name, found.status) == ("Joe", "completed")
    assert listing.ids() == ["r1", "f2"] and len(listing) == 2


@pytest.mark.parametrize(
    "item",
    [
        None,
        "r1",
        ["r1"],
        {"replica_name": "no id"},
        {"replica_id": ""},
        {"replica_id": 7, "face_id": None},
    ],
)
def test_an_item_without_an_id_is_skipped(item: Any) -> None:
    listing = ReplicaListing()
    listing.add(item)

    assert len(listing) == 0 and list(listing) == [] and listing.get("r1") is None


def test_an_unlisted_id_is_none() -> None:
    listing = ReplicaListing()
    listing.add(_item("r1"))

    assert listing.get("r2") is None


def test_an_id_listed_twice_keeps_its_first_place_and_its_last_item() -> None:
    listing = ReplicaListing()
    listing.add(_item("r1", status="training"))
    listing.add(_item("r2", status="training"))
    listing.add(_item("r1", status="completed"))

    assert [(r.replica_id, r.status) for r in listing] == [("r1", "completed"), ("r2", "training")]


def test_fields_are_checked_when_read() -> None:
    listing = ReplicaListing()
    listing.add(
        _item(
            "r1",
            created_at="2024-01-24T07:14:03.327Z",
            thumbnail_video_url="javascript:alert(1)",
            finetune_status=7,
            error_message="",
        )
    )

    replica = listing.get("r1")

    assert replica is not None
    assert replica.created_at == datetime(2024, 1, 24, 7, 14, 3, 327000, tzinfo=UTC)
    assert (replica.thumbnail_video_url, replica.finetune_status, replica.error_message) == (
        None,
        None,
        None,
    )


def test_nothing_is_read_until_asked_for(read: list[str]) -> None:
    listing = ReplicaListing()
    for number in range(100):
        listing.add(_item(f"r{number}"))

    assert read == []
    assert listing.get("r7") is not None
    assert read == ["r7"]


def test_a_listing_of_replicas_already_read() -> None:
    replicas = [
        ListedReplica(replica_id="r1", replica_name="Jane", status="training", created_at=None),
        ListedReplica(replica_id="r2", replica_name="Joe", status="completed", created_at=None),
    ]

    listing = ReplicaListing.of(replicas)

    assert list(listing) == replicas
    assert listing.get("r2") is replicas[1]
    assert listing.ids() == ["r1", "r2"]


def test_named_reads_only_the_replicas_with_those_names(read: list[str]) -> None:
    listing = ReplicaListing()
    listing.add({"replica_id": "r1", "replica_name": "Jane"})
    listing.add({"face_id": "f2", "face_name": "Joe"})
    listing.add({"replica_id": "r3", "replica_name": "jane"})  # another name: case counts
    listing.add({"replica_id": "r4", "replica_name": "Jane"})

    named = listing.named({"Jane", "Joe"})

    assert [r.replica_id for r in named] == ["r1", "f2", "r4"]
    assert read == ["r1", "f2", "r4"]


def test_named_in_a_listing_of_replicas_already_read() -> None:
    jane = ListedReplica(replica_id="r1", replica_name="Jane", status="training", created_at=None)
    joe = ListedReplica(replica_id="r2", replica_name="Joe", status="training", created_at=None)

    assert ReplicaListing.of([jane, joe]).named({"Joe"}) == [joe]
