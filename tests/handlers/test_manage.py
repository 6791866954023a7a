"""Managing a replica from Slack, end to end against the fakes: the live status message
(progress, throttled; preview; buttons), Phoenix-4.5's two stages, Rename, Delete (with or
without the footage), Try again, and who may do each."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from typing import Any

from blocks.replica_actions import DELETE, RENAME, RETRY
from domain.consent import ATTESTATION_ME_VIDEO, consent_sentence
from domain.request import Mode, ReplicaRequest, SlackOrigin
from domain.states import State
from domain.subject import Subject, SubjectKind
from storage import outbox
from storage import replicas as store
from tests.conftest import Bot, BotFactory, eventually
from tests.fakes.fake_slack import Posted

ORIGIN = SlackOrigin(requester_id="U1", channel_id="C1", team_id="T1")
JANE = ReplicaRequest(
    replica_name="Jane – sales",
    mode=Mode.VIDEO,
    train_video_url="https://media.example/jane.mp4",
    subject=Subject(SubjectKind.ME, "U1", "Jane Doe"),
    intended_use="Sales demos",
    statement=consent_sentence("Jane Doe"),
    attestation=ATTESTATION_ME_VIDEO,
)
VIEWS = itertools.count(1)


async def created(bot: Bot, request: ReplicaRequest = JANE) -> int:
    """A request accepted as the form's submission hands it over, and sent to Tavus."""
    workflow = bot.services.workflow
    accepted = await workflow.accept(f"VM{next(VIEWS)}", request, ORIGIN)
    assert accepted is not None
    workflow.start_submission(accepted)
    await eventually(lambda: bot.tavus.creates)
    await bot.settle()
    return accepted.request_id


def root(bot: Bot) -> Posted:
    [message] = [m for m in bot.slack.messages_in("C1") if m.thread_ts is None]
    return message


def shown(message: Posted) -> str:
    return json.dumps(message.blocks, ensure_ascii=False)


def buttons(message: Posted) -> list[str]:
    return [
        element["action_id"]
        for block in message.blocks
        for element in block.get("elements") or []
        if element.get("type") == "button"
    ]


def replies(bot: Bot) -> list[str]:
    return [m.text for m in bot.slack.messages_in("C1") if m.thread_ts is not None]


async def poll(bot: Bot) -> None:
    await bot.services.reconciler.round()
    await bot.settle()


async def open_dialog(
    bot: Bot, action_id: str, request_id: int, user: str
) -> tuple[str, dict[str, Any]]:
    """`user` clicks a replica's button; the dialog it opened."""
    before = len(bot.slack.views)
    response = await bot.click(action_id, str(request_id), user=user)
    assert response.status_code == 200
    await eventually(lambda: len(bot.slack.views) > before)
    return bot.slack.latest_view()


async def refused(bot: Bot, action_id: str, request_id: int, user: str) -> str:
    before = len(bot.slack.responses)
    await bot.click(action_id, str(request_id), user=user)
    await eventually(lambda: len(bot.slack.responses) > before)
    return str(bot.slack.responses[-1]["text"])


# -- the live status message -------------------------------------------------------------------


async def test_progress_shows_at_once_then_at_most_every_progress_update_seconds(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot(progress_update_seconds=3600)
    request_id = await created(bot)
    bot.tavus.set_progress("r0001", "42/100")
    await poll(bot)
    await eventually(lambda: "▰▰▰▰▱▱▱▱▱▱ 42%" in shown(root(bot)))
    assert "so far" in shown(root(bot))

    edits = len(root(bot).updates)
    bot.tavus.set_progress("r0001", "57/100")
    await poll(bot)
    assert len(root(bot).updates) == edits  # held back: the last edit was just now
    record = await bot.services.storage.run(store.get_request, request_id)
    assert record.training_progress == "57/100"  # kept, shown at the next edit
    rows = await bot.services.storage.run(outbox.rows_for, request_id)
    [status] = [row for row in rows if row["kind"] == "status"]
    assert status["state"] == "pending" and status["next_attempt_at"] > status["created_at"]

    # A result is never held back behind a progress update.
    bot.tavus.set_status("r0001", "completed")
    await poll(bot)
    await eventually(lambda: "Ready" in root(bot).text)


async def test_ready_shows_the_preview_and_rename_and_delete(bot: Bot) -> None:
    await created(bot)
    bot.tavus.set_status("r0001", "completed")
    await poll(bot)
    await eventually(lambda: "Ready" in root(bot).text)
    assert "Watch the preview" in shown(root(bot))
    assert bot.tavus.thumbnail_url("r0001") in shown(root(bot))
    assert buttons(root(bot)) == [RENAME, DELETE]


async def test_failed_offers_try_again(bot: Bot) -> None:
    await created(bot)
    bot.tavus.set_status("r0001", "error", "The video is too short")
    await poll(bot)
    await eventually(lambda: "Training failed" in root(bot).text)
    assert buttons(root(bot)) == [RETRY]


# -- Phoenix-4.5 ---------------------------------------------------------------------------------


async def test_phoenix_45_announces_its_preview_then_the_tuned_replica(bot: Bot) -> None:
    await created(bot, replace(JANE, model_name="phoenix-4.5"))
    assert bot.tavus.creates[0]["model_name"] == "phoenix-4.5"
    bot.tavus.set_finetune("r0001", None)  # completed: the watermarked preview is usable
    await poll(bot)
    await eventually(lambda: any("watermarked preview" in r for r in replies(bot)))
    assert "Preview ready" in root(bot).text
    await poll(bot)  # still tuning: nothing more is said
    assert len(replies(bot)) == 1

    bot.tavus.set_finetune("r0001", "completed")
    await poll(bot)
    await eventually(lambda: len(replies(bot)) == 2)
    assert "is tuned and ready" in replies(bot)[1]
    assert "Ready" in root(bot).text and "Tuned, without watermark" in shown(root(bot))


async def test_phoenix_45_tuning_that_failed_leaves_the_preview_usable(bot: Bot) -> None:
    await created(bot, replace(JANE, model_name="phoenix-4.5"))
    bot.tavus.set_finetune("r0001", None)
    await poll(bot)
    bot.tavus.set_finetune("r0001", "errored")
    await poll(bot)
    await eventually(lambda: len(replies(bot)) == 2)
    assert "Tuning *Jane – sales* failed" in replies(bot)[1]
    assert "preview stays usable" in replies(bot)[1]
    record = await bot.services.storage.run(store.get_request, 1)
    assert record.state is State.SUCCEEDED and record.finetune_status == "errored"


# -- rename --------------------------------------------------------------------------------------


async def ready(bot: Bot) -> int:
    request_id = await created(bot)
    bot.tavus.set_status("r0001", "completed")
    await poll(bot)
    await eventually(lambda: "Ready" in root(bot).text)
    return request_id


async def test_rename_renames_at_tavus_and_in_the_message(bot: Bot) -> None:
    request_id = await ready(bot)
    view_id, dialog = await open_dialog(bot, RENAME, request_id, "U1")
    assert dialog["callback_id"] == "replica_rename_modal"

    response = await bot.submit(view_id, dialog, {"new_name": "Jane – support"})

    assert response.status_code == 200 and response.text == ""
    assert bot.tavus.renames == [("r0001", "Jane – support")]
    await eventually(lambda: "Jane – support" in root(bot).text)


async def test_a_rename_tavus_refuses_is_said_in_the_dialog(bot: Bot) -> None:
    request_id = await ready(bot)
    view_id, dialog = await open_dialog(bot, RENAME, request_id, "U1")
    bot.tavus.fail_renames = 10

    response = await bot.submit(view_id, dialog, {"new_name": "Jane – support"})

    answer = response.json()
    assert answer["response_action"] == "errors"
    assert "could not rename it" in answer["errors"]["new_name"]
    assert "Jane – sales" in root(bot).text


async def test_only_the_requester_the_subject_and_admins_may_manage(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot(replica_admins=("UADMIN",))
    request_id = await ready(bot)
    for action in (RENAME, DELETE):
        text = await refused(bot, action, request_id, "U9")
        assert text.startswith("Only the person who asked for this replica")
    assert bot.tavus.renames == [] and bot.tavus.deletes == []

    view_id, dialog = await open_dialog(bot, RENAME, request_id, "UADMIN")
    await bot.submit(view_id, dialog, {"new_name": "By the admin"}, user="UADMIN")
    assert bot.tavus.renames == [("r0001", "By the admin")]


# -- delete --------------------------------------------------------------------------------------


async def test_delete_without_the_footage_is_a_soft_delete(bot: Bot) -> None:
    request_id = await ready(bot)
    view_id, dialog = await open_dialog(bot, DELETE, request_id, "U1")
    assert dialog["callback_id"] == "replica_delete_modal"

    await bot.submit(view_id, dialog, {"delete_footage": False})

    await eventually(lambda: bot.tavus.deletes == [("r0001", False)])
    await eventually(lambda: "Deleted" in root(bot).text)
    assert "Deleted by <@U1>" in shown(root(bot)) and "training footage" not in shown(root(bot))
    assert buttons(root(bot)) == []
    await eventually(lambda: any("was deleted at Tavus" in r for r in replies(bot)))


async def test_delete_with_the_footage_is_hard(bot: Bot) -> None:
    request_id = await ready(bot)
    view_id, dialog = await open_dialog(bot, DELETE, request_id, "U1")
    await bot.submit(view_id, dialog, {"delete_footage": True})
    await eventually(lambda: bot.tavus.deletes == [("r0001", True)])
    await eventually(lambda: "with its training footage" in shown(root(bot)))


# -- try again ---------------------------------------------------------------------------------


def input_value(view: dict[str, Any], block_id: str) -> Any:
    for block in view["blocks"]:
        if block.get("block_id") == block_id:
            element = block["element"]
            return (
                element.get("initial_value")
                or element.get("initial_option", {}).get("value")
                or element.get("initial_options")
            )
    return None


async def test_try_again_opens_the_form_with_everything_but_consent(bot: Bot) -> None:
    request_id = await created(bot)
    bot.tavus.set_status("r0001", "error", "The video is too short")
    await poll(bot)
    await eventually(lambda: RETRY in buttons(root(bot)))

    view_id, form = await open_dialog(bot, RETRY, request_id, "U1")

    assert form["callback_id"] == "replica_modal"
    assert input_value(form, "replica_name") == "Jane – sales"
    assert input_value(form, "train_video_url") == "https://media.example/jane.mp4"
    assert input_value(form, "intended_use") == "Sales demos"
    assert input_value(form, "subject") == "me"
    assert not input_value(form, "consent")  # asked again

    await bot.settle_views()
    view_id, form = bot.slack.latest_view()
    response = await bot.submit(view_id, form, {"consent": True})
    assert response.status_code == 200 and response.text == ""
    await eventually(lambda: len(bot.tavus.creates) == 2)
    again = await bot.services.storage.run(store.get_request, 2)
    assert again.origin.thread_ts == root(bot).ts  # the new request talks in the old thread


async def test_try_again_is_refused_to_others(bot: Bot) -> None:
    request_id = await created(bot)
    bot.tavus.set_status("r0001", "error", "The video is too short")
    await poll(bot)
    text = await refused(bot, RETRY, request_id, "U9")
    assert text.startswith("Only the person who asked for this replica")
