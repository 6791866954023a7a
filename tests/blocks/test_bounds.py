"""blocks.fit / escape_within: outside text bounded after escaping, never cut mid-escape."""

from __future__ import annotations

import pytest

from blocks import ELLIPSIS, escape_within, fit


def test_text_within_the_limit_is_unchanged() -> None:
    assert fit("hello", 5) == "hello"


def test_long_text_keeps_its_start_and_says_where_the_rest_is() -> None:
    cut = fit("a" * 50, 20, rest=" (more)")
    assert cut == "a" * 12 + ELLIPSIS + " (more)"
    assert len(cut) == 20


@pytest.mark.parametrize("limit", range(3, 30))
def test_escapes_are_never_cut_in_half(limit: int) -> None:
    cut = escape_within("<&>" * 20, limit)
    assert len(cut) <= limit
    body = cut.removesuffix(ELLIPSIS)
    assert body.replace("&lt;", "").replace("&amp;", "").replace("&gt;", "") == ""


def test_mentions_and_links_are_never_cut_in_half() -> None:
    assert fit("hi <@U12345678> there", 10) == "hi" + ELLIPSIS


def test_escaping_counts_against_the_limit() -> None:
    # 1,000 "<" become 4,000 characters once escaped.
    assert len(escape_within("<" * 1000, 3000)) <= 3000
