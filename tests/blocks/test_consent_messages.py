"""blocks.consent: the approval DM, what it becomes once answered, and the admins' notice;
outside text (names, intended use, links) bounded and escaped."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from blocks import Message
from blocks.consent import (
    APPROVE,
    DECLINE,
    NOTICE_LIMIT,
    REVOKE,
    consent_declined,
    consent_given,
    consent_request,
    deletion_underway,
    nothing_to_answer,
    person_left_notice,
    role_of,
)
from blocks.replica_actions import DELETE
from domain.consent import IMAGE_RIGHTS_STATEMENT, consent_sentence
from domain.record import ReplicaRecord
from domain.request import Mode, ReplicaRequest, SlackOrigin
from domain.states import State
from domain.subject import Subject, SubjectKind

OF_SAM = ReplicaRequest(
    replica_name="Sam",
    mode=Mode.VIDEO,
    train_video_url="https://media.example/sam.mp4",
    subject=Subject(SubjectKind.MEMBER, "U2", "Sam Roe"),
    intended_use="Onboarding",
    statement=consent_sentence("Sam Roe"),
)


def record(request: ReplicaRequest = OF_SAM, **changes: object) -> ReplicaRecord:
    base = ReplicaRecord(
        id=12,
        state=State.AWAITING_CONSENT,
        request=request,
        origin=SlackOrigin(requester_id="U1", channel_id="C1"),
        created_at="2026-12-01T00:00:00.000+00:00",
        approvers=request.approvers("U1"),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def dumped(message: Message) -> str:
    return json.dumps(message.as_kwargs(), ensure_ascii=False)


def action_ids(message: Message) -> list[str]:
    found: list[str] = []
    for block in message.as_kwargs()["blocks"]:
        for element in [*(block.get("elements") or []), block.get("accessory") or {}]:
            if element.get("type") == "button":
                found.append(element["action_id"])
    return found


def test_the_request_dm_says_who_asks_what_for_from_what_and_the_exact_statement() -> None:
    message = consent_request(record(), "U2", expires_in_days=7)
    text = dumped(message)
    for part in ("<@U1> asks", "*you*", "Sam", "Onboarding", "https://media.example/sam.mp4"):
        assert part in text
    assert consent_sentence("Sam Roe") in text
    assert "within 7 days" in text
    assert action_ids(message) == [APPROVE, DECLINE]


def test_the_owner_of_the_footage_is_asked_as_such() -> None:
    shared = replace(
        OF_SAM,
        train_video_url=None,
        slack_file_id="F1",
        slack_file_name="sam.mp4",
        slack_file_owner="U3",
        slack_file_permalink="https://acme.slack.com/files/U3/F1/sam.mp4",
    )
    assert role_of(record(shared), "U3") == "file_owner"
    text = dumped(consent_request(record(shared), "U3", expires_in_days=7))
    assert "AI replica of <@U2> from a video *you shared*" in text
    assert "<https://acme.slack.com/files/U3/F1/sam.mp4|sam.mp4>" in text


def test_a_photo_shows_the_image_rights_statement() -> None:
    photo = replace(
        OF_SAM,
        mode=Mode.IMAGE,
        train_video_url=None,
        train_image_url="https://media.example/sam.png",
        statement=IMAGE_RIGHTS_STATEMENT,
    )
    text = dumped(consent_request(record(photo), "U2", expires_in_days=7))
    assert IMAGE_RIGHTS_STATEMENT in text and "from a photo" in text


def test_outside_text_is_escaped_and_bounded() -> None:
    hostile = replace(
        OF_SAM,
        replica_name="<!channel> " + "&" * 600,
        intended_use="<https://evil.example|click> " + "<" * 3000,
        train_video_url="https://media.example/" + "a" * 5000,
        statement="<@U9> " * 1000,
    )
    for message in (
        consent_request(record(hostile), "U2", expires_in_days=7),
        consent_given(record(hostile), "U2", waiting=[]),
        consent_declined(record(hostile)),
        deletion_underway(record(hostile), revoked=True),
        nothing_to_answer(record(hostile), "it ended."),
    ):
        text = dumped(message)
        assert "<!channel>" not in text and "<https://evil" not in text
        for block in message.as_kwargs()["blocks"]:
            for part in [block.get("text") or {}, *(block.get("elements") or [])]:
                assert len(part.get("text", "")) <= 3000


def test_once_approved_the_dm_offers_revoking_with_a_confirmation() -> None:
    message = consent_given(record(), "U2", waiting=["U3"])
    assert action_ids(message) == [REVOKE]
    text = dumped(message)
    assert "Training starts once <@U3> approves too" in text
    [button] = [
        e
        for b in message.as_kwargs()["blocks"]
        for e in b.get("elements") or []
        if e.get("action_id") == REVOKE
    ]
    assert button["confirm"]["style"] == "danger" and button["value"] == "12"


@pytest.mark.parametrize("count", [1, NOTICE_LIMIT, NOTICE_LIMIT + 7])
def test_the_admins_notice_lists_replicas_within_slacks_block_limit(count: int) -> None:
    records = [record(state=State.SUCCEEDED, id=n, replica_id=f"r{n}") for n in range(count)]
    message = person_left_notice("U2", records)
    blocks = message.as_kwargs()["blocks"]
    assert len(blocks) <= 50
    assert action_ids(message) == [DELETE] * min(count, NOTICE_LIMIT)
    assert ("and 7 more" in dumped(message)) is (count > NOTICE_LIMIT)
    assert "<@U2>'s Slack account was deactivated" in dumped(message)
