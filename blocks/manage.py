"""The small dialogs of managing a replica: rename it, delete it (with or without its training
footage), and a note for someone who may not."""

from __future__ import annotations

from slack_sdk.models.blocks import (
    CheckboxesElement,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    SectionBlock,
)
from slack_sdk.models.views import View

from blocks import escape_within
from domain.record import ReplicaRecord
from domain.request import MAX_NAME_LENGTH

RENAME_MODAL = "replica_rename_modal"
DELETE_MODAL = "replica_delete_modal"
NEW_NAME = "new_name"  # block_id and action_id of the rename dialog's input
FOOTAGE = "delete_footage"  # block_id and action_id of the delete dialog's checkbox
NAME_LIMIT = 200

NOT_ALLOWED = (
    "Only the person who asked for this replica, the person on camera and the bot's admins "
    "can {what} it. Nothing was changed."
)
# Deleting is also withdrawing consent: whoever shared the footage may do it too.
NOT_ALLOWED_TO_DELETE = (
    "Only the person who asked for this replica, the person on camera, whoever shared the "
    "footage and the bot's admins can delete it. Nothing was changed."
)


def rename_modal(record: ReplicaRecord) -> View:
    return View(
        type="modal",
        callback_id=RENAME_MODAL,
        title="Rename replica",
        submit="Rename",
        close="Cancel",
        private_metadata=str(record.id),
        blocks=[
            InputBlock(
                block_id=NEW_NAME,
                label="New name",
                element=PlainTextInputElement(
                    action_id=NEW_NAME,
                    initial_value=record.request.replica_name[:MAX_NAME_LENGTH] or None,
                    max_length=MAX_NAME_LENGTH,
                ),
                hint="Tavus renames it too; the replica itself does not change.",
            )
        ],
    )


def delete_modal(record: ReplicaRecord) -> View:
    name = escape_within(record.request.replica_name, NAME_LIMIT)
    footage = Option(
        value="yes",
        text="Also delete the training footage",
        description="Tavus deletes the video or photo it trained on. This cannot be undone.",
    )
    return View(
        type="modal",
        callback_id=DELETE_MODAL,
        title="Delete replica",
        submit="Delete",
        close="Keep it",
        private_metadata=str(record.id),
        blocks=[
            SectionBlock(
                text=MarkdownTextObject(
                    text=f"Delete *{name}* at Tavus? Videos already made with it stay, but it "
                    "can no longer be used. The requester is told in its thread."
                )
            ),
            InputBlock(
                block_id=FOOTAGE,
                label="Training footage",
                optional=True,
                element=CheckboxesElement(action_id=FOOTAGE, options=[footage]),
            ),
        ],
    )


def message_modal(title: str, text: str) -> View:
    """A dialog that only says something (where there is no channel to answer in: App Home)."""
    return View(
        type="modal",
        title=title,
        close="OK",
        blocks=[SectionBlock(text=MarkdownTextObject(text=text))],
    )
