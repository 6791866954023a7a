"""handlers.numbers: numbers the bot wrote into buttons and dialogs, read back defensively."""

from __future__ import annotations

from typing import Any

import pytest

from handlers.numbers import clicked_number, number


@pytest.mark.parametrize(
    ("value", "expected"),
    [("12", 12), ("0", 0), (7, 7), ("", None), (None, None), ("-1", None), ("1.5", None),
     ("١٢", None), ("12a", None), ("9" * 19, None)],
)  # fmt: skip
def test_number(value: Any, expected: int | None) -> None:
    assert number(value) == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"actions": [{"value": "3"}]}, 3),
        ({"actions": []}, None),
        ({"actions": "nonsense"}, None),
        ({"actions": [None]}, None),
        ({}, None),
    ],
)
def test_clicked_number(body: dict[str, Any], expected: int | None) -> None:
    assert clicked_number(body) == expected
