"""The NvmlApi port's contract, held by SimNvml and (on a GPU node, `-m gpu`) by pynvml itself."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.probes.gpu_nvidia import NvmlApi, nvidia_gpus, text
from agent.profiles import PROFILES
from agent.sim.nvml import SimNvml
from agent.sim.tree import gpu_state_for, write_gpu_state
from vcbase.domain import GpuVendor

NVML_ERROR_UNINITIALIZED = 1
NVML_ERROR_INVALID_ARGUMENT = 2
BUS_ID = re.compile(r"^[0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-7]$")


@pytest.fixture(params=["sim", pytest.param("real", marks=pytest.mark.gpu)])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[NvmlApi]:
    """An NVML adapter, not initialised."""
    if request.param == "sim":
        state = tmp_path / "gpus.json"
        write_gpu_state(state, gpu_state_for(PROFILES["gh200"], "nid000001"))
        yield SimNvml(state)
        return
    if not Path("/proc/driver/nvidia/gpus").is_dir():
        pytest.skip("no NVIDIA driver on this machine")
    import pynvml

    real: NvmlApi = pynvml
    yield real


@pytest.fixture
def ready(api: NvmlApi) -> Iterator[NvmlApi]:
    api.nvmlInit()
    yield api
    api.nvmlShutdown()


def test_calls_before_init_fail_uninitialised(api: NvmlApi) -> None:
    with pytest.raises(api.NVMLError) as caught:
        api.nvmlDeviceGetCount()
    assert getattr(caught.value, "value", None) == NVML_ERROR_UNINITIALIZED
    assert str(caught.value)


def test_init_is_counted_and_shutdown_balances_it(api: NvmlApi) -> None:
    api.nvmlInit()
    api.nvmlInit()
    api.nvmlShutdown()
    assert api.nvmlDeviceGetCount() >= 1
    api.nvmlShutdown()
    with pytest.raises(api.NVMLError):
        api.nvmlDeviceGetCount()


def test_devices_have_nvml_shaped_answers(ready: NvmlApi) -> None:
    assert text(ready.nvmlSystemGetDriverVersion())
    count = ready.nvmlDeviceGetCount()
    assert count >= 1
    for index in range(count):
        handle = ready.nvmlDeviceGetHandleByIndex(index)
        assert isinstance(ready.nvmlDeviceGetName(handle), str | bytes)
        assert text(ready.nvmlDeviceGetName(handle)).startswith("NVIDIA")
        assert text(ready.nvmlDeviceGetUUID(handle)).startswith("GPU-")
        assert BUS_ID.match(text(ready.nvmlDeviceGetPciInfo(handle).busId))
        assert ready.nvmlDeviceGetMemoryInfo(handle).total > 0


def test_index_past_the_end_is_an_invalid_argument(ready: NvmlApi) -> None:
    with pytest.raises(ready.NVMLError) as caught:
        ready.nvmlDeviceGetHandleByIndex(ready.nvmlDeviceGetCount())
    assert getattr(caught.value, "value", None) == NVML_ERROR_INVALID_ARGUMENT


def test_probe_lists_every_device_in_index_order(ready: NvmlApi) -> None:
    gpus = nvidia_gpus(ready)
    assert [g.index for g in gpus] == list(range(ready.nvmlDeviceGetCount()))
    assert len({g.uuid for g in gpus}) == len(gpus)
    assert len({g.pci_bus_id for g in gpus}) == len(gpus)
    assert all(g.vendor is GpuVendor.NVIDIA and g.driver_version for g in gpus)


def test_sim_serves_the_profile(tmp_path: Path) -> None:
    state = tmp_path / "gpus.json"
    write_gpu_state(state, gpu_state_for(PROFILES["a100"], "nid000002"))
    sim = SimNvml(state)
    sim.nvmlInit()
    gpus = nvidia_gpus(sim)
    assert [g.model for g in gpus] == ["NVIDIA A100-SXM4-80GB"] * 4
    assert {g.memory_bytes for g in gpus} == {80 * 1024**3}
    assert {g.driver_version for g in gpus} == {"535.183.01"}
    # pynvml gives busId as bytes (a ctypes char array): the sim does too
    assert isinstance(sim.nvmlDeviceGetPciInfo(sim.nvmlDeviceGetHandleByIndex(0)).busId, bytes)
