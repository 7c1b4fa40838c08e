"""`SimAmdSmi`: the AmdSmiApi port served from the simulated node's gpus.json and amd.json.

Same names, arguments and return shapes as the amdsmi python interface (ROCm 6.4+): dicts for the
info calls with amdsmi's keys ("market_name", "vram_size" in MB, "driver_version"), str for the
uuid and the BDF, amdsmi's dict/list shapes for the RAS, xGMI and temperature calls (see
`agent.probes.gpu_amd`). Errors are shaped like amdsmi's: `SimAmdSmiLibraryException` carries
`err_code` (an AMDSMI_STATUS_* value) and `err_info`; a handle or enum of the wrong type raises
`SimAmdSmiParameterException`; both derive from `SimAmdSmiException`. A device marked lost in
gpus.json answers every call with AMDSMI_STATUS_IO; a sensor or metric the model lacks answers
AMDSMI_STATUS_NOT_SUPPORTED. gpus.json and amd.json (`agent.sim.amdsmi_health`, beside it) are
read on every call, so fault injection from another process takes effect on the next call.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.probes.gpu_amd import (
    AMDSMI_PROCESSOR_TYPE_AMD_GPU,
    AMDSMI_STATUS_INVAL,
    AMDSMI_STATUS_IO,
    AMDSMI_STATUS_NOT_FOUND,
    AMDSMI_STATUS_NOT_INIT,
    AMDSMI_STATUS_NOT_SUPPORTED,
    AMDSMI_STATUS_UNKNOWN_ERROR,
    XGMI_LINK_DISABLED,
    XGMI_LINK_DOWN,
    XGMI_LINK_UP,
)
from agent.sim.amdsmi_health import (
    AmdDeviceHealth,
    read_health,
    thermals_for,
    xgmi_topology,
)
from agent.sim.tree import SimGpu, SimGpuState, read_gpu_state

INIT_AMD_GPUS = 2
PAGE_SIZE = 4096  # amdgpu retires VRAM in 4 KiB pages

_INFO = {
    AMDSMI_STATUS_INVAL: "AMDSMI_STATUS_INVAL - Invalid parameters",
    AMDSMI_STATUS_NOT_SUPPORTED: "AMDSMI_STATUS_NOT_SUPPORTED - Feature not supported",
    AMDSMI_STATUS_IO: "AMDSMI_STATUS_IO - I/O Error",
    AMDSMI_STATUS_NOT_FOUND: "AMDSMI_STATUS_NOT_FOUND - Device Not found",
    AMDSMI_STATUS_NOT_INIT: "AMDSMI_STATUS_NOT_INIT - Device not initialized",
}
_UNKNOWN_INFO = "AMDSMI_STATUS_UNKNOWN_ERROR - An unknown error occurred"
# market name -> (device id, compute units per device, gfx target)
_ASICS = {
    "AMD Instinct MI250X": ("0x740c", 110, "gfx90a"),
    "AMD Instinct MI300A": ("0x74a0", 228, "gfx942"),
}


class SimAmdSmiTemperatureType(enum.IntEnum):
    """amdsmi.AmdSmiTemperatureType: same members and values (JUNCTION is HOTSPOT's alias)."""

    EDGE = 0
    HOTSPOT = 1
    JUNCTION = 1
    VRAM = 2
    HBM_0 = 3
    HBM_1 = 4
    HBM_2 = 5
    HBM_3 = 6
    PLX = 7


class SimAmdSmiTemperatureMetric(enum.IntEnum):
    """amdsmi.AmdSmiTemperatureMetric: same members and values."""

    CURRENT = 0
    MAX = 1
    MIN = 2
    MAX_HYST = 3
    MIN_HYST = 4
    CRITICAL = 5
    CRITICAL_HYST = 6
    EMERGENCY = 7
    EMERGENCY_HYST = 8
    CRIT_MIN = 9
    CRIT_MIN_HYST = 10
    OFFSET = 11
    LOWEST = 12
    HIGHEST = 13


class SimAmdSmiException(Exception):
    """Base class, like amdsmi.AmdSmiException."""


class SimAmdSmiLibraryException(SimAmdSmiException):
    """Like amdsmi.AmdSmiLibraryException: a status code returned by the library."""

    def __init__(self, err_code: int) -> None:
        super().__init__(err_code)
        self.err_code = err_code
        self.err_info = _INFO.get(err_code, _UNKNOWN_INFO)

    def get_error_code(self) -> int:
        return self.err_code

    def __str__(self) -> str:
        return f"An error occured with code: {self.err_code}({self.err_info})"


class SimAmdSmiParameterException(SimAmdSmiException):
    """Like amdsmi.AmdSmiParameterException: an argument of the wrong type."""

    def __init__(self, received: object, expected: type) -> None:
        super().__init__(f"Invalid parameter: got {type(received)!r}, expected {expected!r}")
        self.actualType = type(received)
        self.expectedType = expected


@dataclass(frozen=True, slots=True)
class SimAmdSmiHandle:
    """A processor handle: the index it was taken at and the uuid it named then."""

    index: int
    uuid: str


class SimAmdSmi:
    """AMD SMI over gpus.json and amd.json (in the same directory). Init is reference-counted;
    calls before it fail with NOT_INIT."""

    AmdSmiException = SimAmdSmiException
    AmdSmiLibraryException = SimAmdSmiLibraryException
    AmdSmiParameterException = SimAmdSmiParameterException
    AmdSmiTemperatureType = SimAmdSmiTemperatureType
    AmdSmiTemperatureMetric = SimAmdSmiTemperatureMetric

    def __init__(self, state_path: Path) -> None:
        self._state_path = state_path
        self._inits = 0

    def _state(self) -> SimGpuState:
        if self._inits == 0:
            raise SimAmdSmiLibraryException(AMDSMI_STATUS_NOT_INIT)
        try:
            return read_gpu_state(self._state_path)
        except (OSError, ValueError) as exc:
            raise SimAmdSmiLibraryException(AMDSMI_STATUS_UNKNOWN_ERROR) from exc

    def _device(self, handle: object) -> tuple[int, SimGpu, SimGpuState]:
        """(index, device, whole state) behind a handle; raises amdsmi's errors for bad ones."""
        if not isinstance(handle, SimAmdSmiHandle):
            raise SimAmdSmiParameterException(handle, SimAmdSmiHandle)
        state = self._state()
        devices = state.devices
        if handle.index >= len(devices) or devices[handle.index].uuid != handle.uuid:
            raise SimAmdSmiLibraryException(AMDSMI_STATUS_NOT_FOUND)
        device = devices[handle.index]
        if device.lost:
            raise SimAmdSmiLibraryException(AMDSMI_STATUS_IO)
        return handle.index, device, state

    def amdsmi_init(self, flag: int = INIT_AMD_GPUS) -> None:
        self._inits += 1
        try:
            self._state()
        except SimAmdSmiException:
            self._inits -= 1
            raise

    def amdsmi_shut_down(self) -> None:
        if self._inits == 0:
            raise SimAmdSmiLibraryException(AMDSMI_STATUS_NOT_INIT)
        self._inits -= 1

    def amdsmi_get_processor_handles(self) -> list[SimAmdSmiHandle]:
        devices = self._state().devices
        return [SimAmdSmiHandle(i, device.uuid) for i, device in enumerate(devices)]

    def amdsmi_get_gpu_asic_info(self, processor_handle: object) -> dict[str, Any]:
        index, device, _ = self._device(processor_handle)
        device_id, compute_units, gfx = _ASICS.get(device.name, ("N/A", 0, "N/A"))
        return {
            "market_name": device.name,
            "vendor_id": "0x1002",
            "vendor_name": "Advanced Micro Devices Inc. [AMD/ATI]",
            "subvendor_id": "0x1002",
            "device_id": device_id,
            "rev_id": "0x01",
            "asic_serial": f"0x{int(device.uuid.replace('-', '')[:16], 16):016X}",
            "oam_id": index,
            "num_compute_units": compute_units,
            "target_graphics_version": gfx,
        }

    def amdsmi_get_gpu_device_uuid(self, processor_handle: object) -> str:
        return self._device(processor_handle)[1].uuid

    def amdsmi_get_gpu_device_bdf(self, processor_handle: object) -> str:
        return self._device(processor_handle)[1].pci_bus_id

    def amdsmi_get_gpu_vram_info(self, processor_handle: object) -> dict[str, Any]:
        _, device, _ = self._device(processor_handle)
        return {
            "vram_type": "HBM",
            "vram_vendor": "SAMSUNG",
            "vram_size": device.memory_bytes // (1024 * 1024),
            "vram_bit_width": 8192,
            "vram_max_bandwidth": 3276,
        }

    def amdsmi_get_gpu_driver_info(self, processor_handle: object) -> dict[str, Any]:
        _, _, state = self._device(processor_handle)
        return {
            "driver_name": "amdgpu",
            "driver_version": state.driver_version,
            "driver_date": "2015/01/01 00:00",
        }

    # RAS, xGMI and thermal calls: served from amd.json (agent.sim.amdsmi_health).

    def _health(self, handle: object) -> tuple[int, SimGpu, SimGpuState, AmdDeviceHealth]:
        index, device, state = self._device(handle)
        try:
            health = read_health(self._state_path.parent)
        except (OSError, ValueError) as exc:
            raise SimAmdSmiLibraryException(AMDSMI_STATUS_UNKNOWN_ERROR) from exc
        return index, device, state, health.device(index)

    def amdsmi_get_processor_type(self, processor_handle: object) -> dict[str, Any]:
        self._device(processor_handle)
        return {"processor_type": AMDSMI_PROCESSOR_TYPE_AMD_GPU}

    def amdsmi_get_gpu_total_ecc_count(self, processor_handle: object) -> dict[str, Any]:
        health = self._health(processor_handle)[3]
        return {
            "correctable_count": health.correctable,
            "uncorrectable_count": health.uncorrectable,
            "deferred_count": health.deferred,
        }

    def amdsmi_get_gpu_bad_page_info(self, processor_handle: object) -> list[dict[str, Any]]:
        pages = self._health(processor_handle)[3].bad_pages
        return [
            {"value": i, "page_address": p.address, "page_size": p.size, "status": p.status}
            for i, p in enumerate(pages)
        ]

    def amdsmi_gpu_xgmi_error_status(self, processor_handle: object) -> int:
        return self._health(processor_handle)[3].xgmi_error

    def amdsmi_get_gpu_xgmi_link_status(self, processor_handle: object) -> dict[str, Any]:
        index, device, state, health = self._health(processor_handle)
        slots = xgmi_topology(device.name, len(state.devices))[index]
        status = [
            XGMI_LINK_DISABLED
            if peer is None
            else XGMI_LINK_DOWN
            if slot in health.links_down
            else XGMI_LINK_UP
            for slot, peer in enumerate(slots)
        ]
        return {"status": status, "total_links": len(status)}

    def amdsmi_get_temp_metric(
        self, processor_handle: object, sensor_type: int, metric: int
    ) -> int:
        if not isinstance(sensor_type, SimAmdSmiTemperatureType):
            raise SimAmdSmiParameterException(sensor_type, SimAmdSmiTemperatureType)
        if not isinstance(metric, SimAmdSmiTemperatureMetric):
            raise SimAmdSmiParameterException(metric, SimAmdSmiTemperatureMetric)
        _, device, _, health = self._health(processor_handle)
        thermals = thermals_for(device.name)
        values: dict[tuple[int, int], int | None] = {
            (SimAmdSmiTemperatureType.HOTSPOT, SimAmdSmiTemperatureMetric.CURRENT): (
                thermals.idle_hotspot_c if health.hotspot_c is None else health.hotspot_c
            ),
            (SimAmdSmiTemperatureType.HOTSPOT, SimAmdSmiTemperatureMetric.CRITICAL): (
                thermals.hotspot_critical_c
            ),
            (SimAmdSmiTemperatureType.EDGE, SimAmdSmiTemperatureMetric.CURRENT): (
                thermals.idle_edge_c
            ),
            (SimAmdSmiTemperatureType.EDGE, SimAmdSmiTemperatureMetric.CRITICAL): (
                thermals.edge_critical_c
            ),
        }
        value = values.get((sensor_type, metric))
        if value is None:
            raise SimAmdSmiLibraryException(AMDSMI_STATUS_NOT_SUPPORTED)
        return value
