from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.backoff import backoff_delay


@given(
    attempt=st.integers(min_value=0, max_value=10_000),
    initial=st.floats(min_value=0.01, max_value=5),
    factor=st.floats(min_value=1, max_value=100),
    seed=st.integers(),
)
def test_delay_stays_within_bounds(attempt: int, initial: float, factor: float, seed: int) -> None:
    maximum = initial * factor
    delay = backoff_delay(attempt, initial, maximum, random.Random(seed))
    assert initial / 10 <= delay <= max(maximum, initial / 10)
    assert delay <= max(initial * 2 ** min(attempt, 62), initial / 10)


def test_ceiling_grows_exponentially_then_caps() -> None:
    class Top(random.Random):
        def uniform(self, a: float, b: float) -> float:
            return b

    rng = Top()
    assert [backoff_delay(a, 0.5, 10, rng) for a in range(7)] == [0.5, 1, 2, 4, 8, 10, 10]


def test_jitter_spreads_a_fleet() -> None:
    rng = random.Random(1)
    delays = {round(backoff_delay(5, 0.5, 10, rng), 3) for _ in range(200)}
    assert len(delays) > 150  # 200 agents do not come back in lockstep


def test_negative_attempt_is_a_bug() -> None:
    with pytest.raises(ValueError, match="attempt"):
        backoff_delay(-1, 1, 2)
