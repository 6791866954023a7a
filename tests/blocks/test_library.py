"""blocks.library: the replica list App Home and `/replica list`/`status` share. Outside text
bounded, Slack's block limits kept (Home 100, a message 50), the admins' pager."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from slack_sdk.models.blocks import Block

from blocks import TEXT_LIMIT
from blocks.library import (
    HOME_PAGE,
    MINE_EMPTY,
    NEW_REPLICA,
    PAGE_SIZE,
    Page,
    PageMark,
    counted_page,
    home_view,
    list_message,
    replica_item,
    replica_list,
)
from blocks.replica_actions import DELETE, RENAME, RETRY
from domain.record import ReplicaRecord
from domain.request import Mode, ReplicaRequest, SlackOrigin
from domain.states import State
from domain.subject import Subject, SubjectKind

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
VIDEO = ReplicaRequest(
    replica_name="Jane – sales",
    mode=Mode.VIDEO,
    train_video_url="https://media.example/jane.mp4",
    subject=Subject(SubjectKind.ME, "U1", "Jane Doe"),
)
ORIGIN = SlackOrigin(requester_id="U1", channel_id="C1", team_id="T1")
HOME_BLOCKS = 100
MESSAGE_BLOCKS = 50


def record(number: int = 1, state: State = State.SUCCEEDED, **changes: Any) -> ReplicaRecord:
    base = ReplicaRecord(
        id=number,
        state=state,
        request=replace(VIDEO, replica_name=f"Replica {number}"),
        origin=ORIGIN,
        created_at="2026-03-01T09:30:00.000+00:00",
        replica_id=f"r{number:04d}",
        submitted_at=(NOW - timedelta(hours=1, minutes=5)).isoformat(),
        thumbnail_video_url="https://cdn.tavus.example/preview.mp4",
    )
    return replace(base, **changes)


def records(count: int, start: int = 0, **changes: Any) -> list[ReplicaRecord]:
    return [record(number, **changes) for number in range(start + 1, start + count + 1)]


def texts(blocks: list[dict[str, Any]]) -> list[str]:
    """Every text in the blocks (section texts, context elements, headers, buttons)."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") in ("mrkdwn", "plain_text") and isinstance(node.get("text"), str):
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(blocks)
    return found


def as_dicts(blocks: list[Block]) -> list[dict[str, Any]]:
    return [block.to_dict() for block in blocks]  # slack_sdk validates its limits here


def action_ids(blocks: list[dict[str, Any]]) -> list[str]:
    return [
        element["action_id"]
        for block in blocks
        if block["type"] == "actions"
        for element in block["elements"]
    ]


# -- one replica ---------------------------------------------------------------------------------


def test_an_item_shows_name_status_details_preview_and_buttons() -> None:
    blocks = as_dicts(replica_item(record(7), NOW))

    text = "\n".join(texts(blocks))
    assert "*Replica 7* – Ready" in text
    assert "Requested by <@U1>" in text and "From a video" in text
    assert "<!date^" in text  # created, in the reader's own time zone
    assert "Watch the preview" in text
    assert action_ids(blocks) == [RENAME, DELETE]
    assert {b["elements"][0]["value"] for b in blocks if b["type"] == "actions"} == {"7"}


def test_training_shows_progress_and_time_so_far() -> None:
    blocks = as_dicts(replica_item(record(state=State.TRAINING, training_progress="42/100"), NOW))
    text = "\n".join(texts(blocks))
    assert "▰▰▰▰▱▱▱▱▱▱ 42%" in text and "1 h 05 min so far" in text
    assert "Watch the preview" not in text


def test_a_failed_one_offers_try_again_and_one_of_someone_else_names_them() -> None:
    of_sam = replace(VIDEO, subject=Subject(SubjectKind.MEMBER, "U2", "Sam Roe"))
    blocks = as_dicts(replica_item(record(state=State.FAILED, request=of_sam), NOW))
    assert action_ids(blocks) == [RETRY]
    assert "on camera: <@U2>" in "\n".join(texts(blocks))


def test_outside_text_is_escaped_and_bounded() -> None:
    hostile = "<!channel> & <@U999>" + "<" * 5000
    long_model = "m" * 5000
    item = record(request=replace(VIDEO, replica_name=hostile, model_name=long_model))

    blocks = as_dicts(replica_item(item, NOW))

    for text in texts(blocks):
        assert len(text) <= TEXT_LIMIT
    shown = "\n".join(texts(blocks))
    assert "<!channel>" not in shown and "<@U999>" not in shown
    assert "&lt;!channel&gt; &amp; &lt;@U999&gt;" in shown


def test_a_preview_link_that_is_not_a_link_is_left_out() -> None:
    item = record(thumbnail_video_url="javascript:alert(1)")
    assert "Watch the preview" not in "\n".join(texts(as_dicts(replica_item(item, NOW))))


# -- App Home ------------------------------------------------------------------------------------


def test_home_has_a_new_replica_button_and_my_replicas() -> None:
    view = home_view(Page(records(2), 0, 2), None, NOW).to_dict()

    assert view["type"] == "home"
    assert action_ids(view["blocks"])[0] == NEW_REPLICA
    text = "\n".join(texts(view["blocks"]))
    assert "My replicas" in text and "Replica 1" in text and "Replica 2" in text
    assert "Everyone's" not in text and HOME_PAGE not in action_ids(view["blocks"])


def test_an_empty_home_says_how_to_start() -> None:
    view = home_view(Page([], 0, 0), None, NOW).to_dict()
    assert MINE_EMPTY in texts(view["blocks"])


def newest_first(count: int, total: int, offset: int) -> list[ReplicaRecord]:
    """The page at `offset` of `total` requests with ids 1..total, newest first."""
    return [record(number) for number in range(total - offset, total - offset - count, -1)]


@pytest.mark.parametrize(
    ("offset", "previous", "pager"),
    [
        (0, None, {"Next": "10:16"}),
        (10, PageMark(), {"Previous": "0", "Next": "20:6"}),
        (20, PageMark(10, 16), {"Previous": "10:16"}),
    ],
)
def test_the_admins_pager(offset: int, previous: PageMark | None, pager: dict[str, str]) -> None:
    # Next starts where this page ends (older than its last id); Previous where it is told.
    total = 25
    page = newest_first(min(PAGE_SIZE, total - offset), total, offset)
    everyone = Page(page, offset, total, previous=previous)
    view = home_view(Page(records(1), 0, 1), everyone, NOW).to_dict()

    [block] = [b for b in view["blocks"] if b.get("block_id") == "home_pager"]
    assert {e["text"]["text"]: e["value"] for e in block["elements"]} == pager
    assert all(e["action_id"] == HOME_PAGE for e in block["elements"])
    shown = "\n".join(texts(view["blocks"]))
    assert f"{offset + 1}–{offset + len(page)} of {total}" in shown


def test_a_list_counted_only_so_far_says_more_than() -> None:
    # A count stopped past its cap: "more than", and there is a next page.
    page = counted_page(newest_first(PAGE_SIZE, 5000, 0), 1001, cap=1000)
    assert page.more_than and page.total == 1000 and page.has_more
    view = home_view(Page(records(1), 0, 1), page, NOW).to_dict()

    shown = "\n".join(texts(view["blocks"]))
    assert f"1–{PAGE_SIZE} of more than 1,000" in shown
    [block] = [b for b in view["blocks"] if b.get("block_id") == "home_pager"]
    assert {e["text"]["text"]: e["value"] for e in block["elements"]} == {"Next": "10:4991"}


def test_a_counted_page_further_down_adds_its_offset() -> None:
    page = counted_page(newest_first(5, 25, 20), 5, cap=1000, offset=20)
    assert (page.total, page.more_than, page.has_more, page.next) == (25, False, False, None)
    deep = counted_page(newest_first(PAGE_SIZE, 5000, 2000), 1001, cap=1000, offset=2000)
    assert (deep.total, deep.more_than) == (3000, True)
    assert "2,001–2,010 of more than 3,000" in "\n".join(
        texts([b.to_dict() for b in replica_list(deep, NOW, empty="")])
    )


def test_page_marks_as_button_values() -> None:
    assert PageMark().value == "0"
    assert PageMark(30, 1234).value == "30:1234"


def test_one_page_of_everyones_has_no_pager() -> None:
    view = home_view(Page([], 0, 0), Page(records(3), 0, 3), NOW).to_dict()
    assert not [b for b in view["blocks"] if b.get("block_id") == "home_pager"]
    assert "Everyone's replicas (admin)" in "\n".join(texts(view["blocks"]))


def test_a_full_home_stays_within_100_blocks() -> None:
    # Every item at its largest (three blocks: text, details, buttons), both lists full,
    # both pagers: the most a Home can hold.
    mine = Page(records(PAGE_SIZE), 0, 500)
    everyone = Page(records(PAGE_SIZE, start=PAGE_SIZE), PAGE_SIZE, 5000)

    view = home_view(mine, everyone, NOW).to_dict()  # slack_sdk checks its limits too

    assert len(view["blocks"]) <= HOME_BLOCKS
    assert all(len(text) <= TEXT_LIMIT for text in texts(view["blocks"]))
    assert len(json.dumps(view)) < 250_000


# -- /replica list and status --------------------------------------------------------------------


def test_a_full_list_message_stays_within_50_blocks() -> None:
    message = list_message(Page(records(PAGE_SIZE), 0, 500), NOW, title="Your replicas", empty="")

    kwargs = message.as_kwargs()
    assert len(kwargs["blocks"]) <= MESSAGE_BLOCKS
    assert kwargs["text"] == "Your replicas"
    shown = "\n".join(texts(kwargs["blocks"]))
    assert f"1–{PAGE_SIZE} of 500" in shown and "/replica status <name>" in shown


def test_a_short_list_message_has_no_pointer_to_home() -> None:
    message = list_message(Page(records(2), 0, 2), NOW, title="Your replicas", empty="")
    shown = "\n".join(texts(message.as_kwargs()["blocks"]))
    assert "Home" not in shown and " of " not in shown


def test_an_empty_list_message_says_so() -> None:
    message = list_message(Page([], 0, 0), NOW, title="Your replicas", empty="Nothing yet.")
    assert texts(message.as_kwargs()["blocks"]) == ["*Your replicas*", "Nothing yet."]
