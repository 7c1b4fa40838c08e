"""`SimNvml`: the NvmlApi port served from the simulated node's gpus.json.

Same names, arguments and return shapes as pynvml: names and uuids as str, `busId` as bytes (a
ctypes char array in pynvml), memory in bytes; failures raise `SimNvmlError`, shaped like
pynvml's NVMLError (an int `.value` holding the NVML_ERROR_* code, NVML's message as str()).
The state file is read on every call, so rewriting it from another process (fault injection)
takes effect on the next call: a device removed from the list is gone from the count, and a
handle to it, like one to a device marked `lost`, fails with NVML_ERROR_GPU_IS_LOST.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from agent.sim.tree import SimGpu, SimGpuState, read_gpu_state

NVML_ERROR_UNINITIALIZED = 1
NVML_ERROR_INVALID_ARGUMENT = 2
NVML_ERROR_NOT_FOUND = 6
NVML_ERROR_GPU_IS_LOST = 15
NVML_ERROR_UNKNOWN = 999

_MESSAGES = {
    NVML_ERROR_UNINITIALIZED: "Uninitialized",
    NVML_ERROR_INVALID_ARGUMENT: "Invalid Argument",
    NVML_ERROR_NOT_FOUND: "Not Found",
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


class SimNvml:
    """NVML over gpus.json. Init is reference-counted like NVML's; calls before it fail."""

    NVMLError = SimNvmlError

    def __init__(self, state_path: Path) -> None:
        self._state_path = state_path
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
