"""open_hardware / collect_inventory / read_identity on every simulated profile and this machine."""

from __future__ import annotations

import dataclasses
import os
import re
import uuid
from collections import Counter
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import pytest

from agent.hardware import close_hardware, collect_inventory, open_hardware, read_identity
from agent.profiles import PROFILES
from agent.sim.tree import GPU_STATE_FILE, read_gpu_state, reboot, write_gpu_state
from vcbase.domain import NicKind

NODE = "nid000042"
Logs = list[MutableMapping[str, Any]]


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_simulated_inventory_is_the_profiles_hardware(tmp_path: Path, name: str) -> None:
    profile = PROFILES[name]
    hw = open_hardware(name, NODE, tmp_path)
    inventory = collect_inventory(hw)
    assert inventory.node_type == name
    assert (inventory.simulated, hw.simulated, hw.profile) == (True, True, name)
    assert inventory.hostname == NODE
    assert inventory.cpu_model == profile.cpu_model
    assert inventory.cpu_cores == profile.cpu_cores
    assert inventory.memory_bytes == profile.memory_bytes
    assert inventory.architecture == profile.architecture
    assert inventory.kernel == profile.kernel
    assert len(inventory.gpus) == profile.gpu_count
    assert {(g.vendor, g.model, g.memory_bytes) for g in inventory.gpus} <= {
        (profile.gpu_vendor, profile.gpu_model, profile.gpu_memory_bytes)
    }
    kinds = Counter(nic.kind for nic in inventory.nics)
    assert kinds == Counter({kind: profile.nic_count(kind) for kind in NicKind})
    assert all(nic.link_up for nic in inventory.nics)
    close_hardware(hw)


def test_only_the_profiles_gpu_vendor_has_a_library(tmp_path: Path) -> None:
    expected = {"gh200": (1, 0), "a100": (1, 0), "mi250x": (0, 1), "mi300a": (0, 1), "rome": (0, 0)}
    for name, (nvml, amdsmi) in expected.items():
        hw = open_hardware(name, NODE, tmp_path / name)
        assert (hw.nvml is not None, hw.amdsmi is not None) == (bool(nvml), bool(amdsmi))


def test_slingshot_nics_are_cxi_at_200g(tmp_path: Path) -> None:
    inventory = collect_inventory(open_hardware("gh200", NODE, tmp_path))
    slingshot = [n for n in inventory.nics if n.kind is NicKind.SLINGSHOT]
    assert [n.name for n in slingshot] == ["hsn0", "hsn1", "hsn2", "hsn3"]
    assert {(n.driver, n.speed_mbps) for n in slingshot} == {("cxi_ss1", 200_000)}
    assert len({n.address for n in inventory.nics}) == len(inventory.nics)


def test_node_type_is_detected_from_the_hardware_not_the_profile_name(tmp_path: Path) -> None:
    hw = open_hardware("gh200", NODE, tmp_path)
    state_path = tmp_path / "sim" / GPU_STATE_FILE
    state = read_gpu_state(state_path)
    swapped = tuple(dataclasses.replace(d, name="NVIDIA A100-SXM4-80GB") for d in state.devices)
    write_gpu_state(state_path, dataclasses.replace(state, devices=swapped))
    assert collect_inventory(hw).node_type == "a100"
    write_gpu_state(state_path, dataclasses.replace(state, devices=()))
    assert collect_inventory(hw).node_type == "generic"


def test_override_replaces_detection(tmp_path: Path) -> None:
    hw = open_hardware("rome", NODE, tmp_path)
    assert collect_inventory(hw, node_type_override="rome-bigmem").node_type == "rome-bigmem"


def test_unknown_profile_names_the_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="h100") as caught:
        open_hardware("h100", NODE, tmp_path)
    for name in PROFILES:
        assert name in str(caught.value)
    assert not (tmp_path / "sim").exists()


def test_machine_id_is_stable_per_node_name_and_differs_across_names(tmp_path: Path) -> None:
    first, _ = read_identity(open_hardware("a100", NODE, tmp_path / "a"))
    again, _ = read_identity(open_hardware("a100", NODE, tmp_path / "a"))
    elsewhere, _ = read_identity(open_hardware("a100", NODE, tmp_path / "b"))
    other, _ = read_identity(open_hardware("a100", "nid000043", tmp_path / "c"))
    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert first == again == elsewhere
    assert other != first


def test_boot_id_survives_restarts_and_changes_on_reboot(tmp_path: Path) -> None:
    hw = open_hardware("mi250x", NODE, tmp_path)
    machine_id, boot_id = read_identity(hw)
    assert uuid.UUID(boot_id).version == 4
    assert read_identity(open_hardware("mi250x", "nid000043", tmp_path / "b"))[1] != boot_id
    assert read_identity(open_hardware("mi250x", NODE, tmp_path)) == (machine_id, boot_id)
    new_boot = reboot(hw.root)
    assert new_boot != boot_id
    assert read_identity(hw) == (machine_id, new_boot)
    assert read_identity(open_hardware("mi250x", NODE, tmp_path)) == (machine_id, new_boot)


def test_existing_tree_and_injected_faults_are_reused(tmp_path: Path) -> None:
    hw = open_hardware("gh200", NODE, tmp_path)
    state_path = tmp_path / "sim" / GPU_STATE_FILE
    state = read_gpu_state(state_path)
    write_gpu_state(state_path, dataclasses.replace(state, devices=state.devices[:2]))
    assert len(collect_inventory(open_hardware("gh200", NODE, tmp_path)).gpus) == 2
    assert hw.root == open_hardware("gh200", NODE, tmp_path).root
    state_path.unlink()
    assert len(collect_inventory(open_hardware("gh200", NODE, tmp_path)).gpus) == 4


def test_tree_of_another_profile_is_replaced(tmp_path: Path, logs: Logs) -> None:
    open_hardware("gh200", NODE, tmp_path)
    inventory = collect_inventory(open_hardware("rome", NODE, tmp_path))
    assert (inventory.node_type, inventory.architecture, inventory.gpus) == ("rome", "x86_64", ())
    assert [e["event"] for e in logs].count("sim_tree_replaced") == 1
    assert sorted(p.name for p in (tmp_path / "sim").iterdir()) == [GPU_STATE_FILE, "root"]


@pytest.mark.parametrize(
    ("name", "event"), [("a100", "nvml_unavailable"), ("mi300a", "amdsmi_unavailable")]
)
def test_gpu_library_that_cannot_init_is_absent_like_on_a_real_node(
    tmp_path: Path, logs: Logs, name: str, event: str
) -> None:
    open_hardware(name, NODE, tmp_path)
    (tmp_path / "sim" / GPU_STATE_FILE).write_text("[]")
    hw = open_hardware(name, NODE, tmp_path)
    assert (hw.nvml, hw.amdsmi) == (None, None)
    assert [e["event"] for e in logs].count(event) == 1
    inventory = collect_inventory(hw)
    assert (inventory.gpus, inventory.node_type) == ((), "generic")


def test_half_built_trees_are_rebuilt(tmp_path: Path) -> None:
    stale = tmp_path / "sim" / ".root-crashed"
    (stale / "proc").mkdir(parents=True)
    (tmp_path / "sim" / "root" / "proc").mkdir(parents=True)  # no marker: not a finished build
    inventory = collect_inventory(open_hardware("rome", NODE, tmp_path))
    assert inventory.node_type == "rome"
    assert not stale.exists()


def test_close_shuts_the_gpu_library_down(tmp_path: Path) -> None:
    hw = open_hardware("a100", NODE, tmp_path)
    assert hw.nvml is not None
    close_hardware(hw)
    with pytest.raises(hw.nvml.NVMLError):
        hw.nvml.nvmlDeviceGetCount()


def _nvidia_gpus_the_driver_lists() -> int:
    gpus = Path("/proc/driver/nvidia/gpus")
    return len(list(gpus.iterdir())) if gpus.is_dir() else 0


def test_this_machine(tmp_path: Path) -> None:
    hw = open_hardware(None, "ignored", tmp_path)
    try:
        inventory = collect_inventory(hw)
        assert (hw.root, hw.simulated, hw.profile) == (Path("/"), False, None)
        assert not inventory.simulated
        assert inventory.cpu_cores == os.cpu_count()
        assert inventory.memory_bytes > 0
        assert inventory.hostname == os.uname().nodename
        assert not (tmp_path / "sim").exists()
        nvidia = _nvidia_gpus_the_driver_lists()
        assert (hw.nvml is not None) == (nvidia > 0)
        assert len([g for g in inventory.gpus if g.vendor == "nvidia"]) == nvidia
        machine_id, boot_id = read_identity(hw)
        assert machine_id
        assert boot_id == Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    finally:
        close_hardware(hw)
