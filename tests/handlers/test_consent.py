"""Consent end to end: the real bot between the fake Slack and Tavus. A request whose subject is
someone else in the workspace (or made from a file someone else shared) waits for their
approval in a DM; Approve sends it, Decline and expiry end it, only the people asked can
answer; consent can be revoked (Tavus DELETE with hard=true); a deactivated account's
replicas are listed for admins with Delete buttons. Requests come in through the workflow's
own door (`accept`, as the form's submission calls it); the form is tested in
test_replica_form.py."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from typing import Any

from blocks.consent import APPROVE, DECLINE, REVOKE
from blocks.replica_actions import DELETE
from domain.consent import ConsentEventKind, consent_sentence
from domain.request import Mode, ReplicaRequest, SlackOrigin
from domain.states import State
from domain.subject import Subject, SubjectKind
from storage import consent
from storage import replicas as store
from tests.conftest import Bot, BotFactory, eventually
from tests.fakes.fake_slack import Posted
from tests.handlers.test_manage import open_dialog

Kind = ConsentEventKind
ORIGIN = SlackOrigin(requester_id="U1", channel_id="C1", team_id="T1")
OF_SAM = ReplicaRequest(
    replica_name="Sam – onboarding",
    mode=Mode.VIDEO,
    train_video_url="https://media.example/sam.mp4",
    subject=Subject(SubjectKind.MEMBER, "U2", "Sam Roe"),
    intended_use="Onboarding videos for new hires",
    statement=consent_sentence("Sam Roe"),
)
VIEWS = itertools.count(1)


async def ask(bot: Bot, request: ReplicaRequest = OF_SAM) -> int:
    """A submitted form, as handlers/replica_modal.py hands it to the workflow."""
    workflow = bot.services.workflow
    accepted = await workflow.accept(f"V{next(VIEWS)}", request, ORIGIN)
    assert accepted is not None
    workflow.start_submission(accepted)
    return accepted.request_id


def dms_to(bot: Bot, user: str) -> list[Posted]:
    return bot.slack.messages_in(f"D{user}")


def buttons(message: Posted | dict[str, Any]) -> dict[str, str]:
    """action_id -> value of every button in a message's blocks."""
    blocks = message.blocks if isinstance(message, Posted) else message.get("blocks") or []
    found: dict[str, str] = {}
    for block in blocks:
        for element in [*(block.get("elements") or []), block.get("accessory") or {}]:
            if element.get("type") == "button":
                found[element["action_id"]] = element.get("value", "")
    return found


def text_of(message: Posted | dict[str, Any]) -> str:
    blocks = message.blocks if isinstance(message, Posted) else message.get("blocks") or []
    return json.dumps(blocks, ensure_ascii=False)


async def click(bot: Bot, action_id: str, request_id: int | str, user: str) -> dict[str, Any]:
    """`user` clicks a button of a DM; what the bot answered at the response_url."""
    before = len(bot.slack.responses)
    response = await bot.click(action_id, str(request_id), user=user)
    assert response.status_code == 200
    await eventually(lambda: len(bot.slack.responses) > before)
    await bot.settle()
    return bot.slack.responses[-1]


async def record_of(bot: Bot, request_id: int) -> list[Kind]:
    events = await bot.services.storage.run(consent.events_for, request_id)
    return [event.kind for event in events if event.kind is not Kind.POSTED]


async def request(bot: Bot, request_id: int) -> Any:
    return await bot.services.storage.run(store.get_request, request_id)


def root_text(bot: Bot) -> str:
    [root] = [m for m in bot.slack.messages_in("C1") if m.thread_ts is None]
    return root.text


def thread_replies(bot: Bot) -> list[str]:
    return [m.text for m in bot.slack.messages_in("C1") if m.thread_ts is not None]


# -- asking ------------------------------------------------------------------------------------


async def test_nothing_goes_to_tavus_until_the_person_on_camera_approves(bot: Bot) -> None:
    request_id = await ask(bot)
    await eventually(lambda: dms_to(bot, "U2"))
    await bot.settle()

    assert bot.tavus.creates == []
    assert (await request(bot, request_id)).state is State.AWAITING_CONSENT
    assert "Waiting for <@U2>'s consent" in root_text(bot)
    [dm] = dms_to(bot, "U2")
    shown = text_of(dm)
    for part in (
        "<@U1> asks to make an AI replica of *you*",
        "Sam – onboarding",
        "Onboarding videos for new hires",
        "https://media.example/sam.mp4",
        "I, Sam Roe, am currently speaking",
    ):
        assert part in shown
    assert buttons(dm) == {APPROVE: str(request_id), DECLINE: str(request_id)}


async def test_approve_sends_it_once_and_offers_to_revoke(bot: Bot) -> None:
    request_id = await ask(bot)
    await eventually(lambda: dms_to(bot, "U2"))

    answer = await click(bot, APPROVE, request_id, "U2")
    await eventually(lambda: bot.tavus.creates)
    await eventually(lambda: "Training" in root_text(bot))

    assert answer["replace_original"] is True
    assert "You approved" in text_of(answer)
    assert buttons(answer) == {REVOKE: str(request_id)}
    assert bot.tavus.creates[0]["train_video_url"] == "https://media.example/sam.mp4"
    assert await record_of(bot, request_id) == [
        Kind.SUBMITTED,
        Kind.APPROVED,
        Kind.STATE_CHANGED,  # awaiting_consent -> submitting
        Kind.STATE_CHANGED,  # submitting -> training
    ]

    again = await click(bot, APPROVE, request_id, "U2")  # a second click changes nothing
    assert "You approved" in text_of(again)
    assert len(bot.tavus.creates) == 1


async def test_only_the_subject_can_approve(bot: Bot) -> None:
    request_id = await ask(bot)
    await eventually(lambda: dms_to(bot, "U2"))

    for intruder in ("U3", "U1"):  # someone else, and the requester themselves
        answer = await click(bot, APPROVE, request_id, intruder)
        assert answer["replace_original"] is False
        assert "Only the people asked can answer this: <@U2>" in answer["text"]
    await bot.settle()

    assert bot.tavus.creates == []
    assert await record_of(bot, request_id) == [Kind.SUBMITTED]


async def test_decline_creates_nothing_and_tells_the_requester(bot: Bot) -> None:
    request_id = await ask(bot)
    await eventually(lambda: dms_to(bot, "U2"))

    answer = await click(bot, DECLINE, request_id, "U2")
    await eventually(lambda: thread_replies(bot))

    assert "You declined" in text_of(answer)
    assert bot.tavus.creates == []
    assert "Not created" in root_text(bot)
    [reply] = thread_replies(bot)
    assert reply.startswith("<@U1>") and "The person on camera declined" in reply
    assert await record_of(bot, request_id) == [Kind.SUBMITTED, Kind.DECLINED, Kind.STATE_CHANGED]

    late = await click(bot, APPROVE, request_id, "U2")  # changing their mind afterwards
    assert "You declined" in text_of(late)
    assert bot.tavus.creates == []


async def test_an_unanswered_request_expires_and_the_requester_is_told(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot(consent_timeout_days=3)
    request_id = await ask(bot)
    await eventually(lambda: dms_to(bot, "U2"))
    consent_flow = bot.services.workflow.consent

    await consent_flow.expire_overdue()  # not overdue yet
    assert (await request(bot, request_id)).state is State.AWAITING_CONSENT

    def age(db: Any) -> None:
        db.execute(
            "UPDATE replica_requests SET created_at = '2020-01-01T00:00:00.000+00:00' WHERE id = ?",
            [request_id],
        )

    await bot.services.storage.run(age)
    await bot.services.reconciler.round()  # the poller expires what is overdue
    await eventually(lambda: thread_replies(bot))

    [reply] = thread_replies(bot)
    assert "The person asked did not answer within 3 days" in reply
    assert (await request(bot, request_id)).state is State.NOT_CREATED
    assert Kind.EXPIRED in await record_of(bot, request_id)
    answer = await click(bot, APPROVE, request_id, "U2")
    assert "this request has ended" in text_of(answer)
    assert bot.tavus.creates == []


async def test_a_button_naming_no_request_is_answered_plainly(bot: Bot) -> None:
    for value in ("999", "not-a-number"):
        answer = await click(bot, APPROVE, value, "U2")
        assert answer["text"].startswith("I can't find that replica request")


# -- several people, a shared file, restarts -------------------------------------------------


async def test_the_owner_of_a_shared_file_and_the_subject_both_approve(bot: Bot) -> None:
    hosted = bot.slack.add_file("sam.mp4", "video/mp4", b"\x00" * 2048)
    shared = replace(
        OF_SAM,
        train_video_url=None,
        slack_file_id=hosted["id"],
        slack_file_name="sam.mp4",
        slack_file_owner="U3",
        slack_file_permalink="https://acme.slack.com/files/U3/F1/sam.mp4",
    )
    request_id = await ask(bot, shared)
    await eventually(lambda: dms_to(bot, "U2") and dms_to(bot, "U3"))
    await bot.settle()
    assert "Waiting for consent from <@U2> and <@U3>" in root_text(bot)
    [owner_dm] = dms_to(bot, "U3")
    assert "from a video *you shared*" in text_of(owner_dm)
    assert "https://acme.slack.com/files/U3/F1/sam.mp4" in text_of(owner_dm)

    answer = await click(bot, APPROVE, request_id, "U3")
    await eventually(lambda: "Waiting for <@U2>'s consent" in root_text(bot))
    assert "Training starts once <@U2> approves too" in text_of(answer)
    assert bot.tavus.creates == []

    await click(bot, APPROVE, request_id, "U2")
    await eventually(lambda: bot.tavus.creates)
    assert bot.tavus.creates[0]["train_video_url"].startswith("https://")


async def test_a_request_of_my_own_on_someone_elses_file_asks_them(bot: Bot) -> None:
    hosted = bot.slack.add_file("jane.mp4", "video/mp4", b"\x00" * 2048)
    mine = replace(
        OF_SAM,
        subject=Subject(SubjectKind.ME, "U1", "Jane Doe"),
        train_video_url=None,
        slack_file_id=hosted["id"],
        slack_file_name="jane.mp4",
        slack_file_owner="U3",
    )
    request_id = await ask(bot, mine)
    await eventually(lambda: dms_to(bot, "U3"))
    assert dms_to(bot, "U2") == []
    assert bot.tavus.creates == []
    await click(bot, APPROVE, request_id, "U3")
    await eventually(lambda: bot.tavus.creates)


async def test_a_request_waiting_for_consent_survives_a_restart(bot: Bot) -> None:
    request_id = await ask(bot)
    await eventually(lambda: dms_to(bot, "U2"))
    await bot.restart()
    await bot.services.reconciler.round()  # the poller leaves it alone
    assert bot.tavus.creates == []

    await click(bot, APPROVE, request_id, "U2")
    await eventually(lambda: bot.tavus.creates)
    token = bot.callback_token()
    assert token  # a fresh callback token was made for the create
    assert len(dms_to(bot, "U2")) == 1  # asked once, whatever the restarts


# -- revoking and deleting ---------------------------------------------------------------------


async def approved_and_trained(bot: Bot) -> int:
    request_id = await ask(bot)
    await eventually(lambda: dms_to(bot, "U2"))
    await click(bot, APPROVE, request_id, "U2")
    await eventually(lambda: "Training" in root_text(bot))
    return request_id


async def test_revoking_deletes_the_replica_at_tavus_with_its_footage(bot: Bot) -> None:
    request_id = await approved_and_trained(bot)

    answer = await click(bot, REVOKE, request_id, "U2")
    await eventually(lambda: bot.tavus.deletes)
    await eventually(lambda: "Deleted" in root_text(bot))
    await eventually(lambda: any("withdrew their consent" in t for t in thread_replies(bot)))

    assert "You withdrew your consent" in text_of(answer)
    assert bot.tavus.deletes == [("r0001", True)]
    assert "r0001" not in bot.tavus.replicas
    events = await bot.services.storage.run(consent.events_for, request_id)
    [revoked] = [e for e in events if e.kind is Kind.REVOKED]
    [deleted] = [e for e in events if e.kind is Kind.DELETED]
    assert (revoked.actor_id, deleted.details) == ("U2", {"by": "U2", "hard": True})
    assert (await request(bot, request_id)).state is State.DELETED

    again = await click(bot, REVOKE, request_id, "U2")
    assert "has been deleted" in text_of(again)
    assert len(bot.tavus.deletes) == 1


async def test_revoking_before_approval_ends_the_request(bot: Bot) -> None:
    request_id = await ask(bot)
    await eventually(lambda: dms_to(bot, "U2"))
    await click(bot, REVOKE, request_id, "U2")
    await eventually(lambda: thread_replies(bot))
    assert "Consent was withdrawn before it was sent" in thread_replies(bot)[0]
    assert bot.tavus.creates == [] and bot.tavus.deletes == []


async def test_a_deletion_tavus_could_not_do_is_done_by_the_poller(bot: Bot) -> None:
    request_id = await approved_and_trained(bot)
    bot.tavus.fail_deletes = 10  # more than the client's retries

    await click(bot, REVOKE, request_id, "U2")
    await bot.services.supervisor.idle()
    assert (await request(bot, request_id)).state is State.TRAINING
    assert (await request(bot, request_id)).delete_requested_by == "U2"

    bot.tavus.fail_deletes = 0
    await bot.services.reconciler.round()
    assert bot.tavus.deletes == [("r0001", True)]
    assert (await request(bot, request_id)).state is State.DELETED


async def test_only_the_subject_or_an_admin_can_revoke(make_bot: BotFactory) -> None:
    bot = await make_bot(replica_admins=("UADMIN",))
    request_id = await approved_and_trained(bot)

    refused = await click(bot, REVOKE, request_id, "U3")
    assert refused["text"].startswith("Only the person who asked for this replica")
    assert bot.tavus.deletes == []

    await click(bot, REVOKE, request_id, "UADMIN")
    await eventually(lambda: bot.tavus.deletes)
    await eventually(lambda: any("as <@UADMIN> asked" in t for t in thread_replies(bot)))
    assert Kind.DELETE_REQUESTED in await record_of(bot, request_id)


# -- a person leaves ---------------------------------------------------------------------------


def deactivated(user: str, updated: int = 1700000100) -> dict[str, Any]:
    return {
        "type": "user_change",
        "user": {"id": user, "deleted": True, "updated": updated, "real_name": "Sam Roe"},
        "event_ts": "1700000100.000100",
    }


async def test_admins_are_told_of_a_departed_persons_replicas(make_bot: BotFactory) -> None:
    bot = await make_bot(replica_admins=("UADMIN", "UBOSS"))
    request_id = await approved_and_trained(bot)

    response = await bot.event(deactivated("U2"), event_id="Ev9")
    assert response.status_code == 200
    await eventually(lambda: dms_to(bot, "UADMIN") and dms_to(bot, "UBOSS"))
    [notice] = dms_to(bot, "UADMIN")
    assert "<@U2>'s Slack account was deactivated" in text_of(notice)
    assert "Sam – onboarding" in text_of(notice)
    assert buttons(notice) == {DELETE: str(request_id)}

    await bot.event(deactivated("U2"), event_id="Ev9", retry_num=1)  # Slack's retry
    await bot.event({"type": "user_change", "user": {"id": "U2", "deleted": False}})
    await bot.settle()
    assert len(dms_to(bot, "UADMIN")) == 1

    refused = await click(bot, DELETE, request_id, "U9")  # neither admin nor concerned
    assert refused["text"].startswith("Only the person who asked for this replica")
    view_id, dialog = await open_dialog(bot, DELETE, request_id, "UADMIN")
    assert dialog["callback_id"] == "replica_delete_modal"
    response = await bot.submit(view_id, dialog, {"delete_footage": True}, user="UADMIN")
    assert response.status_code == 200 and response.text == ""
    await eventually(lambda: bot.tavus.deletes == [("r0001", True)])
    await eventually(lambda: any("as <@UADMIN> asked" in t for t in thread_replies(bot)))


async def test_nobody_to_tell_without_admins_and_nothing_for_strangers(bot: Bot) -> None:
    await approved_and_trained(bot)
    await bot.event(deactivated("U2"))
    await bot.event(deactivated("U7"), event_id="Ev2")
    await bot.settle()
    assert [
        m for m in bot.slack.messages if m.channel.startswith("DU") and m.channel != "DU2"
    ] == []


async def test_a_late_click_shows_the_reason_escaped(bot: Bot) -> None:
    request_id = await ask(bot)
    await eventually(lambda: dms_to(bot, "U2"))

    def end_with_tavus_words(db: Any) -> None:
        store.consent_refused(db, request_id, "<!channel> " + "&" * 2000)

    await bot.services.storage.run(end_with_tavus_words)
    answer = await click(bot, APPROVE, request_id, "U2")
    shown = text_of(answer)
    assert "this request has ended: &lt;!channel&gt;" in shown and "<!channel>" not in shown
    assert all(len(b["text"]["text"]) <= 3000 for b in answer["blocks"] if "text" in b)
