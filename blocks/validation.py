"""slack_sdk's Block Kit validation, with the validators of each class found once.

`JsonObject.to_dict()` validates every object it serialises, and finds that object's validators
anew each time by walking `dir()` of the instance and reading every attribute: most of the
CPU of building a status message (bench/README.md), repeated for every nested element. The
validators are methods of the class, so they are looked up once per class here and the same
ones are run, in the same order; what Slack would refuse is still refused before it is sent.
"""

from __future__ import annotations

import functools

from slack_sdk.models.basic_objects import JsonObject


@functools.cache
def _validators(cls: type[JsonObject]) -> tuple[str, ...]:
    """The names of `cls`'s validator methods (marked by slack_sdk's JsonValidator), in the
    order slack_sdk runs them (dir's: sorted)."""
    return tuple(
        name
        for name in dir(cls)
        if not name.startswith("__") and hasattr(getattr(cls, name, None), "validator")
    )


def validate_json(self: JsonObject) -> None:
    """`JsonObject.validate_json`, its validators looked up once per class."""
    for name in _validators(type(self)):
        getattr(self, name)()


def install() -> None:
    """Make every slack_sdk model validate this way (idempotent)."""
    JsonObject.validate_json = validate_json  # type: ignore[method-assign]
