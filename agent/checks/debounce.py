"""Debouncing check results: a state flips only after N consecutive results agree.

Pure: `step(tracked, result, fail_after, ok_after)` returns the new tracking state and the result
to report, if the stable state changed. Kubelet's probe worker does the same with its
failure/success thresholds; like it, we log and report only on change.

- "Bad" is any status other than ok (warn, fail, unknown). A bad result becomes the stable state
  after `fail_after` consecutive bad results; an ok one after `ok_after` consecutive ok results.
- While the stable state is bad, a change of status or action (warn -> fail, reboot -> repair)
  is reported at once: the node is already flagged, and the worse verdict must not wait.
- A change of message or observed values alone is not a change (a temperature that moves by a
  degree every minute must not flood the coordinator); the latest values travel with the next
  report and with every full snapshot.
- Until a subject has a stable state (a bad first result below `fail_after`), nothing is reported.
"""

from __future__ import annotations

from dataclasses import dataclass

from vcbase.domain import CheckResult, CheckStatus


@dataclass(frozen=True, slots=True)
class Tracked:
    stable: CheckResult | None  # what was last reported; None before the first report
    latest: CheckResult  # the newest raw result
    bad_streak: int
    ok_streak: int


def _verdict(result: CheckResult) -> tuple[CheckStatus, str]:
    return result.status, result.action


def step(
    tracked: Tracked | None, result: CheckResult, fail_after: int, ok_after: int
) -> tuple[Tracked, CheckResult | None]:
    """Fold one raw result in; return the new state and the result to report (or None)."""
    bad = result.status is not CheckStatus.OK
    prev_bad = tracked.bad_streak if tracked else 0
    prev_ok = tracked.ok_streak if tracked else 0
    bad_streak = prev_bad + 1 if bad else 0
    ok_streak = 0 if bad else prev_ok + 1
    stable = tracked.stable if tracked else None

    report: CheckResult | None = None
    if bad:
        if bad_streak >= fail_after and (
            stable is None
            or stable.status is CheckStatus.OK
            or _verdict(stable) != _verdict(result)
        ):
            report = result
    elif ok_streak >= ok_after and (stable is None or stable.status is not CheckStatus.OK):
        report = result
    new_stable = report if report is not None else stable
    if new_stable is not None and report is None and _verdict(new_stable) == _verdict(result):
        new_stable = result  # same verdict: keep the freshest message and values
    return Tracked(new_stable, result, bad_streak, ok_streak), report
