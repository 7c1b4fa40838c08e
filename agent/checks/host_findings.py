"""What the host and NIC checks share: findings folded into one result, and counter windows.

`verdict` folds a subject's findings into one result (`agent.checks.findings.fold`), with the
subject's name leading the message.

`CounterWindow` turns monotonic kernel counters (carrier_down_count, AER, EDAC, IB counters)
into "how many in the trailing window" (see `increase`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from agent.checks.findings import Finding, fail, fold, warn
from vcbase.domain import CheckResult

if TYPE_CHECKING:
    from agent.checks.base import Check, CheckContext

__all__ = ["CounterWindow", "Finding", "fail", "verdict", "warn"]


def verdict(
    check: Check,
    ctx: CheckContext,
    subject: str,
    findings: Iterable[Finding],
    ok_message: str,
    **observed: Any,
) -> CheckResult:
    """One result for `subject` (see `agent.checks.findings.fold`), its message led by the
    subject's name."""
    return fold(check, ctx, subject, findings, ok_message, prefix=f"{subject}: ", **observed)


class CounterWindow:
    """Per-key history of a monotonic counter, kept by a long-lived check instance.

    `increase(key, value, now, window_s)` returns how much the counter grew between the newest
    sample at or before `now - window_s` (or the oldest kept, while the history is younger than
    the window) and `value`; None for the first sample of a key, which sets the baseline (the
    check contract: the first run of a delta check is ok). A value below the last one means
    the counter was reset (driver reload, reboot): the history restarts from it, also None.
    Samples older than the window anchor are dropped, so memory stays bounded by the run rate.
    """

    def __init__(self) -> None:
        self._samples: dict[str, deque[tuple[datetime, int]]] = {}

    def increase(self, key: str, value: int, now: datetime, window_s: float) -> int | None:
        samples = self._samples.get(key)
        if samples is None or value < samples[-1][1]:
            self._samples[key] = deque([(now, value)])
            return None
        samples.append((now, value))
        start = now - timedelta(seconds=window_s)
        while len(samples) >= 2 and samples[1][0] <= start:
            samples.popleft()
        return value - samples[0][1]

    def forget(self, key: str) -> None:
        """Drop a key's history (its subject disappeared; a new device starts a new baseline)."""
        self._samples.pop(key, None)
