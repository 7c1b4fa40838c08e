"""The simulated NVIDIA health state (nvidia.json), and helpers the other NVIDIA check tests use.

Helpers: `sim_node` opens a simulated node through agent.hardware.open_hardware, exactly as the
agent does, and `run` builds the CheckContext the runner would (thresholds from Thresholds(),
profile from PROFILES).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.checks import nvidia
from agent.checks.base import Check, CheckContext, Mode
from agent.checks.thresholds import Thresholds
from agent.hardware import NodeHardware, open_hardware
from agent.profiles import PROFILES
from agent.sim.fault import SimTarget
from agent.sim.nvml import NVML_ERROR_UNKNOWN, SimNvml
from agent.sim.nvml_health import (
    HEALTH_FILE,
    NvmlConstants,
    SimNvLink,
    defaults_for,
    gpu_index,
    read_health,
    restore,
    update_health,
)
from vcbase.domain import CheckResult, CheckStatus

NODE = "nid000001"


@dataclass(frozen=True)
class SimNode:
    hw: NodeHardware
    profile: str

    @property
    def sim_dir(self) -> Path:
        return self.hw.root.parent

    @property
    def api(self) -> SimNvml:
        assert isinstance(self.hw.nvml, SimNvml)
        return self.hw.nvml

    def ctx(
        self, now: datetime | None = None, thresholds: Thresholds | None = None
    ) -> CheckContext:
        return CheckContext(
            self.hw,
            PROFILES[self.profile],
            thresholds or Thresholds(),
            now or datetime.now(UTC),
            Mode.PERIODIC,
        )

    def target(self, device: str | None = None) -> SimTarget:
        return SimTarget(self.sim_dir, self.profile, NODE, device)


def sim_node(tmp_path: Path, profile: str) -> SimNode:
    return SimNode(open_hardware(profile, NODE, tmp_path), profile)


def check(name: str) -> Check:
    (found,) = [c for c in nvidia.checks() if c.name == name]
    return found


def by_subject(results: Iterable[CheckResult]) -> dict[str, CheckResult]:
    found: dict[str, CheckResult] = {}
    for result in results:
        assert result.subject not in found, f"two results for {result.subject}"
        found[result.subject] = result
    return found


def not_ok(results: Iterable[CheckResult]) -> list[CheckResult]:
    return [r for r in results if r.status is not CheckStatus.OK]


# -- the health state file ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "arch", "links", "c2c"),
    [
        ("NVIDIA GH200 120GB", NvmlConstants.NVML_DEVICE_ARCH_HOPPER, 18, True),
        ("NVIDIA A100-SXM4-80GB", NvmlConstants.NVML_DEVICE_ARCH_AMPERE, 12, None),
        ("NVIDIA H100 80GB HBM3", NvmlConstants.NVML_DEVICE_ARCH_HOPPER, 18, False),
    ],
)
def test_defaults_follow_the_model(model: str, arch: int, links: int, c2c: bool | None) -> None:
    health = defaults_for(model)
    assert health.architecture == arch
    assert len(health.nvlinks) == links
    assert health.c2c_enabled is c2c
    assert health.ecc_volatile_uncorrected == 0 and not health.remap_pending


def test_no_file_means_healthy_defaults(tmp_path: Path) -> None:
    node = sim_node(tmp_path, "gh200")
    assert not (node.sim_dir / HEALTH_FILE).exists()
    assert read_health(node.sim_dir, "gpu1", "NVIDIA GH200 120GB") == defaults_for("NVIDIA GH200")


def test_update_and_restore_touch_only_their_device_and_fields(tmp_path: Path) -> None:
    node = sim_node(tmp_path, "a100")
    update_health(node.sim_dir, "gpu2", lambda h: dataclasses.replace(h, temperature_c=91))
    update_health(node.sim_dir, "gpu2", lambda h: dataclasses.replace(h, remap_failure=True))
    model = PROFILES["a100"].gpu_model
    changed = read_health(node.sim_dir, "gpu2", model)
    assert (changed.temperature_c, changed.remap_failure) == (91, True)
    assert read_health(node.sim_dir, "gpu1", model) == defaults_for(model)
    restore(node.sim_dir, "gpu2", "temperature_c")
    after = read_health(node.sim_dir, "gpu2", model)
    assert (after.temperature_c, after.remap_failure) == (defaults_for(model).temperature_c, True)
    leftovers = [p.name for p in node.sim_dir.glob(f".{HEALTH_FILE}.*")]
    assert leftovers == [f".{HEALTH_FILE}.lock"]  # no temporaries left


def test_a_partial_hand_written_entry_overlays_the_defaults(tmp_path: Path) -> None:
    node = sim_node(tmp_path, "gh200")
    doc = {"devices": {"gpu0": {"temperature_c": 70, "nvlinks": [{"active": False}]}}}
    (node.sim_dir / HEALTH_FILE).write_text(json.dumps(doc))
    health = read_health(node.sim_dir, "gpu0", "NVIDIA GH200 120GB")
    assert health.temperature_c == 70
    assert health.nvlinks == (SimNvLink(active=False),)
    assert health.c2c_enabled is True


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({"temperature_c": "hot"}, "temperature_c"),
        ({"remap_pending": 1}, "remap_pending"),
        ({"bogus": 1}, "bogus"),
        ({"nvlinks": [{"replay": True}]}, "nvlinks[0].replay"),
        ({"c2c_enabled": "yes"}, "c2c_enabled"),
    ],
)
def test_a_malformed_entry_is_an_error_naming_the_field(
    tmp_path: Path, entry: dict[str, object], field: str
) -> None:
    node = sim_node(tmp_path, "gh200")
    (node.sim_dir / HEALTH_FILE).write_text(json.dumps({"devices": {"gpu0": entry}}))
    with pytest.raises(ValueError, match=re.escape(f"devices.gpu0.{field}")):
        read_health(node.sim_dir, "gpu0", "NVIDIA GH200 120GB")
    # and SimNvml answers like NVML does when it cannot read the device: an NVMLError
    handle = node.api.nvmlDeviceGetHandleByIndex(0)
    with pytest.raises(SimNvml.NVMLError) as caught:
        node.api.nvmlDeviceGetArchitecture(handle)
    assert caught.value.value == NVML_ERROR_UNKNOWN


@pytest.mark.parametrize("name", ["gpu", "hsn0", "gpu-1", "GPU0"])
def test_gpu_index_rejects_non_gpu_names(name: str) -> None:
    with pytest.raises(ValueError, match="not a GPU name"):
        gpu_index(name)


def test_updating_a_device_the_node_lacks_is_an_error(tmp_path: Path) -> None:
    node = sim_node(tmp_path, "a100")
    with pytest.raises(ValueError, match="gpu4 does not exist"):
        update_health(node.sim_dir, "gpu4", lambda h: h)
