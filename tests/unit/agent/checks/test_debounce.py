"""Debouncing: flips only after N agreeing results; reports only on change."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from agent.checks.debounce import Tracked, step
from vcbase.domain import CheckAction, CheckResult, CheckStatus

OK = (CheckStatus.OK, CheckAction.NONE)
WARN = (CheckStatus.WARN, CheckAction.NONE)
FAIL = (CheckStatus.FAIL, CheckAction.REBOOT)
REPAIR = (CheckStatus.FAIL, CheckAction.REPAIR)


def r(verdict: tuple[CheckStatus, CheckAction], message: str = "m") -> CheckResult:
    return CheckResult("nvidia.throttle", "gpu0", verdict[0], verdict[1], message)


def feed(
    verdicts: list[tuple[CheckStatus, CheckAction]], fail_after: int = 1, ok_after: int = 1
) -> list[CheckResult | None]:
    tracked: Tracked | None = None
    reports = []
    for v in verdicts:
        tracked, report = step(tracked, r(v), fail_after, ok_after)
        reports.append(report)
    return reports


def test_first_ok_is_reported_and_repeats_are_not() -> None:
    reports = feed([OK, OK, OK])
    assert [x is not None for x in reports] == [True, False, False]


def test_bad_flips_only_after_fail_after_consecutive_results() -> None:
    reports = feed([OK, FAIL, FAIL, OK, FAIL, FAIL, FAIL], fail_after=3)
    assert [x is not None for x in reports] == [True, False, False, False, False, False, True]


def test_ok_flips_back_only_after_ok_after() -> None:
    reports = feed([FAIL, OK, FAIL, OK, OK], ok_after=2)
    assert [x.status if x else None for x in reports] == [
        CheckStatus.FAIL,
        None,
        None,
        None,
        CheckStatus.OK,
    ]


def test_a_worse_verdict_while_bad_is_reported_at_once() -> None:
    reports = feed([WARN, WARN, FAIL, REPAIR, REPAIR], fail_after=2)
    assert [(x.status, x.action) if x else None for x in reports] == [
        None,
        WARN,
        FAIL,
        REPAIR,
        None,
    ]


def test_message_changes_alone_are_not_reported_but_kept() -> None:
    tracked, first = step(None, r(WARN, "81 C"), 1, 1)
    tracked, second = step(tracked, r(WARN, "82 C"), 1, 1)
    assert first is not None and second is None
    assert tracked.stable is not None and tracked.stable.message == "82 C"


verdicts = st.sampled_from([OK, WARN, FAIL, REPAIR])


@given(
    seq=st.lists(verdicts, max_size=40), fail_after=st.integers(1, 5), ok_after=st.integers(1, 5)
)
def test_reported_states_follow_the_thresholds(
    seq: list[tuple[CheckStatus, CheckAction]], fail_after: int, ok_after: int
) -> None:
    reports = feed(seq, fail_after, ok_after)
    for i, report in enumerate(reports):
        if report is None:
            continue
        assert (report.status, report.action) == seq[i]  # a report is always the current result
        window = fail_after if report.status is not CheckStatus.OK else ok_after
        recent = seq[max(0, i - window + 1) : i + 1]
        bad = report.status is not CheckStatus.OK
        assert len(recent) == window or i + 1 < window  # enough history behind it
        assert all((v[0] is not CheckStatus.OK) == bad for v in recent)
    # consecutive reports differ in verdict
    made = [(x.status, x.action) for x in reports if x is not None]
    assert all(a != b for a, b in itertools.pairwise(made))
