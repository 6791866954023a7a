from __future__ import annotations

import pytest

from replicas.reconciler import MAX_BACKOFF_SECONDS, next_delay


@pytest.mark.parametrize("failures", [0, 1, 3, 20])
def test_next_delay_jitters_and_backs_off(failures: int) -> None:
    delays = [next_delay(300, failures) for _ in range(200)]
    base = min(300 * 2**failures, MAX_BACKOFF_SECONDS)
    assert all(base * 0.9 <= d <= base * 1.1 for d in delays)
    assert len(set(delays)) > 1  # jitter: bots polling together drift apart


def test_an_interval_longer_than_the_cap_is_kept() -> None:
    assert next_delay(7200, 3) >= 7200 * 0.9


def test_weeks_of_failed_rounds_never_overflow_the_delay() -> None:
    # 2 ** 1100 as a float overflows: the poller would end instead of backing off.
    assert next_delay(300, 1100) <= MAX_BACKOFF_SECONDS * 1.1
