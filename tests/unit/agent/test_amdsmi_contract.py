"""The AmdSmiApi port's contract, held by SimAmdSmi and (on an AMD node, `-m gpu`) by amdsmi."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.probes.gpu_amd import (
    AMDSMI_MEM_PAGE_STATUS_PENDING,
    AMDSMI_MEM_PAGE_STATUS_RESERVED,
    AMDSMI_MEM_PAGE_STATUS_UNRESERVABLE,
    AMDSMI_STATUS_NOT_SUPPORTED,
    DEVICE_GONE_STATUSES,
    AmdSmiApi,
    amd_gpus,
    amdsmi_error_code,
    is_amd_gpu_type,
)
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


# The calls the AMD health checks make (agent.checks.amd). Shapes and types, never simulated
# values, so the same assertions hold on a real MI250X or MI300A.


def _supported(api: AmdSmiApi, exc: Exception) -> None:
    """Re-raise unless the library said AMDSMI_STATUS_NOT_SUPPORTED (allowed on real GPUs)."""
    if amdsmi_error_code(exc) != AMDSMI_STATUS_NOT_SUPPORTED:
        raise exc


def test_every_handle_is_an_amd_gpu(ready: AmdSmiApi) -> None:
    for handle in ready.amdsmi_get_processor_handles():
        kind = ready.amdsmi_get_processor_type(handle)
        assert isinstance(kind["processor_type"], str)
        assert is_amd_gpu_type(kind)


def test_total_ecc_count_has_three_counters(ready: AmdSmiApi) -> None:
    for handle in ready.amdsmi_get_processor_handles():
        counts = ready.amdsmi_get_gpu_total_ecc_count(handle)
        for key in ("correctable_count", "uncorrectable_count", "deferred_count"):
            assert isinstance(counts[key], int)
            assert counts[key] >= 0


def test_bad_page_records_have_an_address_size_and_status(ready: AmdSmiApi) -> None:
    statuses = {
        AMDSMI_MEM_PAGE_STATUS_RESERVED,
        AMDSMI_MEM_PAGE_STATUS_PENDING,
        AMDSMI_MEM_PAGE_STATUS_UNRESERVABLE,
    }
    for handle in ready.amdsmi_get_processor_handles():
        try:
            records = ready.amdsmi_get_gpu_bad_page_info(handle)
        except ready.AmdSmiException as exc:
            _supported(ready, exc)
            continue
        assert isinstance(records, list)
        for position, record in enumerate(records):
            assert record["value"] == position
            assert isinstance(record["page_address"], int)
            assert isinstance(record["page_size"], int) and record["page_size"] > 0
            assert record["status"] in statuses


def test_xgmi_error_status_is_an_xgmi_status(ready: AmdSmiApi) -> None:
    for handle in ready.amdsmi_get_processor_handles():
        try:
            status = ready.amdsmi_gpu_xgmi_error_status(handle)
        except ready.AmdSmiException as exc:
            _supported(ready, exc)
            continue
        assert isinstance(status, int)
        assert status in (0, 1, 2)  # NO_ERRORS, ERROR, MULTIPLE_ERRORS


def test_xgmi_link_status_lists_each_link(ready: AmdSmiApi) -> None:
    if getattr(ready, "amdsmi_get_gpu_xgmi_link_status", None) is None:
        pytest.skip("amdsmi before ROCm 6.4 has no xGMI link status")
    for handle in ready.amdsmi_get_processor_handles():
        try:
            answer = ready.amdsmi_get_gpu_xgmi_link_status(handle)
        except ready.AmdSmiException as exc:
            _supported(ready, exc)
            continue
        assert isinstance(answer["total_links"], int)
        assert 0 < answer["total_links"] <= 64  # AMDSMI_MAX_NUM_XGMI_PHYSICAL_LINK
        assert len(answer["status"]) == answer["total_links"]
        assert set(answer["status"]) <= {"U", "D", "X", "N/A"}


def test_some_temperature_sensor_reads_degrees_celsius(ready: AmdSmiApi) -> None:
    types, metrics = ready.AmdSmiTemperatureType, ready.AmdSmiTemperatureMetric
    for handle in ready.amdsmi_get_processor_handles():
        readings = {}
        for sensor in (types.HOTSPOT, types.EDGE):
            try:
                readings[sensor] = ready.amdsmi_get_temp_metric(handle, sensor, metrics.CURRENT)
            except ready.AmdSmiException as exc:
                _supported(ready, exc)
        assert readings, "neither the hotspot nor the edge sensor reads"
        assert all(isinstance(t, int) and 0 < t < 150 for t in readings.values())
        for sensor, current in readings.items():
            try:
                critical = ready.amdsmi_get_temp_metric(handle, sensor, metrics.CRITICAL)
            except ready.AmdSmiException as exc:
                _supported(ready, exc)
                continue
            assert isinstance(critical, int)
            assert current < critical < 200


def test_temperature_enums_must_be_the_librarys_own(ready: AmdSmiApi) -> None:
    handle = ready.amdsmi_get_processor_handles()[0]
    current = ready.AmdSmiTemperatureMetric.CURRENT
    with pytest.raises(ready.AmdSmiException):
        ready.amdsmi_get_temp_metric(handle, int(ready.AmdSmiTemperatureType.HOTSPOT), current)


def test_a_lost_device_answers_io_error(tmp_path: Path) -> None:
    state = tmp_path / "gpus.json"
    healthy = gpu_state_for(PROFILES["mi250x"], "nid000001")
    write_gpu_state(state, healthy)
    sim = SimAmdSmi(state)
    sim.amdsmi_init()
    handle = sim.amdsmi_get_processor_handles()[3]
    lost = dataclasses.replace(healthy.devices[3], lost=True)
    devices = (*healthy.devices[:3], lost, *healthy.devices[4:])
    write_gpu_state(state, dataclasses.replace(healthy, devices=devices))
    with pytest.raises(sim.AmdSmiException) as caught:
        sim.amdsmi_get_gpu_total_ecc_count(handle)
    assert amdsmi_error_code(caught.value) in DEVICE_GONE_STATUSES


@pytest.mark.parametrize(
    ("name", "gpu"),
    [
        ("AMDSMI_PROCESSOR_TYPE_AMD_GPU", True),
        ("AMD_GPU", True),
        ("AMD_APU", True),
        ("AMD_CPU", False),
        ("AMD_CPU_CORE", False),
        ("AMDSMI_PROCESSOR_TYPE_NON_AMD_GPU", False),
    ],
)
def test_processor_type_spellings_of_every_release(name: str, gpu: bool) -> None:
    assert is_amd_gpu_type({"processor_type": name}) is gpu
