"""`SimAmdSmi`: the AmdSmiApi port served from the simulated node's gpus.json.

Same names, arguments and return shapes as the amdsmi python interface (ROCm 6.1+): dicts for the
info calls with amdsmi's keys ("market_name", "vram_size" in MB, "driver_version"), str for the
uuid and the BDF. Errors are shaped like amdsmi's: `SimAmdSmiLibraryException` carries
`err_code` (an AMDSMI_STATUS_* value) and `err_info`; a handle of the wrong type raises
`SimAmdSmiParameterException`; both derive from `SimAmdSmiException`. gpus.json is read on every
call, so fault injection from another process takes effect on the next call (see SimNvml).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.sim.tree import SimGpu, SimGpuState, read_gpu_state

AMDSMI_STATUS_INVAL = 1
AMDSMI_STATUS_IO = 12
AMDSMI_STATUS_NOT_FOUND = 31
AMDSMI_STATUS_NOT_INIT = 32
AMDSMI_STATUS_UNKNOWN_ERROR = 0xFFFFFFFF
INIT_AMD_GPUS = 2

_INFO = {
    AMDSMI_STATUS_INVAL: "AMDSMI_STATUS_INVAL - Invalid parameters",
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


@dataclass(frozen=True, slots=True)
class SimAmdSmiHandle:
    """A processor handle: the index it was taken at and the uuid it named then."""

    index: int
    uuid: str


class SimAmdSmi:
    """AMD SMI over gpus.json. Init is reference-counted; calls before it fail with NOT_INIT."""

    AmdSmiException = SimAmdSmiException

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
