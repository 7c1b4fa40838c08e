"""The NvmlApi port's contract, held by SimNvml and (on a GPU node, `-m gpu`) by pynvml itself."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from agent.checks.nvidia_events import NvmlXidEvents
from agent.checks.nvidia_thermal import read_clock_reasons, read_temperature
from agent.probes.gpu_nvidia import NvmlApi, NvmlInventoryApi, field_value, nvidia_gpus, text
from agent.profiles import PROFILES
from agent.sim.events import append_event, event_log
from agent.sim.nvml import SimNvml
from agent.sim.nvml_health import NvmlConstants
from agent.sim.tree import gpu_state_for, write_gpu_state
from vcbase.domain import GpuVendor

T = TypeVar("T")

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


# -- the health and event calls ---------------------------------------------------------------
# On a real GPU these assert types and ranges only: the values are the hardware's own, and a
# feature the part lacks (C2C off Grace Hopper, row remapping before Ampere) may answer
# NVML_ERROR_NOT_SUPPORTED.

_PORT_CALLS = sorted(
    {
        name
        for port in (NvmlInventoryApi, NvmlApi)
        for name, member in vars(port).items()
        if name.startswith("nvml") and callable(member)
    }
)
_PORT_CONSTANTS = list(NvmlApi.__annotations__)


def test_pynvml_has_every_call_and_constant_of_the_port() -> None:
    import pynvml

    assert len(_PORT_CALLS) == 31 and "nvmlDeviceGetName" in _PORT_CALLS
    assert [n for n in _PORT_CALLS + _PORT_CONSTANTS if not hasattr(pynvml, n)] == []


def test_sim_calls_take_pynvml_arguments_and_constants_are_pynvml_values() -> None:
    import pynvml

    for name in _PORT_CALLS:
        real = list(inspect.signature(getattr(pynvml, name)).parameters)
        sim = list(inspect.signature(getattr(SimNvml, name)).parameters)[1:]  # minus self
        assert sim == real, name
    for name in [n for n in vars(NvmlConstants) if not n.startswith("_")]:
        assert getattr(SimNvml, name) == getattr(pynvml, name), name


def _maybe(api: NvmlApi, call: Callable[..., T], *args: object) -> T | None:
    """`call(*args)`, or None where the part lacks the feature (or the link index)."""
    try:
        return call(*args)
    except api.NVMLError as exc:
        code = getattr(exc, "value", None)
        if code in (api.NVML_ERROR_NOT_SUPPORTED, api.NVML_ERROR_INVALID_ARGUMENT):
            return None
        raise


def _is_count(value: object) -> bool:
    return isinstance(value, int) and value >= 0


def _check_memory(api: NvmlApi, handle: object) -> None:
    unc = api.NVML_MEMORY_ERROR_TYPE_UNCORRECTED
    for counter in (api.NVML_VOLATILE_ECC, api.NVML_AGGREGATE_ECC):
        total = _maybe(api, api.nvmlDeviceGetTotalEccErrors, handle, unc, counter)
        assert total is None or _is_count(total)
        sram = _maybe(
            api,
            api.nvmlDeviceGetMemoryErrorCounter,
            handle,
            unc,
            counter,
            api.NVML_MEMORY_LOCATION_SRAM,
        )
        assert sram is None or _is_count(sram)
    rows = _maybe(api, api.nvmlDeviceGetRemappedRows, handle)
    if api.nvmlDeviceGetArchitecture(handle) >= api.NVML_DEVICE_ARCH_AMPERE:
        assert rows is not None and len(rows) == 4 and all(_is_count(v) for v in rows)
    else:
        pages = api.nvmlDeviceGetRetiredPages(
            handle, api.NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR
        )
        assert all(_is_count(p) for p in pages)


def _check_thermal_and_links(api: NvmlApi, handle: object) -> None:
    assert 0 < read_temperature(api, handle) < 120
    slowdown = _maybe(
        api, api.nvmlDeviceGetTemperatureThreshold, handle, api.NVML_TEMPERATURE_THRESHOLD_SLOWDOWN
    )
    assert slowdown is None or 40 < slowdown < 130
    assert _is_count(read_clock_reasons(api, handle))
    current = _maybe(api, api.nvmlDeviceGetCurrPcieLinkWidth, handle)
    widest = _maybe(api, api.nvmlDeviceGetMaxPcieLinkWidth, handle)
    if current is not None and widest is not None:
        assert 1 <= current <= widest <= 32
    for link in range(api.NVML_NVLINK_MAX_LINKS):
        state = _maybe(api, api.nvmlDeviceGetNvLinkState, handle, link)
        if state is None:
            continue
        assert state in (0, 1)
        replay = _maybe(
            api, api.nvmlDeviceGetNvLinkErrorCounter, handle, link, api.NVML_NVLINK_ERROR_DL_REPLAY
        )
        assert replay is None or _is_count(replay)


def test_health_calls_answer_in_nvml_shapes(ready: NvmlApi) -> None:
    for index in range(ready.nvmlDeviceGetCount()):
        handle = ready.nvmlDeviceGetHandleByIndex(index)
        assert ready.nvmlDeviceGetIndex(handle) == index
        assert isinstance(ready.nvmlDeviceGetArchitecture(handle), int)
        _check_memory(ready, handle)
        _check_thermal_and_links(ready, handle)
        (entry,) = ready.nvmlDeviceGetFieldValues(
            handle, [ready.NVML_FI_DEV_GET_GPU_RECOVERY_ACTION]
        )
        assert isinstance(entry.nvmlReturn, int)
        if entry.nvmlReturn == ready.NVML_SUCCESS:
            assert _is_count(field_value(ready, entry))
        if "GH200" in text(ready.nvmlDeviceGetName(handle)):
            assert ready.nvmlDeviceGetC2cModeInfoV(handle).isC2cEnabled in (0, 1)


def test_an_event_wait_without_xids_times_out(ready: NvmlApi) -> None:
    event_set = ready.nvmlEventSetCreate()
    try:
        handle = ready.nvmlDeviceGetHandleByIndex(0)
        try:
            ready.nvmlDeviceRegisterEvents(handle, ready.nvmlEventTypeXidCriticalError, event_set)
        except ready.NVMLError as exc:
            if getattr(exc, "value", None) != ready.NVML_ERROR_NOT_SUPPORTED:
                raise
            pytest.skip("this GPU (or container) does not deliver XID events")
        with pytest.raises(ready.NVMLError) as caught:
            ready.nvmlEventSetWait_v2(event_set, 1)
        assert getattr(caught.value, "value", None) == ready.NVML_ERROR_TIMEOUT
    finally:
        ready.nvmlEventSetFree(event_set)


def _sim(tmp_path: Path, profile: str) -> SimNvml:
    state = tmp_path / "gpus.json"
    write_gpu_state(state, gpu_state_for(PROFILES[profile], "nid000003"))
    sim = SimNvml(state)
    sim.nvmlInit()
    return sim


def test_sim_event_set_delivers_the_xids_of_registered_gpus(tmp_path: Path) -> None:
    sim = _sim(tmp_path, "gh200")
    event_set = sim.nvmlEventSetCreate()
    sim.nvmlDeviceRegisterEvents(
        sim.nvmlDeviceGetHandleByIndex(1), sim.nvmlEventTypeXidCriticalError, event_set
    )
    log = event_log(tmp_path, "nvml")
    append_event(log, "xid", "gpu0", xid=79)  # gpu0 is not registered
    append_event(log, "xid", "gpu1", xid=48)
    data = sim.nvmlEventSetWait_v2(event_set, 5000)
    assert (data.eventType, data.eventData) == (sim.nvmlEventTypeXidCriticalError, 48)
    assert sim.nvmlDeviceGetIndex(data.device) == 1
    with pytest.raises(sim.NVMLError) as caught:
        sim.nvmlEventSetWait_v2(event_set, 0)
    assert caught.value.value == sim.NVML_ERROR_TIMEOUT
    with pytest.raises(sim.NVMLError) as caught:
        sim.nvmlDeviceRegisterEvents(sim.nvmlDeviceGetHandleByIndex(0), 1 << 40, event_set)
    assert caught.value.value == sim.NVML_ERROR_NOT_SUPPORTED
    sim.nvmlEventSetFree(event_set)
    with pytest.raises(sim.NVMLError) as caught:
        sim.nvmlEventSetWait_v2(event_set, 0)
    assert caught.value.value == sim.NVML_ERROR_INVALID_ARGUMENT


def test_sim_says_not_supported_where_the_part_would(tmp_path: Path) -> None:
    sim = _sim(tmp_path, "a100")
    handle = sim.nvmlDeviceGetHandleByIndex(0)
    calls: list[tuple[Callable[..., object], tuple[object, ...], int]] = [
        (sim.nvmlDeviceGetC2cModeInfoV, (), sim.NVML_ERROR_NOT_SUPPORTED),  # no Grace here
        (sim.nvmlDeviceGetRetiredPages, (0,), sim.NVML_ERROR_NOT_SUPPORTED),  # Ampere remaps
        (sim.nvmlDeviceGetNvLinkState, (12,), sim.NVML_ERROR_NOT_SUPPORTED),  # A100: 12 links
        (sim.nvmlDeviceGetNvLinkState, (36,), sim.NVML_ERROR_INVALID_ARGUMENT),
        (sim.nvmlDeviceGetTotalEccErrors, (5, 0), sim.NVML_ERROR_INVALID_ARGUMENT),
    ]
    for call, args, code in calls:
        with pytest.raises(sim.NVMLError) as caught:
            call(handle, *args)
        assert caught.value.value == code, call
    (unknown,) = sim.nvmlDeviceGetFieldValues(handle, [299])
    assert unknown.nvmlReturn == sim.NVML_ERROR_NOT_SUPPORTED
    assert sim.nvmlDeviceGetNvLinkState(handle, 11) == sim.NVML_FEATURE_ENABLED


def test_the_xid_event_source_runs_over_the_adapter(ready: NvmlApi) -> None:
    source = NvmlXidEvents(ready)
    try:
        assert set(source.subjects) <= {f"gpu{i}" for i in range(ready.nvmlDeviceGetCount())}
        assert source.wait(0.01) == []
    finally:
        source.close()
