"""NVIDIA GPUs through NVML, behind the `NvmlApi` port.

The port lists exactly the pynvml calls vcluster makes, with pynvml's own names and signatures,
so the `pynvml` module (nvidia-ml-py) satisfies it as is, and so does `agent.sim.nvml.SimNvml`.
It also names the library's error base class (`NVMLError`), so probe code can catch the port's
expected errors without importing pynvml, and without swallowing bugs.
"""

from __future__ import annotations

from typing import Protocol

from vcbase.domain import GpuInfo, GpuVendor
from vcbase.logging import get_logger

log = get_logger(__name__)


class NvmlPciInfo(Protocol):
    """What nvmlDeviceGetPciInfo returns (a ctypes struct in pynvml: busId is bytes)."""

    @property
    def busId(self) -> bytes | str: ...


class NvmlMemoryInfo(Protocol):
    """What nvmlDeviceGetMemoryInfo returns; sizes in bytes."""

    @property
    def total(self) -> int: ...


class NvmlApi(Protocol):
    """The NVML calls vcluster uses. Handles are opaque; strings may be str or bytes."""

    @property
    def NVMLError(self) -> type[Exception]: ...

    def nvmlInit(self) -> None: ...

    def nvmlShutdown(self) -> None: ...

    def nvmlSystemGetDriverVersion(self) -> str | bytes: ...

    def nvmlDeviceGetCount(self) -> int: ...

    def nvmlDeviceGetHandleByIndex(self, index: int) -> object: ...

    def nvmlDeviceGetName(self, handle: object) -> str | bytes: ...

    def nvmlDeviceGetUUID(self, handle: object) -> str | bytes: ...

    def nvmlDeviceGetPciInfo(self, handle: object) -> NvmlPciInfo: ...

    def nvmlDeviceGetMemoryInfo(
        self, handle: object, version: int | None = None
    ) -> NvmlMemoryInfo: ...


def text(value: str | bytes) -> str:
    """pynvml returns str since 11.x and bytes before (and bytes for ctypes struct fields)."""
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value


def load_nvml() -> NvmlApi | None:
    """The real adapter: the pynvml module, initialised; None where NVML cannot be used.

    None, with one warning, when nvidia-ml-py is not installed or nvmlInit fails (no driver,
    libnvidia-ml.so absent: NVMLError_LibraryNotFound on a machine without an NVIDIA GPU).
    The caller owns the matching nvmlShutdown.
    """
    try:
        import pynvml
    except ImportError as exc:
        log.warning("nvml_unavailable", reason="nvidia-ml-py is not installed", error=str(exc))
        return None
    api: NvmlApi = pynvml
    try:
        api.nvmlInit()
    except api.NVMLError as exc:
        log.warning(
            "nvml_unavailable",
            reason="nvmlInit failed; NVIDIA GPU probes disabled",
            error=str(exc),
            error_type=type(exc).__name__,
        )
        return None
    return api


def nvidia_gpus(api: NvmlApi) -> tuple[GpuInfo, ...]:
    """Every NVIDIA GPU NVML can see, in NVML index order. Blocking.

    A device whose calls fail (GPU fallen off the bus, ...) is left out with a warning: the
    inventory shows what is usable, and the node type's expected count shows what is missing.
    When NVML cannot even count devices, returns () with a warning.
    """
    try:
        driver = text(api.nvmlSystemGetDriverVersion())
        count = api.nvmlDeviceGetCount()
    except api.NVMLError as exc:
        log.warning("nvml_enumeration_failed", error=str(exc), error_type=type(exc).__name__)
        return ()
    gpus: list[GpuInfo] = []
    for index in range(count):
        try:
            handle = api.nvmlDeviceGetHandleByIndex(index)
            gpus.append(
                GpuInfo(
                    index=index,
                    vendor=GpuVendor.NVIDIA,
                    model=text(api.nvmlDeviceGetName(handle)),
                    uuid=text(api.nvmlDeviceGetUUID(handle)),
                    pci_bus_id=text(api.nvmlDeviceGetPciInfo(handle).busId),
                    memory_bytes=int(api.nvmlDeviceGetMemoryInfo(handle).total),
                    driver_version=driver,
                )
            )
        except api.NVMLError as exc:
            log.warning(
                "nvml_device_failed",
                index=index,
                error=str(exc),
                error_type=type(exc).__name__,
            )
    return tuple(gpus)
