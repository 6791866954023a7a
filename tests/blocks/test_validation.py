"""slack_sdk's validation, its validators found once per class, still refuses what Slack
would, and runs exactly the validators slack_sdk's own walk finds."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.basic_objects import JsonObject
from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

import blocks  # noqa: F401  (installs the validation)
from blocks import validation


def slack_sdks_own_validators(obj: JsonObject) -> list[str]:
    """What slack_sdk's validate_json walks: dir() of the instance, every callable marked."""
    return [
        name
        for name in dir(obj)
        if not name.startswith("__")
        and callable(method := getattr(obj, name, None))
        and hasattr(method, "validator")
    ]


def test_it_is_installed() -> None:
    assert JsonObject.validate_json is validation.validate_json


@pytest.mark.parametrize(
    "obj",
    [
        ButtonElement(text="Go", action_id="go", value="1"),
        SectionBlock(text="hi", block_id="b"),
        ActionsBlock(elements=[ButtonElement(text="Go", action_id="go")]),
        StaticSelectElement(options=[], action_id="s"),
        PlainTextObject(text="plain"),
        View(type="modal", title="T", blocks=[SectionBlock(text="x")]),
    ],
    ids=lambda obj: type(obj).__name__,
)
def test_the_same_validators_run(obj: JsonObject) -> None:
    assert list(validation._validators(type(obj))) == slack_sdks_own_validators(obj)


def test_what_slack_would_refuse_is_still_refused() -> None:
    with pytest.raises(SlackObjectFormationError):
        ButtonElement(text="x" * 76, action_id="go").to_dict()  # a button's text: 75 at most
    with pytest.raises(SlackObjectFormationError):
        View(type="modal", title="t" * 25, blocks=[]).to_dict()  # a modal's title: 24
    with pytest.raises(SlackObjectFormationError):
        ActionsBlock(
            elements=[ButtonElement(text="x", action_id=str(n)) for n in range(26)]
        ).to_dict()
