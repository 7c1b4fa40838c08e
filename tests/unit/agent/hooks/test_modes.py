"""Which checks the hooks re-run live, per node type (their `modes`). A new check runs in every
mode by default: this test makes its author decide whether it is fast enough for the prolog."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.checks.base import Mode
from agent.checks.catalog import all_checks
from agent.checks.runner import CheckRunner
from agent.checks.thresholds import Thresholds
from agent.hardware import close_hardware, collect_inventory, open_hardware
from agent.profiles import PROFILES

# Before a job: the polled checks that a job's start depends on and that cost little; the
# event-driven ones (nvidia.xid, nvidia.count, ...) keep their stable state current anyway.
NVIDIA_PROLOG = {"nvidia.nvml", "nvidia.ecc", "nvidia.row_remap"}
AMD_PROLOG = {"amd.smi", "amd.ecc"}
HOST_PROLOG = {"host.memory", "host.mounts"}
# After a job, also: what the job may have caused (XIDs, lost GPUs, memory errors, dead daemons).
NVIDIA_EPILOG = {"nvidia.xid", "nvidia.count", "nvidia.recovery_action"}
AMD_EPILOG = {"amd.count", "amd.bad_pages"}
HOST_EPILOG = {"host.mce", "host.processes"}
PROLOG = {
    "gh200": NVIDIA_PROLOG | HOST_PROLOG,
    "a100": NVIDIA_PROLOG | HOST_PROLOG,
    "mi250x": AMD_PROLOG | HOST_PROLOG,
    "mi300a": AMD_PROLOG | HOST_PROLOG,
    "rome": HOST_PROLOG,
}
EPILOG = {
    "gh200": PROLOG["gh200"] | NVIDIA_EPILOG | HOST_EPILOG,
    "a100": PROLOG["a100"] | NVIDIA_EPILOG | HOST_EPILOG,
    "mi250x": PROLOG["mi250x"] | AMD_EPILOG | HOST_EPILOG,
    "mi300a": PROLOG["mi300a"] | AMD_EPILOG | HOST_EPILOG,
    "rome": PROLOG["rome"] | HOST_EPILOG,
}


@pytest.mark.parametrize("profile", sorted(PROLOG))
def test_the_live_checks_of_each_node_type(tmp_path: Path, profile: str) -> None:
    hw = open_hardware(profile, "nid000001", tmp_path)
    try:
        inventory = collect_inventory(hw)
        runner = CheckRunner(hw, PROFILES[inventory.node_type], Thresholds(), all_checks())
    finally:
        close_hardware(hw)
    assert {c.name for c in runner.checks if Mode.PROLOG in c.modes} == PROLOG[profile]
    assert {c.name for c in runner.checks if Mode.EPILOG in c.modes} == EPILOG[profile]


def test_live_checks_are_not_debounced_and_every_check_runs_periodically() -> None:
    """A hook judges a live result as it is, so a check that needs N results in a row before
    it flips (throttling, PCIe width) must not be live; and `modes` never takes a check out of
    the periodic loop or a full pass (the runner ignores it there; this keeps it honest)."""
    for check in all_checks():
        if check.modes & {Mode.PROLOG, Mode.EPILOG}:
            assert (check.fail_after, check.ok_after) == (1, 1), check.name
        assert {Mode.PERIODIC, Mode.FULL} <= check.modes, check.name
