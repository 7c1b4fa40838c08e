"""The reason-prefix convention and the decisions built on it (coordinator/drivers/reasons)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coordinator.drivers.reasons import (
    Act,
    check_prefix,
    decide_cancel_reboot,
    decide_drain,
    decide_reboot,
    decide_resume,
    is_foreign_hold,
    is_ours,
    our_reason,
    strip_stamp,
)
from coordinator.drivers.scheduler import (
    DrainOutcome,
    ForeignDrainError,
    RebootInProgressError,
    SchedulerNode,
    SchedulerState,
)
from coordinator.drivers.slurm_parse import make_node
from vcbase.errors import ValidationError

P = "vcluster: "
S = SchedulerState
one_line = st.text(
    st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1, max_size=150
).filter(lambda s: s.strip() != "")


def node(base: str = "idle", flags: tuple[str, ...] = (), reason: str = "") -> SchedulerNode:
    return make_node("n1", base, flags, reason, P)


@given(one_line)
def test_our_reason_is_ours_and_idempotent(text: str) -> None:
    full = our_reason(P, text)
    assert is_ours(P, full)
    assert our_reason(P, full) == full
    assert full.endswith(text.strip())


@pytest.mark.parametrize("bad", ["", "   ", "a\nb", "a\rb", "x" * 200])
def test_our_reason_refuses_blank_multiline_or_long(bad: str) -> None:
    with pytest.raises(ValidationError) as caught:
        our_reason(P, bad)
    assert caught.value.field == "reason"


def test_prefix_must_be_a_non_blank_line() -> None:
    assert check_prefix("site-x: ") == "site-x: "
    for bad in ("", " ", "a\nb"):
        with pytest.raises(ValidationError):
            check_prefix(bad)


def test_a_reason_that_only_contains_the_prefix_later_is_foreign() -> None:
    assert not is_ours(P, "admin: vcluster: said so")
    assert not is_ours(P, "VCLUSTER: shouting")


@given(
    one_line, st.from_regex(r"[a-z]{1,8}@20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:]{8}", fullmatch=True)
)
def test_strip_stamp_removes_only_the_trailing_stamp(text: str, stamp: str) -> None:
    assert strip_stamp(f"{text} [{stamp}]") == strip_stamp(text)


@pytest.mark.parametrize(
    ("n", "foreign"),
    [
        (node(), False),
        (node("idle", ("DRAIN",), "vcluster: x"), False),
        (node("idle", ("DRAIN",), "admin"), True),
        (node("down", (), "Not responding"), True),
        (node("idle", (), "stale text, no hold"), False),
        (node("allocated", ("DRAIN",), "Prolog error"), True),
    ],
)
def test_is_foreign_hold(n: SchedulerNode, foreign: bool) -> None:
    assert is_foreign_hold(n) is foreign


def test_decide_drain() -> None:
    assert decide_drain(node(), "vcluster: a") is DrainOutcome.DRAINED
    drained = node("idle", ("DRAIN",), "vcluster: a")
    assert decide_drain(drained, "vcluster: a") is DrainOutcome.UNCHANGED
    assert decide_drain(drained, "vcluster: b") is DrainOutcome.DRAINED
    assert decide_drain(node("idle", ("DRAIN",), "admin"), "vcluster: a") is DrainOutcome.FOREIGN
    assert decide_drain(node("down", (), "admin"), "vcluster: a") is DrainOutcome.FOREIGN


def test_decide_resume() -> None:
    assert decide_resume(node()) is Act.SKIP
    assert decide_resume(node("idle", ("DRAIN",), "vcluster: a")) is Act.RUN
    assert decide_resume(node("down", (), "vcluster: a : reboot complete")) is Act.RUN
    with pytest.raises(ForeignDrainError, match="'Prolog error'") as caught:
        decide_resume(node("idle", ("DRAIN",), "Prolog error"))
    assert (caught.value.node, caught.value.reason) == ("n1", "Prolog error")
    for flag in ("REBOOT_REQUESTED", "REBOOT_ISSUED"):
        with pytest.raises(RebootInProgressError):
            decide_resume(node("idle", ("DRAIN", flag), "vcluster: r"))


def test_decide_reboot_and_cancel() -> None:
    assert decide_reboot(node()) is Act.RUN
    assert decide_reboot(node("allocated", ("DRAIN",), "vcluster: a")) is Act.RUN
    assert decide_reboot(node("idle", ("DRAIN", "REBOOT_REQUESTED"), "vcluster: r")) is Act.SKIP
    assert decide_reboot(node("down", ("DRAIN", "REBOOT_ISSUED"), "admin")) is Act.SKIP
    with pytest.raises(ForeignDrainError):
        decide_reboot(node("idle", ("DRAIN",), "admin"))
    assert decide_cancel_reboot(node()) is Act.SKIP
    assert decide_cancel_reboot(node("allocated", ("DRAIN", "REBOOT_REQUESTED"), "x")) is Act.RUN
    with pytest.raises(RebootInProgressError):
        decide_cancel_reboot(node("down", ("DRAIN", "REBOOT_ISSUED"), "vcluster: r"))


@given(
    base=st.sampled_from(["idle", "allocated", "mixed", "down", "completing"]),
    flags=st.sets(st.sampled_from(["DRAIN", "REBOOT_REQUESTED", "REBOOT_ISSUED"])),
    reason=st.sampled_from(["", "vcluster: a", "admin", "Not responding"]),
)
def test_no_decision_ever_touches_a_foreign_hold(base: str, flags: set[str], reason: str) -> None:
    n = node(base, tuple(flags), reason)
    if not is_foreign_hold(n):
        return
    assert decide_drain(n, "vcluster: x") is DrainOutcome.FOREIGN
    with pytest.raises((ForeignDrainError, RebootInProgressError)):
        decide_resume(n)
    if not flags & {"REBOOT_REQUESTED", "REBOOT_ISSUED"}:
        with pytest.raises(ForeignDrainError):
            decide_reboot(n)
