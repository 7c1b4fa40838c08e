"""AMD GPUs through AMD SMI, behind the `AmdSmiApi` port.

The port lists exactly the `amdsmi` calls vcluster makes, with amdsmi's names and return shapes
(ROCm 6.x/7.x python interface: dicts for the info calls, str for uuid and BDF), so the `amdsmi`
module satisfies it as is, and so does `agent.sim.amdsmi.SimAmdSmi`. `AmdSmiException` is the
library's error base class, named by the port so probes catch expected errors only.

Shapes relied on (amdsmi_interface.py):
- amdsmi_get_gpu_asic_info(h)["market_name"]: str ("N/A" when unknown)
- amdsmi_get_gpu_vram_info(h)["vram_size"]: int, MB (ROCm <= 6.0 named it "vram_size_mb")
- amdsmi_get_gpu_driver_info(h)["driver_version"]: str
- amdsmi_get_gpu_device_bdf(h): "0000:c1:00.0"; amdsmi_get_gpu_device_uuid(h): str
- amdsmi_get_processor_type(h)["processor_type"]: the AmdSmiProcessorType member's name, whose
  spelling varies by release ("AMD_GPU", "AMDSMI_PROCESSOR_TYPE_AMD_GPU", "AMD_APU"): see
  `is_amd_gpu_type`
- amdsmi_get_gpu_total_ecc_count(h): {"correctable_count", "uncorrectable_count",
  "deferred_count"}: int, totals since the driver loaded
- amdsmi_get_gpu_bad_page_info(h): [] or one dict per retired page: {"value" (its position),
  "page_address", "page_size", "status"}: int, status an AMDSMI_MEM_PAGE_STATUS_* value
- amdsmi_gpu_xgmi_error_status(h): int, an AMDSMI_XGMI_STATUS_* value (older releases return
  the AmdSmiXgmiStatus member, an IntEnum: the same int)
- amdsmi_get_gpu_xgmi_link_status(h) (ROCm >= 6.4 only): {"status": one of "U" (up), "D" (down),
  "X" (disabled), "N/A" per link, "total_links": int}; AMDSMI_STATUS_NOT_SUPPORTED where the
  GPU's metrics table has no link status (e.g. gpu_metrics < 1.7)
- amdsmi_get_temp_metric(h, AmdSmiTemperatureType.X, AmdSmiTemperatureMetric.Y): int, degrees C;
  the enums must be the library's own (it type-checks them), hence the two enum ports below

Errors: every call raises `AmdSmiException` subclasses; `AmdSmiLibraryException` carries the
library's status in `err_code` (see `amdsmi_error_code`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from vcbase.domain import GpuInfo, GpuVendor
from vcbase.logging import get_logger

log = get_logger(__name__)

_MB = 1024 * 1024
AMDSMI_UNAVAILABLE = "amdsmi unavailable: ROCm's libamd_smi.so not found; AMD GPU probes disabled"

# amdsmi_status_t values (amdsmi.h) that callers tell apart.
AMDSMI_STATUS_INVAL = 1
AMDSMI_STATUS_NOT_SUPPORTED = 2
AMDSMI_STATUS_IO = 12
AMDSMI_STATUS_NOT_FOUND = 31
AMDSMI_STATUS_NOT_INIT = 32
AMDSMI_STATUS_DRIVER_NOT_LOADED = 34
AMDSMI_STATUS_UNKNOWN_ERROR = 0xFFFFFFFF
DEVICE_GONE_STATUSES = frozenset({AMDSMI_STATUS_IO, AMDSMI_STATUS_NOT_FOUND})
"""Statuses that mean the device no longer answers (off the bus, handle no longer valid)."""

# amdsmi_memory_page_status_t: the "status" of a bad page record.
AMDSMI_MEM_PAGE_STATUS_RESERVED = 0  # retired: the page is reserved and no longer used
AMDSMI_MEM_PAGE_STATUS_PENDING = 1  # marked bad; reserved at the next window (reboot/reset)
AMDSMI_MEM_PAGE_STATUS_UNRESERVABLE = 2  # marked bad but could not be reserved

# amdsmi_xgmi_status_t: what amdsmi_gpu_xgmi_error_status returns.
AMDSMI_XGMI_STATUS_NO_ERRORS = 0
AMDSMI_XGMI_STATUS_ERROR = 1
AMDSMI_XGMI_STATUS_MULTIPLE_ERRORS = 2

AMDSMI_PROCESSOR_TYPE_AMD_GPU = "AMDSMI_PROCESSOR_TYPE_AMD_GPU"
XGMI_LINK_UP, XGMI_LINK_DOWN, XGMI_LINK_DISABLED = "U", "D", "X"


class AmdSmiTemperatureTypes(Protocol):
    """The members of amdsmi.AmdSmiTemperatureType that vcluster passes (an IntEnum class)."""

    @property
    def EDGE(self) -> int: ...

    @property
    def HOTSPOT(self) -> int: ...


class AmdSmiTemperatureMetrics(Protocol):
    """The members of amdsmi.AmdSmiTemperatureMetric that vcluster passes (an IntEnum class)."""

    @property
    def CURRENT(self) -> int: ...

    @property
    def CRITICAL(self) -> int: ...


def is_amd_gpu_type(processor_type: Mapping[str, Any]) -> bool:
    """Whether an amdsmi_get_processor_type answer is an AMD GPU (or APU): any name but a CPU's
    or a non-AMD GPU's, so that a release that spells the type differently never hides GPUs."""
    name = str(processor_type.get("processor_type", "")).upper()
    return "CPU" not in name and "NON_AMD" not in name


def amdsmi_error_code(exc: BaseException) -> int | None:
    """The AMDSMI_STATUS_* code of an AmdSmiLibraryException (its `err_code`); None otherwise."""
    code = getattr(exc, "err_code", None)
    return code if isinstance(code, int) else None


class AmdSmiApi(Protocol):
    """The AMD SMI calls vcluster uses. Processor handles are opaque."""

    @property
    def AmdSmiException(self) -> type[Exception]: ...

    @property
    def AmdSmiTemperatureType(self) -> AmdSmiTemperatureTypes: ...

    @property
    def AmdSmiTemperatureMetric(self) -> AmdSmiTemperatureMetrics: ...

    def amdsmi_init(self, flag: int = ...) -> None: ...

    def amdsmi_shut_down(self) -> None: ...

    def amdsmi_get_processor_handles(self) -> Sequence[object]: ...

    def amdsmi_get_gpu_asic_info(self, processor_handle: object) -> Mapping[str, Any]: ...

    def amdsmi_get_gpu_device_uuid(self, processor_handle: object) -> str: ...

    def amdsmi_get_gpu_device_bdf(self, processor_handle: object) -> str: ...

    def amdsmi_get_gpu_vram_info(self, processor_handle: object) -> Mapping[str, Any]: ...

    def amdsmi_get_gpu_driver_info(self, processor_handle: object) -> Mapping[str, Any]: ...

    def amdsmi_get_processor_type(self, processor_handle: object) -> Mapping[str, Any]: ...

    def amdsmi_get_gpu_total_ecc_count(self, processor_handle: object) -> Mapping[str, Any]: ...

    def amdsmi_get_gpu_bad_page_info(
        self, processor_handle: object
    ) -> Sequence[Mapping[str, Any]]: ...

    def amdsmi_gpu_xgmi_error_status(self, processor_handle: object) -> int: ...

    def amdsmi_get_gpu_xgmi_link_status(self, processor_handle: object) -> Mapping[str, Any]: ...

    def amdsmi_get_temp_metric(
        self, processor_handle: object, sensor_type: int, metric: int
    ) -> int: ...


def load_amdsmi() -> AmdSmiApi | None:
    """The real adapter: the amdsmi module, initialised for GPUs; None where it cannot be used.

    PyPI's amdsmi dies on import without ROCm's libamd_smi.so (KeyError, OSError, ...), so the
    import is guarded broadly. Not installed at all (the normal case off AMD nodes: it is the
    optional `amd` extra) logs at info; any other failure logs one warning. The caller owns the
    matching amdsmi_shut_down.
    """
    try:
        import amdsmi
    except ModuleNotFoundError as exc:
        if exc.name != "amdsmi":
            log.warning("amdsmi_unavailable", message=AMDSMI_UNAVAILABLE, error=repr(exc))
        else:
            log.info("amdsmi_not_installed", message="AMD GPU probes disabled")
        return None
    except Exception as exc:  # broad on purpose: amdsmi raises KeyError/OSError without ROCm
        log.warning("amdsmi_unavailable", message=AMDSMI_UNAVAILABLE, error=repr(exc))
        return None
    api: AmdSmiApi = amdsmi
    try:
        api.amdsmi_init()
    except api.AmdSmiException as exc:
        log.warning(
            "amdsmi_unavailable",
            message="amdsmi_init failed; AMD GPU probes disabled",
            error=str(exc),
            error_type=type(exc).__name__,
        )
        return None
    return api


def vram_bytes(vram: Mapping[str, Any]) -> int:
    """Bytes of VRAM from an amdsmi_get_gpu_vram_info answer of any ROCm; 0 when unknown."""
    size = vram.get("vram_size", vram.get("vram_size_mb", 0))
    return int(size) * _MB if isinstance(size, int) else 0


_vram_bytes = vram_bytes  # the name the probe tests know


def amd_gpus(api: AmdSmiApi) -> tuple[GpuInfo, ...]:
    """Every AMD GPU AMD SMI can see (one per GCD on MI250X), in handle order. Blocking.

    A device whose calls fail is left out with a warning (see `nvidia_gpus`); when AMD SMI cannot
    list processors, returns () with a warning.
    """
    try:
        handles = list(api.amdsmi_get_processor_handles())
    except api.AmdSmiException as exc:
        log.warning("amdsmi_enumeration_failed", error=str(exc), error_type=type(exc).__name__)
        return ()
    gpus: list[GpuInfo] = []
    for index, handle in enumerate(handles):
        try:
            asic = api.amdsmi_get_gpu_asic_info(handle)
            model = str(asic.get("market_name", "")).strip()
            if model in ("", "N/A"):
                model = f"AMD GPU {asic.get('device_id', 'N/A')}"
            gpus.append(
                GpuInfo(
                    index=index,
                    vendor=GpuVendor.AMD,
                    model=model,
                    uuid=api.amdsmi_get_gpu_device_uuid(handle),
                    pci_bus_id=api.amdsmi_get_gpu_device_bdf(handle),
                    memory_bytes=vram_bytes(api.amdsmi_get_gpu_vram_info(handle)),
                    driver_version=str(
                        api.amdsmi_get_gpu_driver_info(handle).get("driver_version", "")
                    ),
                )
            )
        except api.AmdSmiException as exc:
            log.warning(
                "amdsmi_device_failed",
                index=index,
                error=str(exc),
                error_type=type(exc).__name__,
            )
    return tuple(gpus)
