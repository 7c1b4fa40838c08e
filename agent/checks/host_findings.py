"""What the host and NIC checks share: findings folded into one result, and counter windows.

A check looks at several things per subject (link state, speed, flapping, PCIe errors) but
reports one result per subject. Each thing it finds wrong is a `Finding`; `verdict` folds them:
the worst status wins (fail > warn > unknown > ok), the action is the strongest one among the
findings of that status (repair > reboot > none), and the message lists every finding, worst
first, so an SRE sees everything at once.

`CounterWindow` turns monotonic kernel counters (carrier_down_count, AER, EDAC, IB counters)
into "how many in the trailing window" (see `increase`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from vcbase.domain import CheckAction, CheckResult, CheckStatus

if TYPE_CHECKING:
    from agent.checks.base import Check, CheckContext

_STATUS_RANK = {CheckStatus.OK: 0, CheckStatus.UNKNOWN: 1, CheckStatus.WARN: 2, CheckStatus.FAIL: 3}
_ACTION_RANK = {CheckAction.NONE: 0, CheckAction.REBOOT: 1, CheckAction.REPAIR: 2}


@dataclass(frozen=True, slots=True)
class Finding:
    status: CheckStatus
    action: CheckAction
    text: str


def fail(action: CheckAction, text: str) -> Finding:
    return Finding(CheckStatus.FAIL, action, text)


def warn(text: str) -> Finding:
    return Finding(CheckStatus.WARN, CheckAction.NONE, text)


def verdict(
    check: Check,
    ctx: CheckContext,
    subject: str,
    findings: Iterable[Finding],
    ok_message: str,
    **observed: Any,
) -> CheckResult:
    """One result for `subject`: ok with `ok_message` when there are no findings."""
    ranked = sorted(
        findings,
        key=lambda f: (_STATUS_RANK[f.status], _ACTION_RANK[f.action]),
        reverse=True,
    )
    if not ranked:
        return check.ok(ctx, subject, ok_message, **observed)
    worst = ranked[0]
    message = f"{subject}: " + "; ".join(f.text for f in ranked)
    return check.result(ctx, subject, worst.status, worst.action, message, **observed)


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
