"""The AmdSmiApi port's contract, held by SimAmdSmi and (on an AMD node, `-m gpu`) by amdsmi."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.probes.gpu_amd import AmdSmiApi, amd_gpus
from agent.profiles import PROFILES
from agent.sim.amdsmi import SimAmdSmi
from agent.sim.tree import gpu_state_for, write_gpu_state
from vcbase.domain import GpuVendor

BDF = re.compile(r"^[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$")


@pytest.fixture(params=["sim", pytest.param("real", marks=pytest.mark.gpu)])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AmdSmiApi]:
    """An AMD SMI adapter, not initialised."""
    if request.param == "sim":
        state = tmp_path / "gpus.json"
        write_gpu_state(state, gpu_state_for(PROFILES["mi250x"], "nid000001"))
        yield SimAmdSmi(state)
        return
    if not Path("/sys/module/amdgpu").is_dir():
        pytest.skip("no amdgpu driver on this machine")
    amdsmi = pytest.importorskip("amdsmi", reason="amdsmi (ROCm) is not installed")
    real: AmdSmiApi = amdsmi
    yield real


@pytest.fixture
def ready(api: AmdSmiApi) -> Iterator[AmdSmiApi]:
    api.amdsmi_init()
    yield api
    api.amdsmi_shut_down()


def test_calls_before_init_fail(api: AmdSmiApi) -> None:
    with pytest.raises(api.AmdSmiException):
        api.amdsmi_get_processor_handles()


def test_shutdown_balances_init(api: AmdSmiApi) -> None:
    api.amdsmi_init()
    assert len(api.amdsmi_get_processor_handles()) >= 1
    api.amdsmi_shut_down()
    with pytest.raises(api.AmdSmiException):
        api.amdsmi_get_processor_handles()


def test_devices_have_amdsmi_shaped_answers(ready: AmdSmiApi) -> None:
    handles = ready.amdsmi_get_processor_handles()
    assert len(handles) >= 1
    for handle in handles:
        asic = ready.amdsmi_get_gpu_asic_info(handle)
        assert str(asic["market_name"]).startswith("AMD")
        assert {"vendor_id", "device_id", "target_graphics_version"} <= set(asic)
        assert isinstance(ready.amdsmi_get_gpu_device_uuid(handle), str)
        assert BDF.match(ready.amdsmi_get_gpu_device_bdf(handle))
        vram = ready.amdsmi_get_gpu_vram_info(handle)
        assert isinstance(vram["vram_size"], int)
        assert vram["vram_size"] > 0
        driver = ready.amdsmi_get_gpu_driver_info(handle)
        assert driver["driver_name"]
        assert driver["driver_version"]


def test_a_handle_of_the_wrong_type_is_refused(ready: AmdSmiApi) -> None:
    with pytest.raises(ready.AmdSmiException):
        ready.amdsmi_get_gpu_asic_info("not a handle")


def test_probe_lists_every_device_in_handle_order(ready: AmdSmiApi) -> None:
    gpus = amd_gpus(ready)
    assert [g.index for g in gpus] == list(range(len(ready.amdsmi_get_processor_handles())))
    assert len({g.pci_bus_id for g in gpus}) == len(gpus)
    assert all(g.vendor is GpuVendor.AMD and g.memory_bytes > 0 for g in gpus)


def test_sim_serves_the_profile(tmp_path: Path) -> None:
    state = tmp_path / "gpus.json"
    write_gpu_state(state, gpu_state_for(PROFILES["mi300a"], "nid000003"))
    sim = SimAmdSmi(state)
    sim.amdsmi_init()
    gpus = amd_gpus(sim)
    assert [g.model for g in gpus] == ["AMD Instinct MI300A"] * 4
    assert {g.memory_bytes for g in gpus} == {128 * 1024**3}
    assert {g.driver_version for g in gpus} == {"6.10.5"}
    handle = sim.amdsmi_get_processor_handles()[0]
    assert sim.amdsmi_get_gpu_asic_info(handle)["target_graphics_version"] == "gfx942"
