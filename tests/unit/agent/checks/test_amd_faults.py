"""Every AMD fault, injected into a simulated node, is flagged by the real checks as it promises;
cleared, the node is healthy again."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.checks.amd import checks
from agent.checks.base import Check, CheckContext, Mode
from agent.checks.events_os import event_sources
from agent.checks.thresholds import Thresholds
from agent.hardware import NodeHardware, close_hardware, open_hardware
from agent.profiles import PROFILES
from agent.sim.fault import Fault, SimTarget
from agent.sim.faults_amd import FAULTS
from vcbase.domain import CheckResult, CheckStatus

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
REQUIRED = {
    "amd-ecc-uncorrectable",
    "amd-bad-page-pending",
    "amd-bad-page-unreservable",
    "amd-xgmi-down",
    "amd-thermal-critical",
    "amd-gpu-missing",
}
CASES = [
    pytest.param(fault, profile, id=f"{fault.name}-{profile}")
    for fault in FAULTS
    for profile in sorted(fault.profiles)
]


@pytest.fixture
def node(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[NodeHardware]:
    hw = open_hardware(simulate=request.param, node_name="nid000007", state_dir=tmp_path)
    yield hw
    close_hardware(hw)


def run_all(hw: NodeHardware, catalog: list[Check]) -> dict[tuple[str, str], CheckResult]:
    assert hw.profile is not None
    ctx = CheckContext(hw, PROFILES[hw.profile], Thresholds(), NOW, Mode.FULL)
    return {(r.check, r.subject): r for c in catalog if c.applies(ctx) for r in c.run(ctx)}


def not_ok(results: dict[tuple[str, str], CheckResult]) -> dict[tuple[str, str], str]:
    return {key: r.message for key, r in results.items() if r.status is not CheckStatus.OK}


def target(hw: NodeHardware, device: str | None = None) -> SimTarget:
    assert hw.profile is not None
    return SimTarget(hw.root.parent, hw.profile, "nid000007", device)


def test_the_required_faults_exist_once_each() -> None:
    names = [f.name for f in FAULTS]
    assert len(names) == len(set(names))
    assert set(names) >= REQUIRED
    assert all(f.profiles == {"mi250x", "mi300a"} for f in FAULTS)


def test_event_driven_faults_reach_a_check_that_listens() -> None:
    triggered = {c.name: c.triggers for c in checks()}
    assert [f.name for f in FAULTS if f.event_driven] == ["amd-gpu-missing"]
    for fault in FAULTS:
        if fault.event_driven:
            assert "device_removed" in triggered[fault.expect.check]


@pytest.mark.parametrize(("fault", "node"), CASES, indirect=["node"])
def test_inject_is_flagged_and_clear_heals(fault: Fault, node: NodeHardware) -> None:
    catalog = checks()  # one set of instances for the whole life of the "agent"
    assert not_ok(run_all(node, catalog)) == {}
    fault.inject(target(node))
    expect = fault.expect
    result = run_all(node, catalog)[(expect.check, expect.subject)]
    assert (result.status, result.action) == (expect.status, expect.action), result.message
    assert result.message.startswith(expect.subject)
    fault.clear(target(node))
    assert not_ok(run_all(node, catalog)) == {}


@pytest.mark.parametrize(("fault", "node"), CASES, indirect=["node"])
def test_the_target_device_picks_the_gpu(fault: Fault, node: NodeHardware) -> None:
    catalog = checks()
    fault.inject(target(node, "gpu3"))
    fault.inject(target(node, "gpu3"))  # idempotent
    results = run_all(node, catalog)
    flagged = results[(fault.expect.check, "gpu3")]
    assert (flagged.status, flagged.action) == (fault.expect.status, fault.expect.action)
    untouched = "gpu1"  # neither gpu3 nor its link-0 peer (gpu2 on MI250X, gpu0 on MI300A)
    assert results[(fault.expect.check, untouched)].status is CheckStatus.OK
    fault.clear(target(node, "gpu3"))
    fault.clear(target(node, "gpu3"))
    assert not_ok(run_all(node, catalog)) == {}


@pytest.mark.parametrize("node", ["mi250x"], indirect=True)
def test_faults_on_one_gpu_clear_independently(node: NodeHardware) -> None:
    catalog = checks()
    for fault in FAULTS:
        fault.inject(target(node))
    bad = {check for check, subject in not_ok(run_all(node, catalog)) if subject == "gpu0"}
    assert bad >= {f.expect.check for f in FAULTS}
    missing = FAULTS[-1]
    assert missing.name == "amd-gpu-missing"
    for fault in FAULTS[:-1]:
        fault.clear(target(node))
    left = {key: r.status for key, r in run_all(node, catalog).items()}
    left = {key: status for key, status in left.items() if status is not CheckStatus.OK}
    unknown = ("amd.ecc", "amd.bad_pages", "amd.xgmi", "amd.temperature")  # gpu0 is still lost
    assert left == {("amd.count", "gpu0"): CheckStatus.FAIL} | {
        (check, "gpu0"): CheckStatus.UNKNOWN for check in unknown
    }
    missing.clear(target(node))
    assert not_ok(run_all(node, catalog)) == {}


@pytest.mark.parametrize("node", ["mi300a"], indirect=True)
def test_a_lost_gpu_sends_one_udev_event(node: NodeHardware) -> None:
    udev = next(s for s in event_sources(node) if s.name == "udev")
    missing = next(f for f in FAULTS if f.name == "amd-gpu-missing")
    missing.inject(target(node, "gpu2"))
    missing.inject(target(node, "gpu2"))
    events = udev.wait(0.5)
    assert [(e.kind, e.subject) for e in events] == [("device_removed", "gpu2")]
    assert udev.wait(0.1) == []


@pytest.mark.parametrize("node", ["mi250x"], indirect=True)
def test_xgmi_down_is_seen_from_both_ends(node: NodeHardware) -> None:
    down = next(f for f in FAULTS if f.name == "amd-xgmi-down")
    down.inject(target(node, "gpu4"))
    bad = not_ok(run_all(node, checks()))
    assert set(bad) == {("amd.xgmi", "gpu4"), ("amd.xgmi", "gpu5")}  # gpu5: same package


@pytest.mark.parametrize("device", ["gpu8", "hsn0", "gpu-1"])
@pytest.mark.parametrize("node", ["mi250x"], indirect=True)
def test_a_target_that_is_not_a_gpu_is_refused(node: NodeHardware, device: str) -> None:
    for fault in FAULTS:
        with pytest.raises(ValueError, match=r"valid: gpu0, gpu1, .*gpu7"):
            fault.inject(target(node, device))
