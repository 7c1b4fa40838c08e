"""Every simulated NVIDIA fault, end to end through the real checks and the real event source:
inject into a simulated node, feed what the event sources deliver to the checks (observe), run
them, find the fault's Expectation; clear, find the node ok again (an XID stays in the window
until it expires: documented in agent.sim.faults_nvidia)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.checks import events_os, nvidia
from agent.checks.base import Check, EventSource, HardwareEvent
from agent.checks.thresholds import Thresholds
from agent.sim.fault import Fault
from agent.sim.faults_nvidia import FAULTS
from tests.unit.agent.checks.test_nvidia_sim import SimNode, by_subject, not_ok, sim_node
from vcbase.domain import CheckResult, CheckStatus

NOW = datetime.now(UTC)
REQUIRED = {
    "xid-79",
    "xid-48",
    "ecc-dbe",
    "row-remap-failure",
    "row-remap-pending",
    "gpu-missing",
    "nvlink-down",
    "pcie-width-degraded",
    "thermal-slowdown",
}
CASES = [pytest.param(f, p, id=f"{f.name}@{p}") for f in FAULTS for p in sorted(f.profiles)]


class Harness:
    """The checks of one node and the event sources feeding them, as the runner wires them: the
    NVML XID source, and the udev source of agent.checks.events_os (GPU removals)."""

    def __init__(self, node: SimNode) -> None:
        self.node = node
        ctx = node.ctx(now=NOW)
        self.checks: list[Check] = [c for c in nvidia.checks() if c.applies(ctx)]
        (xids,) = nvidia.event_sources(node.hw)
        udev = next(s for s in events_os.event_sources(node.hw) if s.name == "udev")
        self.sources: list[EventSource] = [xids, udev]

    def poll(self, timeout: float) -> list[HardwareEvent]:
        return [e for source in self.sources for e in source.wait(timeout)]

    def deliver(self, event_driven: bool) -> list[HardwareEvent]:
        """What the sources have; an event-driven fault's events are waited for (up to 5 s)."""
        deadline = time.monotonic() + (5.0 if event_driven else 0.0)
        events = self.poll(0.0)
        while not events and time.monotonic() < deadline:
            events = self.poll(0.05)
        for event in events:
            for c in self.checks:
                if event.kind in c.triggers:
                    c.observe(event)
        return events

    def run(self, now: datetime = NOW) -> dict[str, dict[str, CheckResult]]:
        ctx = self.node.ctx(now=now)
        return {c.name: by_subject(c.run(ctx)) for c in self.checks}


def test_the_required_faults_exist_with_unique_names() -> None:
    names = [f.name for f in FAULTS]
    assert len(names) == len(set(names))
    assert set(names) >= REQUIRED
    assert all(f.profiles <= {"gh200", "a100"} and f.description for f in FAULTS)


@pytest.mark.parametrize(("fault", "profile"), CASES)
def test_fault_is_seen_as_documented_and_clears(tmp_path: Path, fault: Fault, profile: str) -> None:
    node = sim_node(tmp_path, profile)
    harness = Harness(node)
    before = harness.run()
    assert not [r for results in before.values() for r in not_ok(results.values())]

    fault.inject(node.target())
    if not fault.event_driven:
        fault.inject(node.target())  # idempotent: injecting twice changes nothing
    events = harness.deliver(fault.event_driven)
    assert bool(events) == fault.event_driven
    last_event = max((e.at for e in events), default=NOW)
    expect = fault.expect
    result = harness.run()[expect.check][expect.subject]
    assert (result.status, result.action) == (expect.status, expect.action), result.message
    assert result.message and result.observed

    fault.clear(node.target())
    fault.clear(node.target())  # idempotent
    harness.deliver(False)
    after = harness.run()
    left = [r for results in after.values() for r in not_ok(results.values())]
    if expect.check == "nvidia.xid":  # an XID does not un-happen: it stays until it expires
        assert [(r.check, r.subject, r.status, r.action) for r in left] == [
            (expect.check, expect.subject, expect.status, expect.action)
        ]
        expiry = last_event + timedelta(seconds=Thresholds().nvidia.xid_window_s)
        assert not not_ok(harness.run(expiry)["nvidia.xid"].values())
    else:
        assert left == []


@pytest.mark.parametrize("fault", [f for f in FAULTS if f.name in {"xid-79", "ecc-dbe"}])
def test_fault_lands_on_the_chosen_gpu(tmp_path: Path, fault: Fault) -> None:
    node = sim_node(tmp_path, "a100")
    harness = Harness(node)
    harness.run()
    fault.inject(node.target("gpu2"))
    harness.deliver(fault.event_driven)
    results = harness.run()[fault.expect.check]
    assert results["gpu2"].status is fault.expect.status
    assert all(results[g].status is CheckStatus.OK for g in ("gpu0", "gpu1", "gpu3"))


def test_gpu_missing_tells_udev_which_gpu_once(tmp_path: Path) -> None:
    node = sim_node(tmp_path, "gh200")
    harness = Harness(node)
    (fault,) = [f for f in FAULTS if f.name == "gpu-missing"]
    fault.inject(node.target("gpu3"))
    fault.inject(node.target("gpu3"))  # already lost: no second uevent
    (event,) = harness.deliver(True)
    assert (event.kind, event.subject) == ("device_removed", "gpu3")
    assert event.data["subsystem"] == "pci"
    assert harness.poll(0.05) == []


def test_a_fault_on_a_gpu_the_node_lacks_is_an_error(tmp_path: Path) -> None:
    node = sim_node(tmp_path, "a100")
    (fault,) = [f for f in FAULTS if f.name == "ecc-dbe"]
    with pytest.raises(ValueError, match="gpu9"):
        fault.inject(node.target("gpu9"))


@pytest.mark.parametrize("profile", ["gh200", "a100"])
def test_all_faults_one_after_another_on_one_node(tmp_path: Path, profile: str) -> None:
    """As an operator (and the integration test) would: polled faults first, XIDs last since
    their history outlives clear; every fault must still show as documented."""
    node = sim_node(tmp_path, profile)
    harness = Harness(node)
    harness.run()
    faults = sorted(
        (f for f in FAULTS if profile in f.profiles),
        key=lambda f: (f.expect.check == "nvidia.xid", f.name),
    )
    for fault in faults:
        fault.inject(node.target())
        harness.deliver(fault.event_driven)
        e = fault.expect
        result = harness.run()[e.check][e.subject]
        assert (result.status, result.action) == (e.status, e.action), (fault.name, result)
        fault.clear(node.target())
        harness.deliver(False)
        if e.check != "nvidia.xid":
            assert harness.run()[e.check][e.subject].status is CheckStatus.OK, fault.name
