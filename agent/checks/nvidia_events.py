"""`NvmlXidEvents`: XIDs as hardware events, read through the NvmlApi port only.

The same class runs over pynvml on a real node and over SimNvml on a simulated one: it creates
an NVML event set, registers every GPU for nvmlEventTypeXidCriticalError, and blocks in
nvmlEventSetWait_v2. The runner calls `wait` in a dedicated thread (NVML blocks), never on the
event loop, and calls `close` once that thread has returned.

Each XID becomes HardwareEvent(kind="xid", subject="gpuN", data={"xid": "79"}), stamped with the
time it was read (NVML's event carries none). A GPU that fails to register (lost at start-up, or
a part without XID events) is left out with a warning; nvidia.count reports a lost GPU.
"""

from __future__ import annotations

import ctypes
import time
from collections.abc import Callable
from datetime import UTC, datetime

from agent.checks.base import HardwareEvent
from agent.probes.gpu_nvidia import NvmlApi, NvmlEventData, nvml_error_code
from vcbase.logging import get_logger

log = get_logger(__name__)

MAX_BATCH = 64  # events returned by one wait at most; the rest wait for the next call
UNKNOWN_GPU = "gpu-unknown"


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _handle_key(handle: object) -> object:
    """What identifies a device handle: pynvml's handles are ctypes pointers (compare their
    address: two pointer objects to one device are not ==); the sim's compare by value."""
    if isinstance(handle, ctypes._Pointer):
        return ctypes.cast(handle, ctypes.c_void_p).value
    return handle


class NvmlXidEvents:
    """An EventSource of XIDs. Raises the port's NVMLError from __init__ when NVML cannot make
    an event set at all (`agent.checks.nvidia.event_sources` logs that and goes without)."""

    name = "nvml"

    def __init__(self, api: NvmlApi, clock: Callable[[], datetime] = _utcnow) -> None:
        self._api = api
        self._clock = clock
        self._failing: int | None = None  # the NVML error of the current failure streak
        self._closed = False
        self._devices: dict[object, str] = {}
        self._set = api.nvmlEventSetCreate()
        try:
            count = api.nvmlDeviceGetCount()
        except api.NVMLError:
            api.nvmlEventSetFree(self._set)
            raise
        for index in range(count):
            self._register(index)
        log.info("nvml_xid_events_ready", gpus=sorted(self._devices.values()))

    def _register(self, index: int) -> None:
        api = self._api
        try:
            handle = api.nvmlDeviceGetHandleByIndex(index)
            api.nvmlDeviceRegisterEvents(handle, api.nvmlEventTypeXidCriticalError, self._set)
        except api.NVMLError as exc:
            log.warning(
                "nvml_xid_register_failed",
                gpu=f"gpu{index}",
                error=str(exc),
                nvml_error=nvml_error_code(exc),
            )
            return
        self._devices[_handle_key(handle)] = f"gpu{index}"

    @property
    def subjects(self) -> list[str]:
        """The GPUs whose XIDs this source reports."""
        return sorted(self._devices.values())

    def wait(self, timeout: float) -> list[HardwareEvent]:
        """Block up to `timeout` s for a first XID, then take what else is already queued."""
        events: list[HardwareEvent] = []
        wait_ms = max(int(timeout * 1000), 0)
        while len(events) < MAX_BATCH:
            try:
                data = self._api.nvmlEventSetWait_v2(self._set, wait_ms)
            except self._api.NVMLError as exc:
                if nvml_error_code(exc) == self._api.NVML_ERROR_TIMEOUT:
                    break
                return events + self._failure(exc, 0.0 if events else timeout)
            self._failing = None
            if data.eventType & self._api.nvmlEventTypeXidCriticalError:
                events.append(self._event(data))
            wait_ms = 0
        return events

    def _event(self, data: NvmlEventData) -> HardwareEvent:
        subject = self._devices.get(_handle_key(data.device))
        if subject is None:
            try:
                subject = f"gpu{self._api.nvmlDeviceGetIndex(data.device)}"
            except self._api.NVMLError:
                subject = UNKNOWN_GPU
        return HardwareEvent("xid", subject, self._clock(), {"xid": str(int(data.eventData))})

    def _failure(self, exc: BaseException, pause: float) -> list[HardwareEvent]:
        """A wait that failed other than by timing out. Logged once per streak; paced by
        `pause` so the runner's loop does not spin. A lost GPU becomes one device_removed
        event, so nvidia.count looks at once."""
        code = nvml_error_code(exc)
        first = self._failing != code
        self._failing = code
        if first:
            log.warning("nvml_event_wait_failed", error=str(exc), nvml_error=code)
        time.sleep(pause)
        if first and code == self._api.NVML_ERROR_GPU_IS_LOST:
            data = {"source": "nvml", "error": str(exc)}
            return [HardwareEvent("device_removed", "nvml", self._clock(), data)]
        return []

    def close(self) -> None:
        """Free the event set. Idempotent; errors are logged only."""
        if self._closed:
            return
        self._closed = True
        try:
            self._api.nvmlEventSetFree(self._set)
        except self._api.NVMLError as exc:
            log.warning("nvml_event_set_free_failed", error=str(exc))
