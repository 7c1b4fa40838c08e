"""`SimNvml`: the NvmlApi port served from the simulated node's files.

Same names, arguments and return shapes as pynvml: names and uuids as str, `busId` as bytes (a
ctypes char array in pynvml), memory in bytes; failures raise `SimNvmlError`, shaped like
pynvml's NVMLError (an int `.value` holding the NVML_ERROR_* code, NVML's message as str()).

Where the answers come from, all read on every call so that another process (fault injection)
changes them under a running agent:
- gpus.json (`agent.sim.tree`): the devices. One removed from the list is gone from the count;
  a handle to it, like one to a device marked `lost`, fails with NVML_ERROR_GPU_IS_LOST.
- nvidia.json (`agent.sim.nvml_health`): ECC, row remapping, temperature, throttling, PCIe,
  NVLink, C2C and recovery-action state, healthy by default. A feature the simulated part does
  not have answers NVML_ERROR_NOT_SUPPORTED, as the real part would.
- events/nvml.jsonl (`agent.sim.nvml_events`): XIDs. An event set sees the `xid` events appended
  after it was created, for the devices registered on it (see `nvmlEventSetWait_v2`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from agent.sim.nvml_events import SUPPORTED_EVENTS, SimEventData, SimEventSet
from agent.sim.nvml_health import (
    NvmlConstants,
    SimC2cModeInfo,
    SimFieldValue,
    SimGpuHealth,
    SimNvLink,
    SimValue,
    read_health,
)
from agent.sim.tree import SimGpu, SimGpuState, read_gpu_state

C = NvmlConstants
NVML_ERROR_UNINITIALIZED = C.NVML_ERROR_UNINITIALIZED
NVML_ERROR_INVALID_ARGUMENT = C.NVML_ERROR_INVALID_ARGUMENT
NVML_ERROR_NOT_SUPPORTED = C.NVML_ERROR_NOT_SUPPORTED
NVML_ERROR_NOT_FOUND = C.NVML_ERROR_NOT_FOUND
NVML_ERROR_TIMEOUT = C.NVML_ERROR_TIMEOUT
NVML_ERROR_GPU_IS_LOST = C.NVML_ERROR_GPU_IS_LOST
NVML_ERROR_UNKNOWN = C.NVML_ERROR_UNKNOWN

_MESSAGES = {
    NVML_ERROR_UNINITIALIZED: "Uninitialized",
    NVML_ERROR_INVALID_ARGUMENT: "Invalid Argument",
    NVML_ERROR_NOT_SUPPORTED: "Not Supported",
    NVML_ERROR_NOT_FOUND: "Not Found",
    NVML_ERROR_TIMEOUT: "Timeout",
    NVML_ERROR_GPU_IS_LOST: "GPU is lost",
    NVML_ERROR_UNKNOWN: "Unknown Error",
}


class SimNvmlError(Exception):
    """Shaped like pynvml.NVMLError: `.value` is the NVML return code."""

    def __init__(self, value: int) -> None:
        super().__init__(value)
        self.value = value

    def __str__(self) -> str:
        return _MESSAGES.get(self.value, f"NVML error {self.value}")


@dataclass(frozen=True, slots=True)
class SimNvmlHandle:
    """A device handle: the index it was taken at and the uuid it named then."""

    index: int
    uuid: str


@dataclass(frozen=True, slots=True)
class SimPciInfo:
    busId: bytes
    domain: int
    bus: int
    device: int


@dataclass(frozen=True, slots=True)
class SimMemoryInfo:
    total: int
    free: int
    used: int


class SimNvml(NvmlConstants):
    """NVML over the simulated node's files. Init is reference-counted like NVML's; calls
    before it fail with NVML_ERROR_UNINITIALIZED."""

    NVMLError = SimNvmlError

    def __init__(self, state_path: Path) -> None:
        self._state_path = state_path
        self._sim_dir = state_path.parent
        self._inits = 0

    def _state(self) -> SimGpuState:
        if self._inits == 0:
            raise SimNvmlError(NVML_ERROR_UNINITIALIZED)
        try:
            return read_gpu_state(self._state_path)
        except (OSError, ValueError) as exc:
            raise SimNvmlError(NVML_ERROR_UNKNOWN) from exc

    def _device(self, handle: object) -> SimGpu:
        state = self._state()
        if not isinstance(handle, SimNvmlHandle):
            raise SimNvmlError(NVML_ERROR_INVALID_ARGUMENT)
        devices = state.devices
        if handle.index >= len(devices) or devices[handle.index].uuid != handle.uuid:
            raise SimNvmlError(NVML_ERROR_GPU_IS_LOST)
        device = devices[handle.index]
        if device.lost:
            raise SimNvmlError(NVML_ERROR_GPU_IS_LOST)
        return device

    def _health(self, handle: object) -> SimGpuHealth:
        device = self._device(handle)
        assert isinstance(handle, SimNvmlHandle)  # _device checked it
        try:
            return read_health(self._sim_dir, f"gpu{handle.index}", device.name)
        except (OSError, ValueError) as exc:
            raise SimNvmlError(NVML_ERROR_UNKNOWN) from exc

    # -- library and inventory ------------------------------------------------------------------
    def nvmlInit(self) -> None:
        self._inits += 1
        try:
            self._state()
        except SimNvmlError:
            self._inits -= 1
            raise

    def nvmlShutdown(self) -> None:
        if self._inits == 0:
            raise SimNvmlError(NVML_ERROR_UNINITIALIZED)
        self._inits -= 1

    def nvmlSystemGetDriverVersion(self) -> str:
        return self._state().driver_version

    def nvmlDeviceGetCount(self) -> int:
        return len(self._state().devices)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> SimNvmlHandle:
        devices = self._state().devices
        if not 0 <= index < len(devices):
            raise SimNvmlError(NVML_ERROR_INVALID_ARGUMENT)
        return SimNvmlHandle(index, devices[index].uuid)

    def nvmlDeviceGetIndex(self, handle: object) -> int:
        self._device(handle)
        assert isinstance(handle, SimNvmlHandle)
        return handle.index

    def nvmlDeviceGetName(self, handle: object) -> str:
        return self._device(handle).name

    def nvmlDeviceGetUUID(self, handle: object) -> str:
        return self._device(handle).uuid

    def nvmlDeviceGetPciInfo(self, handle: object) -> SimPciInfo:
        bus_id = self._device(handle).pci_bus_id
        domain, bus, rest = bus_id.split(":")
        return SimPciInfo(bus_id.encode(), int(domain, 16), int(bus, 16), int(rest[:2], 16))

    def nvmlDeviceGetMemoryInfo(self, handle: object, version: int | None = None) -> SimMemoryInfo:
        total = self._device(handle).memory_bytes
        reserved = min(total, 512 * 1024 * 1024)
        return SimMemoryInfo(total=total, free=total - reserved, used=reserved)

    # -- events ---------------------------------------------------------------------------------
    def nvmlEventSetCreate(self) -> SimEventSet:
        self._state()
        return SimEventSet(self._sim_dir)

    def _event_set(self, event_set: object) -> SimEventSet:
        self._state()
        if not isinstance(event_set, SimEventSet) or event_set.freed:
            raise SimNvmlError(NVML_ERROR_INVALID_ARGUMENT)
        return event_set

    def nvmlDeviceRegisterEvents(self, handle: object, eventTypes: int, eventSet: object) -> None:
        events = self._event_set(eventSet)
        device = self._device(handle)
        if eventTypes & ~SUPPORTED_EVENTS:
            raise SimNvmlError(NVML_ERROR_NOT_SUPPORTED)
        events.register(device.uuid, eventTypes)

    def nvmlEventSetWait_v2(self, eventSet: object, timeoutms: int) -> SimEventData:
        """The next XID of a registered device; NVML_ERROR_TIMEOUT after `timeoutms`."""
        xid = self._event_set(eventSet).next(timeoutms / 1000, lambda: self._state().devices)
        if xid is None:
            raise SimNvmlError(NVML_ERROR_TIMEOUT)
        handle = SimNvmlHandle(xid.index, xid.uuid)
        return SimEventData(handle, C.nvmlEventTypeXidCriticalError, xid.xid)

    def nvmlEventSetFree(self, eventSet: object) -> None:
        self._event_set(eventSet).free()

    # -- memory errors --------------------------------------------------------------------------
    def nvmlDeviceGetTotalEccErrors(self, handle: object, errorType: int, counterType: int) -> int:
        h = self._health(handle)
        counters = {
            (C.NVML_MEMORY_ERROR_TYPE_CORRECTED, C.NVML_VOLATILE_ECC): h.ecc_volatile_corrected,
            (C.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, C.NVML_VOLATILE_ECC): h.ecc_volatile_uncorrected,
            (C.NVML_MEMORY_ERROR_TYPE_CORRECTED, C.NVML_AGGREGATE_ECC): h.ecc_aggregate_corrected,
            (C.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, C.NVML_AGGREGATE_ECC): (
                h.ecc_aggregate_uncorrected
            ),
        }
        if (errorType, counterType) not in counters:
            raise SimNvmlError(NVML_ERROR_INVALID_ARGUMENT)
        return counters[(errorType, counterType)]

    def nvmlDeviceGetMemoryErrorCounter(
        self, handle: object, errorType: int, counterType: int, locationType: int
    ) -> int:
        h = self._health(handle)
        if locationType == C.NVML_MEMORY_LOCATION_DRAM:
            return self.nvmlDeviceGetTotalEccErrors(handle, errorType, counterType)
        if locationType != C.NVML_MEMORY_LOCATION_SRAM:
            raise SimNvmlError(NVML_ERROR_NOT_SUPPORTED)
        if errorType != C.NVML_MEMORY_ERROR_TYPE_UNCORRECTED:
            return 0
        if counterType == C.NVML_VOLATILE_ECC:
            return h.sram_volatile_uncorrected
        if counterType == C.NVML_AGGREGATE_ECC:
            return h.sram_aggregate_uncorrected
        raise SimNvmlError(NVML_ERROR_INVALID_ARGUMENT)

    def nvmlDeviceGetRemappedRows(self, device: object) -> tuple[int, int, int, int]:
        h = self._health(device)
        if h.architecture < C.NVML_DEVICE_ARCH_AMPERE:
            raise SimNvmlError(NVML_ERROR_NOT_SUPPORTED)
        pending, failure = int(h.remap_pending), int(h.remap_failure)
        return (h.remapped_correctable, h.remapped_uncorrectable, pending, failure)

    def nvmlDeviceGetArchitecture(self, device: object) -> int:
        return self._health(device).architecture

    def nvmlDeviceGetRetiredPages(self, device: object, sourceFilter: int) -> list[int]:
        h = self._health(device)
        if h.architecture >= C.NVML_DEVICE_ARCH_AMPERE:
            raise SimNvmlError(NVML_ERROR_NOT_SUPPORTED)
        counts = {
            C.NVML_PAGE_RETIREMENT_CAUSE_MULTIPLE_SINGLE_BIT_ECC_ERRORS: h.retired_pages_sbe,
            C.NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR: h.retired_pages_dbe,
        }
        if sourceFilter not in counts:
            raise SimNvmlError(NVML_ERROR_INVALID_ARGUMENT)
        base = 0x1000_0000 * (sourceFilter + 1)
        return [base + 0x1000 * i for i in range(counts[sourceFilter])]

    def nvmlDeviceGetRetiredPagesPendingStatus(self, device: object) -> int:
        h = self._health(device)
        if h.architecture >= C.NVML_DEVICE_ARCH_AMPERE:
            raise SimNvmlError(NVML_ERROR_NOT_SUPPORTED)
        return C.NVML_FEATURE_ENABLED if h.retired_pending else C.NVML_FEATURE_DISABLED

    def nvmlDeviceGetFieldValues(
        self, handle: object, fieldIds: Sequence[int]
    ) -> list[SimFieldValue]:
        """The fields the sim knows (DBE totals, GPU recovery action); NVML_ERROR_NOT_SUPPORTED
        in the entry's `nvmlReturn` for any other, as NVML does per field."""
        h = self._health(handle)
        known = {
            C.NVML_FI_DEV_ECC_DBE_VOL_TOTAL: (
                C.NVML_VALUE_TYPE_UNSIGNED_LONG_LONG,
                h.ecc_volatile_uncorrected,
            ),
            C.NVML_FI_DEV_ECC_DBE_AGG_TOTAL: (
                C.NVML_VALUE_TYPE_UNSIGNED_LONG_LONG,
                h.ecc_aggregate_uncorrected,
            ),
            C.NVML_FI_DEV_GET_GPU_RECOVERY_ACTION: (
                C.NVML_VALUE_TYPE_UNSIGNED_INT,
                h.recovery_action,
            ),
        }
        stamp = time.time_ns() // 1000
        values = []
        for field_id in fieldIds:
            if field_id not in known:
                values.append(
                    SimFieldValue(field_id, 0, stamp, 0, 0, NVML_ERROR_NOT_SUPPORTED, SimValue())
                )
                continue
            value_type, number = known[field_id]
            value = (
                SimValue(uiVal=number)
                if value_type == C.NVML_VALUE_TYPE_UNSIGNED_INT
                else SimValue(ullVal=number)
            )
            values.append(SimFieldValue(field_id, 0, stamp, 0, value_type, C.NVML_SUCCESS, value))
        return values

    # -- thermal and clocks ---------------------------------------------------------------------
    def nvmlDeviceGetTemperatureV(
        self, handle: object, sensor: int, version: int = 0x100000C
    ) -> int:
        if sensor != C.NVML_TEMPERATURE_GPU:
            raise SimNvmlError(NVML_ERROR_INVALID_ARGUMENT)
        return self._health(handle).temperature_c

    def nvmlDeviceGetTemperature(self, handle: object, sensor: int) -> int:
        return self.nvmlDeviceGetTemperatureV(handle, sensor)

    def nvmlDeviceGetTemperatureThreshold(self, handle: object, threshold: int) -> int:
        h = self._health(handle)
        if threshold == C.NVML_TEMPERATURE_THRESHOLD_SLOWDOWN:
            return h.slowdown_c
        if threshold == C.NVML_TEMPERATURE_THRESHOLD_SHUTDOWN:
            return h.shutdown_c
        raise SimNvmlError(NVML_ERROR_NOT_SUPPORTED)

    def nvmlDeviceGetCurrentClocksEventReasons(self, handle: object) -> int:
        return self._health(handle).clocks_event_reasons

    def nvmlDeviceGetCurrentClocksThrottleReasons(self, handle: object) -> int:
        return self._health(handle).clocks_event_reasons

    # -- links ----------------------------------------------------------------------------------
    def nvmlDeviceGetCurrPcieLinkWidth(self, handle: object) -> int:
        return self._health(handle).pcie_width_current

    def nvmlDeviceGetMaxPcieLinkWidth(self, handle: object) -> int:
        return self._health(handle).pcie_width_max

    def _link(self, device: object, link: int) -> SimNvLink:
        links = self._health(device).nvlinks
        if not 0 <= link < C.NVML_NVLINK_MAX_LINKS:
            raise SimNvmlError(NVML_ERROR_INVALID_ARGUMENT)
        if link >= len(links):
            raise SimNvmlError(NVML_ERROR_NOT_SUPPORTED)
        return links[link]

    def nvmlDeviceGetNvLinkState(self, device: object, link: int) -> int:
        active = self._link(device, link).active
        return C.NVML_FEATURE_ENABLED if active else C.NVML_FEATURE_DISABLED

    def nvmlDeviceGetNvLinkErrorCounter(self, device: object, link: int, counter: int) -> int:
        state = self._link(device, link)
        counters = {
            C.NVML_NVLINK_ERROR_DL_REPLAY: state.replay,
            C.NVML_NVLINK_ERROR_DL_RECOVERY: state.recovery,
            C.NVML_NVLINK_ERROR_DL_CRC_FLIT: state.crc_flit,
            C.NVML_NVLINK_ERROR_DL_CRC_DATA: state.crc_data,
        }
        if not 0 <= counter < C.NVML_NVLINK_ERROR_COUNT:
            raise SimNvmlError(NVML_ERROR_INVALID_ARGUMENT)
        if counter not in counters:
            raise SimNvmlError(NVML_ERROR_NOT_SUPPORTED)
        return counters[counter]

    def nvmlDeviceGetC2cModeInfoV(self, handle: object) -> SimC2cModeInfo:
        enabled = self._health(handle).c2c_enabled
        if enabled is None:
            raise SimNvmlError(NVML_ERROR_NOT_SUPPORTED)
        return SimC2cModeInfo(int(enabled))
