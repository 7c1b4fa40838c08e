"""The simulated NVIDIA GPUs' health: what SimNvml's health calls answer, device by device.

Kept in <state_dir>/sim/nvidia.json beside gpus.json, as {"schema": 1, "devices": {"gpu0":
{field: value, ...}}}. A device without an entry, or a field left out of one, has the healthy
default of its model (from the device's name in gpus.json: GH200, A100, anything else is taken
for a Hopper), so a node built by `agent.sim.tree` needs no file at all. SimNvml reads the file
on every call; `update_health` rewrites it atomically (fault injection from another process).

Values are in NVML's own vocabulary: architecture codes, clocks-event-reason bits and GPU
recovery actions are the pynvml constants that `NvmlConstants` lists under pynvml's names (the
contract tests compare them with pynvml's). NVLink counts are the parts' own: 18 links on a
Hopper (GH200, H100 SXM), 12 on an A100 SXM4; C2C exists only on Grace Hopper.
"""

from __future__ import annotations

import dataclasses
import fcntl
import functools
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.sim.statefile import stat_cache
from agent.sim.tree import GPU_STATE_FILE, atomic_write, read_gpu_state

HEALTH_FILE = "nvidia.json"
_GPU = re.compile(r"^gpu(\d+)$")


class NvmlConstants:
    """The NVML constants SimNvml serves as attributes, as the pynvml module does."""

    NVML_SUCCESS = 0
    NVML_ERROR_UNINITIALIZED = 1
    NVML_ERROR_INVALID_ARGUMENT = 2
    NVML_ERROR_NOT_SUPPORTED = 3
    NVML_ERROR_NOT_FOUND = 6
    NVML_ERROR_TIMEOUT = 10
    NVML_ERROR_FUNCTION_NOT_FOUND = 13
    NVML_ERROR_GPU_IS_LOST = 15
    NVML_ERROR_UNKNOWN = 999
    nvmlEventTypeSingleBitEccError = 0x1
    nvmlEventTypeDoubleBitEccError = 0x2
    nvmlEventTypeXidCriticalError = 0x8
    NVML_FEATURE_DISABLED = 0
    NVML_FEATURE_ENABLED = 1
    NVML_DEVICE_ARCH_VOLTA = 5
    NVML_DEVICE_ARCH_AMPERE = 7
    NVML_DEVICE_ARCH_HOPPER = 9
    NVML_MEMORY_ERROR_TYPE_CORRECTED = 0
    NVML_MEMORY_ERROR_TYPE_UNCORRECTED = 1
    NVML_VOLATILE_ECC = 0
    NVML_AGGREGATE_ECC = 1
    NVML_MEMORY_LOCATION_DRAM = 2
    NVML_MEMORY_LOCATION_SRAM = 7
    NVML_PAGE_RETIREMENT_CAUSE_MULTIPLE_SINGLE_BIT_ECC_ERRORS = 0
    NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR = 1
    NVML_TEMPERATURE_GPU = 0
    NVML_TEMPERATURE_THRESHOLD_SHUTDOWN = 0
    NVML_TEMPERATURE_THRESHOLD_SLOWDOWN = 1
    nvmlClocksEventReasonGpuIdle = 0x1
    nvmlClocksEventReasonSwPowerCap = 0x4
    nvmlClocksEventReasonHwSlowdown = 0x8
    nvmlClocksEventReasonSwThermalSlowdown = 0x20
    nvmlClocksEventReasonHwThermalSlowdown = 0x40
    nvmlClocksEventReasonHwPowerBrakeSlowdown = 0x80
    NVML_NVLINK_MAX_LINKS = 36
    NVML_NVLINK_ERROR_DL_REPLAY = 0
    NVML_NVLINK_ERROR_DL_RECOVERY = 1
    NVML_NVLINK_ERROR_DL_CRC_FLIT = 2
    NVML_NVLINK_ERROR_DL_CRC_DATA = 3
    NVML_NVLINK_ERROR_COUNT = 5
    NVML_FI_DEV_ECC_DBE_VOL_TOTAL = 4
    NVML_FI_DEV_ECC_DBE_AGG_TOTAL = 6
    NVML_FI_DEV_GET_GPU_RECOVERY_ACTION = 230
    NVML_VALUE_TYPE_DOUBLE = 0
    NVML_VALUE_TYPE_UNSIGNED_INT = 1
    NVML_VALUE_TYPE_UNSIGNED_LONG = 2
    NVML_VALUE_TYPE_UNSIGNED_LONG_LONG = 3
    NVML_VALUE_TYPE_SIGNED_LONG_LONG = 4
    NVML_VALUE_TYPE_SIGNED_INT = 5
    NVML_VALUE_TYPE_UNSIGNED_SHORT = 6
    NVML_GPU_RECOVERY_ACTION_NONE = 0
    NVML_GPU_RECOVERY_ACTION_GPU_RESET = 1
    NVML_GPU_RECOVERY_ACTION_NODE_REBOOT = 2
    NVML_GPU_RECOVERY_ACTION_DRAIN_P2P = 3
    NVML_GPU_RECOVERY_ACTION_DRAIN_AND_RESET = 4


C = NvmlConstants


@dataclass(frozen=True, slots=True)
class SimNvLink:
    """One NVLink: up or down, and its data-link error counters (since the driver loaded)."""

    active: bool = True
    replay: int = 0
    recovery: int = 0
    crc_flit: int = 0
    crc_data: int = 0


@dataclass(frozen=True, slots=True)
class SimGpuHealth:
    """Everything the health calls answer for one device. Counters are totals, as NVML's are."""

    architecture: int
    ecc_volatile_corrected: int = 0
    ecc_volatile_uncorrected: int = 0
    ecc_aggregate_corrected: int = 0
    ecc_aggregate_uncorrected: int = 0
    sram_volatile_uncorrected: int = 0
    sram_aggregate_uncorrected: int = 0
    remapped_correctable: int = 0
    remapped_uncorrectable: int = 0
    remap_pending: bool = False
    remap_failure: bool = False
    retired_pages_sbe: int = 0  # pre-Ampere page retirement only
    retired_pages_dbe: int = 0
    retired_pending: bool = False
    temperature_c: int = 38
    slowdown_c: int = 87
    shutdown_c: int = 92
    clocks_event_reasons: int = C.nvmlClocksEventReasonGpuIdle  # an idle GPU says so
    pcie_width_current: int = 16
    pcie_width_max: int = 16
    nvlinks: tuple[SimNvLink, ...] = ()
    c2c_enabled: bool | None = None  # None: the part has no C2C link (NOT_SUPPORTED)
    recovery_action: int = C.NVML_GPU_RECOVERY_ACTION_NONE


# What health calls return, shaped like pynvml's ctypes structs.
@dataclass(frozen=True, slots=True)
class SimValue:
    """c_nvmlValue_t: only the member the field's value type names is meaningful."""

    dVal: float = 0.0
    uiVal: int = 0
    ulVal: int = 0
    ullVal: int = 0
    sllVal: int = 0
    siVal: int = 0
    usVal: int = 0


@dataclass(frozen=True, slots=True)
class SimFieldValue:
    fieldId: int
    scopeId: int
    timestamp: int
    latencyUsec: int
    valueType: int
    nvmlReturn: int
    value: SimValue


@dataclass(frozen=True, slots=True)
class SimC2cModeInfo:
    isC2cEnabled: int


@functools.lru_cache(maxsize=32)
def defaults_for(model: str) -> SimGpuHealth:
    """The healthy state of a device whose NVML name is `model`."""
    if "A100" in model:
        links = tuple(SimNvLink() for _ in range(12))
        return SimGpuHealth(C.NVML_DEVICE_ARCH_AMPERE, slowdown_c=89, nvlinks=links)
    links = tuple(SimNvLink() for _ in range(18))
    return SimGpuHealth(C.NVML_DEVICE_ARCH_HOPPER, nvlinks=links, c2c_enabled="GH200" in model)


def gpu_index(device: str) -> int:
    """The NVML index of a device named "gpuN". ValueError naming the device otherwise."""
    match = _GPU.match(device)
    if match is None:
        raise ValueError(f"device: {device!r} is not a GPU name like 'gpu0'")
    return int(match.group(1))


def _parse_link(raw: Any, where: str) -> SimNvLink:
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: not an object")
    known = {f.name for f in dataclasses.fields(SimNvLink)}
    for key, value in raw.items():
        if key not in known:
            raise ValueError(f"{where}.{key}: unknown field")
        wanted = bool if key == "active" else int
        if type(value) is not wanted:
            raise ValueError(f"{where}.{key}: expected {wanted.__name__}, got {value!r}")
    return SimNvLink(**raw)


def _overlay(base: SimGpuHealth, raw: Any, where: str) -> SimGpuHealth:
    """`base` with the fields `raw` sets; ValueError naming the first bad field."""
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: not an object")
    defaults = {f.name: getattr(base, f.name) for f in dataclasses.fields(SimGpuHealth)}
    changes: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in defaults:
            raise ValueError(f"{where}.{key}: unknown field")
        if key == "nvlinks":
            if not isinstance(value, list):
                raise ValueError(f"{where}.nvlinks: not a list")
            value = tuple(_parse_link(v, f"{where}.nvlinks[{i}]") for i, v in enumerate(value))
        elif key == "c2c_enabled":
            if value is not None and type(value) is not bool:
                raise ValueError(f"{where}.c2c_enabled: expected bool or null, got {value!r}")
        elif type(value) is not type(defaults[key]):
            wanted = type(defaults[key]).__name__
            raise ValueError(f"{where}.{key}: expected {wanted}, got {value!r}")
        changes[key] = value
    return dataclasses.replace(base, **changes)


def _load(path: Path) -> dict[str, Any]:
    """The file's devices section; {} when there is no file."""
    try:
        doc: Any = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    if not isinstance(doc, dict) or not isinstance(doc.get("devices", {}), dict):
        raise ValueError(f"{path}: expected an object with a 'devices' object")
    devices: dict[str, Any] = doc.get("devices", {})
    return devices


@stat_cache(lambda sim_dir, device, model: sim_dir / HEALTH_FILE)
def read_health(sim_dir: Path, device: str, model: str) -> SimGpuHealth:
    """The health of `device` ("gpuN", whose NVML name is `model`). Blocking.

    OSError when the file exists but cannot be read; ValueError naming the field when it is
    malformed.
    """
    path = sim_dir / HEALTH_FILE
    raw = _load(path).get(device)
    base = defaults_for(model)
    return base if raw is None else _overlay(base, raw, f"{path}: devices.{device}")


def _model(sim_dir: Path, device: str) -> str:
    devices = read_gpu_state(sim_dir / GPU_STATE_FILE).devices
    index = gpu_index(device)
    if index >= len(devices):
        raise ValueError(f"device: {device} does not exist (the node has {len(devices)} GPUs)")
    return devices[index].name


def update_health(
    sim_dir: Path, device: str, change: Callable[[SimGpuHealth], SimGpuHealth]
) -> SimGpuHealth:
    """Apply `change` to the health of `device` and save it atomically. Returns the new state.

    Updates from several processes are serialised by a lock file; readers never need it (the
    file is replaced whole). ValueError for a device the node does not have.
    """
    path = sim_dir / HEALTH_FILE
    with (sim_dir / f".{HEALTH_FILE}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        devices = _load(path)
        current = read_health(sim_dir, device, _model(sim_dir, device))
        new = change(current)
        devices[device] = dataclasses.asdict(new)
        atomic_write(path, json.dumps({"schema": 1, "devices": devices}, indent=1) + "\n")
    return new


def restore(sim_dir: Path, device: str, *names: str) -> SimGpuHealth:
    """Put the named fields of `device` back to its model's healthy defaults."""
    healthy = defaults_for(_model(sim_dir, device))
    values: Mapping[str, Any] = {name: getattr(healthy, name) for name in names}
    return update_health(sim_dir, device, lambda h: dataclasses.replace(h, **values))
