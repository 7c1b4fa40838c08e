"""Reconnect delays: exponential backoff with full jitter (a pure function of its inputs).

Full jitter spreads 4,000 agents that lost the same coordinator over the whole window instead of
bringing them back in synchronized waves.
"""

from __future__ import annotations

import random


def backoff_delay(
    attempt: int, initial: float, maximum: float, rng: random.Random | None = None
) -> float:
    """Seconds to wait before reconnect attempt `attempt` (0-based): uniform in
    [0, min(maximum, initial * 2**attempt)], and never less than a tenth of `initial`."""
    if attempt < 0:
        raise ValueError("attempt must not be negative")
    ceiling = min(maximum, initial * 2 ** min(attempt, 62))
    draw = (rng or random).uniform(0.0, ceiling)
    return max(draw, initial / 10)
