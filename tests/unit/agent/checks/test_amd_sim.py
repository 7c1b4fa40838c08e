"""The simulated AMD health state (amd.json) and xGMI topology the AMD checks run against."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.profiles import PROFILES
from agent.sim.amdsmi import SimAmdSmi
from agent.sim.amdsmi_health import (
    HEALTHY,
    LINK_SLOTS,
    AmdDeviceHealth,
    AmdHealth,
    BadPage,
    health_path,
    read_health,
    reciprocal_link,
    update_device,
    write_health,
    xgmi_topology,
)
from agent.sim.tree import gpu_state_for, write_gpu_state


def test_no_file_is_a_healthy_node(tmp_path: Path) -> None:
    assert read_health(tmp_path).device(3) == HEALTHY


def test_health_round_trips_and_leaves_healthy_devices_out(tmp_path: Path) -> None:
    sick = AmdDeviceHealth(
        correctable=7,
        uncorrectable=1,
        bad_pages=(BadPage(0x2000, 4096, 1),),
        xgmi_error=1,
        links_down=(0, 3),
        hotspot_c=99,
    )
    write_health(tmp_path, AmdHealth({0: HEALTHY, 2: sick}))
    assert read_health(tmp_path).devices == {2: sick}
    doc = json.loads(health_path(tmp_path).read_text())
    assert set(doc["devices"]) == {"2"}
    assert "deferred" not in doc["devices"]["2"], "defaults are not written"


def test_update_device_changes_one_device(tmp_path: Path) -> None:
    update_device(tmp_path, 1, lambda h: AmdDeviceHealth(uncorrectable=h.uncorrectable + 2))
    update_device(tmp_path, 4, lambda h: AmdDeviceHealth(hotspot_c=80))
    health = read_health(tmp_path)
    assert (health.device(1).uncorrectable, health.device(4).hotspot_c) == (2, 80)
    update_device(tmp_path, 1, lambda h: HEALTHY)
    assert set(read_health(tmp_path).devices) == {4}


@pytest.mark.parametrize(
    ("doc", "names"),
    [
        ({"devices": {"1": {"uncorrectable": "many"}}}, r"devices\[1\]"),
        ({"devices": {"2": {"temperature": 3}}}, r"devices\[2\].*unknown keys \['temperature'\]"),
        ({"devices": []}, "devices: not an object"),
    ],
)
def test_a_malformed_file_names_the_culprit(tmp_path: Path, doc: object, names: str) -> None:
    health_path(tmp_path).write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=names):
        read_health(tmp_path)


@pytest.mark.parametrize("profile", ["mi250x", "mi300a"])
def test_xgmi_links_are_symmetric(profile: str) -> None:
    spec = PROFILES[profile]
    topology = xgmi_topology(spec.gpu_model, spec.gpu_count)
    assert len(topology) == spec.gpu_count
    for device, slots in enumerate(topology):
        assert len(slots) == LINK_SLOTS
        assert device not in slots
        for slot, peer in enumerate(slots):
            other = reciprocal_link(topology, device, slot)
            if peer is None:
                assert other is None
                continue
            assert other is not None
            assert topology[other[0]][other[1]] == device
            assert reciprocal_link(topology, *other) == (device, slot)


def test_mi250x_gcds_link_their_package_peer_twice_and_every_other_gcd() -> None:
    topology = xgmi_topology("AMD Instinct MI250X", 8)
    assert topology[4][:2] == (5, 5)
    assert sorted(p for p in topology[4] if p is not None) == [0, 1, 2, 3, 5, 5, 6, 7]


def test_mi300a_apus_are_fully_connected_with_two_disabled_slots() -> None:
    topology = xgmi_topology("AMD Instinct MI300A", 4)
    assert topology[2] == (0, 0, 1, 1, 3, 3, None, None)


def test_sim_serves_injected_health(tmp_path: Path) -> None:
    state = tmp_path / "gpus.json"
    write_gpu_state(state, gpu_state_for(PROFILES["mi300a"], "nid000002"))
    write_health(tmp_path, AmdHealth({1: AmdDeviceHealth(deferred=4, links_down=(2,))}))
    sim = SimAmdSmi(state)
    sim.amdsmi_init()
    handle = sim.amdsmi_get_processor_handles()[1]
    assert sim.amdsmi_get_gpu_total_ecc_count(handle)["deferred_count"] == 4
    links = sim.amdsmi_get_gpu_xgmi_link_status(handle)
    assert links == {"status": ["U", "U", "D", "U", "U", "U", "X", "X"], "total_links": 8}


def test_mi300a_has_no_edge_sensor(tmp_path: Path) -> None:
    state = tmp_path / "gpus.json"
    write_gpu_state(state, gpu_state_for(PROFILES["mi300a"], "nid000002"))
    sim = SimAmdSmi(state)
    sim.amdsmi_init()
    handle = sim.amdsmi_get_processor_handles()[0]
    types, metrics = sim.AmdSmiTemperatureType, sim.AmdSmiTemperatureMetric
    with pytest.raises(sim.AmdSmiException) as caught:
        sim.amdsmi_get_temp_metric(handle, types.EDGE, metrics.CURRENT)
    assert getattr(caught.value, "err_code", None) == 2  # AMDSMI_STATUS_NOT_SUPPORTED
    assert sim.amdsmi_get_temp_metric(handle, types.JUNCTION, metrics.CURRENT) > 0


def test_a_corrupt_health_file_is_a_library_error(tmp_path: Path) -> None:
    state = tmp_path / "gpus.json"
    write_gpu_state(state, gpu_state_for(PROFILES["mi250x"], "nid000002"))
    health_path(tmp_path).write_text("{")
    sim = SimAmdSmi(state)
    sim.amdsmi_init()
    handle = sim.amdsmi_get_processor_handles()[0]
    with pytest.raises(sim.AmdSmiException):
        sim.amdsmi_get_gpu_bad_page_info(handle)
    assert sim.amdsmi_get_gpu_device_bdf(handle), "gpus.json calls are unaffected"
