"""The consent record end to end: the real bot between the fake Slack and Tavus writes each
request's record as it goes (form, relayed bytes, status message, every state change), and
the record outlives a restart. The status message's permalink is looked up beside delivery:
once, retried at the next change when it fails, never holding a message up."""

from __future__ import annotations

import asyncio
import hashlib

from domain.consent import (
    ATTESTATION_ME_PHOTO,
    ATTESTATION_ME_VIDEO,
    IMAGE_RIGHTS_STATEMENT,
    NAME_PLACEHOLDER,
    STATEMENT_VERSION,
    ConsentEvent,
    ConsentEventKind,
    consent_sentence,
)
from domain.states import State
from storage import consent
from storage import replicas as store
from tests.conftest import Bot, eventually
from tests.handlers.test_file_shares import VIDEO_BYTES
from tests.handlers.test_replica_form import IMAGE, VIDEO, switch
from tests.handlers.test_tavus_callback import submitted
from tests.media_relay.test_relay_in_the_bot import submit_shared_video

Kind = ConsentEventKind
READY = {"replica_id": "r0001", "status": "ready"}


async def record_of(bot: Bot, request_id: int = 1) -> list[ConsentEvent]:
    return await bot.services.storage.run(consent.events_for, request_id)


def of_kind(events: list[ConsentEvent], kind: Kind) -> list[ConsentEvent]:
    return [event for event in events if event.kind is kind]


def changes(events: list[ConsentEvent]) -> list[tuple[str, str, str | None]]:
    return [
        (e.details["from"], e.details["to"], e.details["replica_id"])
        for e in of_kind(events, Kind.STATE_CHANGED)
    ]


def permalink_of(channel: str, ts: str) -> str:
    """As the fake Slack (like Slack) makes them."""
    return f"https://acme.slack.com/archives/{channel}/p{ts.replace('.', '')}"


async def finish(bot: Bot, token: str) -> None:
    """Tavus reports the training done; wait until the bot has announced it."""
    bot.tavus.set_status("r0001", "completed")
    response = await bot.tavus_callback(token, READY)
    assert response.status_code == 202
    await eventually(lambda: any("is ready" in m.text for m in bot.slack.messages))


async def test_a_request_s_whole_record_from_form_to_result_survives_a_restart(
    bot: Bot,
) -> None:
    await finish(bot, await submitted(bot))
    await bot.settle()
    events = await record_of(bot)

    assert [e.kind for e in events if e.kind is not Kind.POSTED] == [
        Kind.SUBMITTED,
        Kind.STATE_CHANGED,
        Kind.STATE_CHANGED,
    ]
    [form] = of_kind(events, Kind.SUBMITTED)
    assert form.actor_id == "U1"
    assert form.details == {
        "requester_id": "U1",
        "subject": {"kind": "me", "user_id": "U1", "name": "Jane Doe"},
        "intended_use": VIDEO["intended_use"],
        # The box U1 ticked, word for word, when they submitted.
        "how": {"method": "attestation", "text": ATTESTATION_ME_VIDEO, "by": "U1", "at": form.at},
        # The sentence the form showed, with the name Slack gave for U1.
        "statement": {"text": consent_sentence("Jane Doe"), "version": STATEMENT_VERSION},
        "media": {"url": VIDEO["train_video_url"]},
        "mode": "video",
        "model": "phoenix-4",
        "replica_name": VIDEO["replica_name"],
        "workspace": {"team_id": "T1", "enterprise_id": None},
        "channel_id": "C1",
        "state": "submitting",
    }
    assert changes(events) == [
        ("submitting", "training", "r0001"),
        ("training", "succeeded", "r0001"),
    ]
    root = bot.slack.messages_in("C1")[0]
    [posted] = of_kind(events, Kind.POSTED)
    assert posted.details == {
        "permalink": permalink_of("C1", root.ts),
        "channel_id": "C1",
        "ts": root.ts,
    }
    # Once, though the status message was delivered again at each change.
    assert len(bot.slack.calls_to("chat.getPermalink")) == 1
    assert len(bot.slack.calls_to("chat.update")) >= 1
    # The record agrees with the request.
    request = await bot.services.storage.run(store.get_request, 1)
    assert request.state is State.SUCCEEDED

    await bot.restart()

    assert await record_of(bot) == events
    assert await bot.services.storage.run(consent.events_since, None) == events


async def test_a_name_slack_would_not_give_is_recorded_as_the_placeholder_shown(
    bot: Bot,
) -> None:
    bot.slack.fail_next["users.info"] = ["user_not_found"]
    view_id, view = await bot.open_form()
    assert NAME_PLACEHOLDER in str(bot.slack.latest_view()[1]["blocks"])
    await bot.submit(view_id, view, VIDEO)
    await bot.settle()
    [form] = of_kind(await record_of(bot), Kind.SUBMITTED)
    assert form.details["statement"]["text"] == consent_sentence(None)
    assert form.details["subject"] == {"kind": "me", "user_id": "U1", "name": None}


async def test_a_photo_records_the_image_rights_statement_and_the_photo_attestation(
    bot: Bot,
) -> None:
    await bot.open_form()
    image_view = await switch(bot, "image", {"mode": "video"})
    view_id, _ = bot.slack.latest_view()
    await bot.submit(view_id, image_view, IMAGE)
    await bot.settle()
    [form] = of_kind(await record_of(bot), Kind.SUBMITTED)
    assert form.details["how"]["text"] == ATTESTATION_ME_PHOTO
    assert form.details["statement"] == {
        "text": IMAGE_RIGHTS_STATEMENT,
        "version": STATEMENT_VERSION,
    }
    assert form.details["media"] == {"url": IMAGE["train_image_url"]}


async def test_a_refused_create_is_recorded_with_tavus_s_reason(bot: Bot) -> None:
    bot.tavus.answer_next_create(400, {"error": "Invalid voice_name"})
    view_id, view = await bot.open_form()
    await bot.submit(view_id, view, VIDEO)
    await bot.settle()
    events = await record_of(bot)
    [refused] = of_kind(events, Kind.STATE_CHANGED)
    assert (refused.details["from"], refused.details["to"]) == ("submitting", "not_created")
    assert "Invalid voice_name" in refused.details["reason"]
    assert refused.details["replica_id"] is None


async def test_a_shared_file_s_record_holds_the_sha256_of_the_bytes_relayed(bot: Bot) -> None:
    await submit_shared_video(bot)
    events = await record_of(bot)
    assert [e.kind for e in events if e.kind is not Kind.POSTED] == [
        Kind.SUBMITTED,
        Kind.MEDIA_RELAYED,
        Kind.STATE_CHANGED,
    ]
    [form] = of_kind(events, Kind.SUBMITTED)
    [relayed] = of_kind(events, Kind.MEDIA_RELAYED)
    file_id = form.details["media"]["slack_file_id"]
    assert form.details["media"] == {
        "slack_file_id": file_id,
        "file_name": "jane.mp4",
        "file_owner": "U1",  # the requester's own upload: nobody else approves
    }
    assert form.details["how"]["method"] == "attestation"
    assert relayed.details == {
        "slack_file_id": file_id,
        "file_name": "jane.mp4",
        "size": len(VIDEO_BYTES),
        "sha256": hashlib.sha256(VIDEO_BYTES).hexdigest(),
    }
    # What Tavus was sent is the copy of exactly those bytes; its secret URL is not recorded.
    [create] = bot.tavus.creates
    token = str(create["train_video_url"]).split("/media/")[1].split("/")[0]
    copy = bot.settings.media_dir / token
    assert hashlib.sha256(copy.read_bytes()).hexdigest() == relayed.details["sha256"]
    assert token not in str(events)


async def test_a_failed_permalink_lookup_is_tried_again_at_the_next_change(bot: Bot) -> None:
    bot.slack.fail_next["chat.getPermalink"] = ["internal_error"] * 5
    token = await submitted(bot)
    assert bot.slack.calls_to("chat.getPermalink")  # tried, and failed
    assert of_kind(await record_of(bot), Kind.POSTED) == []
    assert bot.slack.messages_in("C1")  # the status message went out regardless

    del bot.slack.fail_next["chat.getPermalink"]
    await finish(bot, token)
    await bot.settle()

    [posted] = of_kind(await record_of(bot), Kind.POSTED)
    assert posted.details["permalink"] == permalink_of("C1", bot.slack.messages_in("C1")[0].ts)


async def test_a_hanging_permalink_lookup_holds_no_message_up(bot: Bot) -> None:
    hold = bot.slack.hold("chat.getPermalink", then_answer=True)
    view_id, view = await bot.open_form()
    await bot.submit(view_id, view, VIDEO)
    await eventually(lambda: hold.waiting)
    await eventually(lambda: bot.tavus.creates)

    # The result is edited in and replied to while the lookup still hangs.
    await finish(bot, bot.callback_token())
    await eventually(
        lambda: (
            bot.slack.messages_in("C1")[0]
            .blocks[0]["text"]["text"]
            .startswith(":white_check_mark:")
        )
    )
    assert of_kind(await record_of(bot), Kind.POSTED) == []

    hold.release()
    await bot.settle()
    assert len(of_kind(await record_of(bot), Kind.POSTED)) == 1
    # The deliveries meanwhile started no second lookup beside the one in flight.
    assert len(bot.slack.calls_to("chat.getPermalink")) == 1


async def test_a_lookup_cut_off_by_shutdown_neither_delays_it_nor_is_lost(bot: Bot) -> None:
    hold = bot.slack.hold("chat.getPermalink")  # Slack never answers
    token = await asyncio.wait_for(submitted_without_settling(bot), 10)
    await eventually(lambda: hold.waiting)

    await asyncio.wait_for(bot.restart(), 10)
    hold.release()
    assert of_kind(await record_of(bot), Kind.POSTED) == []

    await finish(bot, token)
    await bot.settle()
    assert len(of_kind(await record_of(bot), Kind.POSTED)) == 1


async def submitted_without_settling(bot: Bot) -> str:
    """Submit a video request and return its callback token, without waiting for the outbox
    (whose idle() waits for permalink lookups too)."""
    view_id, view = await bot.open_form()
    await bot.submit(view_id, view, VIDEO)
    await eventually(lambda: bot.tavus.creates)
    return bot.callback_token()
