"""Every NIC/host fault on every profile it applies to: inject -> the event a real node would
emit reaches the event sources -> the real check says what the fault's Expectation says;
clear -> ok again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.checks import host, nic
from agent.checks.base import Check, CheckContext
from agent.checks.events_os import event_sources
from agent.checks.thresholds import Thresholds
from agent.hardware import NodeHardware, open_hardware
from agent.profiles import PROFILES
from agent.sim.fault import Fault, SimTarget
from agent.sim.faults_host import FAULTS
from vcbase.domain import CheckAction, CheckResult, CheckStatus

NODE = "nid000042"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
# What a real node says when the fault happens: (source, event kind, subject).
EVENTS = {
    "cxi-link-down": ("netlink", "link_changed", "hsn0"),
    "cxi-flapping": ("netlink", "link_changed", "hsn0"),
    "ib-port-down": ("netlink", "link_changed", "ib0"),
    "nic-removed": ("udev", "device_removed", "hsn0"),
}
CASES = [(f, p) for f in FAULTS for p in sorted(f.profiles)]


def _check(name: str) -> Check:
    (check,) = [c for c in (*nic.checks(), *host.checks()) if c.name == name]
    return check


def _result(check: Check, hw: NodeHardware, subject: str, minute: int) -> CheckResult:
    profile = PROFILES[hw.profile or ""]
    ctx = CheckContext(hw, profile, Thresholds(), T0 + timedelta(minutes=minute))
    assert check.applies(ctx)
    (result,) = [r for r in check.run(ctx) if r.subject == subject]
    return result


def test_the_catalog() -> None:
    names = [f.name for f in FAULTS]
    assert len(names) == len(set(names))
    required = {"cxi-link-down", "cxi-flapping", "ib-port-down"}
    assert required | {"memory-missing", "filesystem-read-only"} <= set(names)
    assert {f.name for f in FAULTS if f.event_driven} == set(EVENTS)
    assert {f.name: f.profiles for f in FAULTS}["ib-port-down"] == {"a100"}
    for fault in FAULTS:
        if fault.event_driven:
            assert EVENTS[fault.name][1] in _check(fault.expect.check).triggers


@pytest.mark.parametrize(("fault", "profile"), CASES, ids=[f"{f.name}-{p}" for f, p in CASES])
def test_inject_is_flagged_and_clear_is_ok(tmp_path: Path, fault: Fault, profile: str) -> None:
    hw = open_hardware(profile, NODE, tmp_path)
    target = SimTarget(tmp_path / "sim", profile, NODE)
    check = _check(fault.expect.check)
    subject = fault.expect.subject
    assert _result(check, hw, subject, 0).status is CheckStatus.OK  # also the counter baseline
    sources = {s.name: s for s in event_sources(hw)}
    try:
        fault.inject(target)
        fault.inject(target)  # idempotent
        if fault.event_driven:
            source, kind, event_subject = EVENTS[fault.name]
            events = sources[source].wait(1.0)
            assert (events[0].kind, events[0].subject) == (kind, event_subject)
            for event in events:
                check.observe(event)
        flagged = _result(check, hw, subject, 1)
        assert (flagged.status, flagged.action) == (fault.expect.status, fault.expect.action)
        assert flagged.message.startswith(subject)
        fault.clear(target)
        fault.clear(target)
        cleared = _result(check, hw, subject, 2)
        assert (cleared.status, cleared.action) == (CheckStatus.OK, CheckAction.NONE)
    finally:
        for s in sources.values():
            s.close()


@pytest.mark.parametrize(
    ("name", "device", "subject"),
    [
        ("cxi-link-down", "hsn2", "hsn2"),
        ("cxi-flapping", "hsn3", "hsn3"),
        ("nic-removed", "eth0", "eth0"),
        ("filesystem-read-only", "/tmp", "/tmp"),
        ("edac-uncorrectable", "mc3", "mc3"),
        ("process-missing", "munged", "munged"),
    ],
)
def test_the_target_device_picks_the_subject(
    tmp_path: Path, name: str, device: str, subject: str
) -> None:
    hw = open_hardware("gh200", NODE, tmp_path)
    (fault,) = [f for f in FAULTS if f.name == name]
    check_name = "nic.eth" if device == "eth0" else fault.expect.check
    check = _check(check_name)
    _result(check, hw, subject, 0)
    fault.inject(SimTarget(tmp_path / "sim", "gh200", NODE, device))
    flagged = _result(check, hw, subject, 1)
    assert flagged.status is CheckStatus.FAIL
    bad = {r.subject for r in check.run(_ctx(hw)) if r.status is not CheckStatus.OK}
    assert bad == {subject}


def _ctx(hw: NodeHardware) -> CheckContext:
    return CheckContext(hw, PROFILES["gh200"], Thresholds(), T0 + timedelta(minutes=1))


@pytest.mark.parametrize(
    ("name", "device"),
    [
        ("cxi-link-down", "eth0"),
        ("cxi-link-down", "hsn9"),
        ("ib-port-down", None),
        ("filesystem-read-only", "/nope"),
        ("edac-uncorrectable", "mc9"),
        ("process-missing", "sshd"),
    ],
)
def test_a_device_the_node_lacks_is_refused(tmp_path: Path, name: str, device: str | None) -> None:
    open_hardware("gh200", NODE, tmp_path)
    (fault,) = [f for f in FAULTS if f.name == name]
    with pytest.raises(ValueError, match="device"):
        fault.inject(SimTarget(tmp_path / "sim", "gh200", NODE, device))
