from __future__ import annotations

from typing import Any

from blocks.upload_prompt import (
    CREATE_FROM_UPLOAD,
    DISMISS_PROMPT,
    PROMPTS_OFF,
    PROMPTS_OFF_DONE,
    prompts_off_done,
    upload_prompt,
)
from domain.slack_files import SlackFile

VIDEO = SlackFile(id="F1", name="intro.mp4", mimetype="video/mp4", size=10)
PHOTO = SlackFile(id="F2", name="face.png", mimetype="image/png", size=10)
GIF = SlackFile(id="F3", name="wave.gif", mimetype="image/gif", size=10)


def buttons(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for b in blocks if b["type"] == "actions" for e in b["elements"]]


def test_one_file_names_it_on_the_button() -> None:
    message = upload_prompt([VIDEO], "C1:1.2", can_relay=True).as_kwargs()
    create, dismiss, off = buttons(message["blocks"])
    assert create["text"]["text"] == "Create a replica from intro.mp4"
    assert create["action_id"] == CREATE_FROM_UPLOAD and create["value"] == "C1:1.2"
    assert dismiss["action_id"] == DISMISS_PROMPT
    assert (off["action_id"], off["text"]["text"]) == (PROMPTS_OFF, "Don't ask me again")
    assert message["text"]


def test_several_files_offer_a_choice() -> None:
    message = upload_prompt([VIDEO, PHOTO], "C1:1.2", can_relay=True).as_kwargs()
    assert buttons(message["blocks"])[0]["text"]["text"] == (
        "Create a replica from one of these 2 files"
    )


def test_a_long_name_fits_slacks_button_limit() -> None:
    long = SlackFile(id="F1", name="x" * 200 + ".mp4", mimetype="video/mp4", size=1)
    text = buttons(upload_prompt([long], "k", can_relay=True).as_kwargs()["blocks"])[0]["text"]
    assert len(text["text"]) <= 75


def test_refused_files_say_why_and_offer_nothing() -> None:
    message = upload_prompt([GIF], "C1:1.2", can_relay=True).as_kwargs()
    assert "JPG or PNG" in message["text"]
    assert [b["action_id"] for b in buttons(message["blocks"])] == [DISMISS_PROMPT, PROMPTS_OFF]


def test_mixed_files_offer_the_usable_one_and_explain_the_other() -> None:
    message = upload_prompt([GIF, VIDEO], "C1:1.2", can_relay=True).as_kwargs()
    assert buttons(message["blocks"])[0]["text"]["text"] == "Create a replica from intro.mp4"
    assert "wave.gif" in message["text"]


def test_without_a_public_url_it_explains_and_offers_a_link() -> None:
    message = upload_prompt([VIDEO], "C1:1.2", can_relay=False).as_kwargs()
    assert "public URL" in message["text"] and "PUBLIC_URL" not in message["text"]
    assert buttons(message["blocks"])[0]["text"]["text"] == "Create a replica from a link"


def test_without_a_public_url_it_names_whom_to_ask_not_how() -> None:
    text = upload_prompt([VIDEO], "C1:1.2", can_relay=False).as_kwargs()["text"]
    assert "whoever runs the bot" in text and "README" not in text


def test_opting_out_says_how_to_undo_it_and_what_still_works() -> None:
    message = prompts_off_done().as_kwargs()
    assert message["text"] == PROMPTS_OFF_DONE
    assert "/replica prompts on" in PROMPTS_OFF_DONE
    assert "“Create replica” shortcut" in PROMPTS_OFF_DONE and "any message" in PROMPTS_OFF_DONE
    assert buttons(message["blocks"]) == []
