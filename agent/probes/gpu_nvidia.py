"""NVIDIA GPUs through NVML, behind the `NvmlApi` port.

The port lists exactly the pynvml calls vcluster makes, with pynvml's own names and signatures,
so the `pynvml` module (nvidia-ml-py) satisfies it as is, and so does `agent.sim.nvml.SimNvml`.
`NvmlInventoryApi` is the part the inventory probe needs; `NvmlApi` adds the calls of the health
checks and of the XID event source. The port also names:
- the library's error base class (`NVMLError`), so callers catch the port's expected errors
  without importing pynvml, and without swallowing bugs;
- the NVML constants the checks pass or compare against (`NVML_*`, `nvmlEventType*`,
  `nvmlClocksEventReason*`), pynvml's names for NVML's ABI values, so check code never imports
  pynvml either.

Shapes relied on (nvidia-ml-py 13, pynvml.py), beyond the inventory calls:
- NVMLError: `.value` is the NVML_ERROR_* code (see `nvml_error_code`)
- nvmlEventSetWait_v2(set, ms): one event per call, a struct with `.device` (a handle),
  `.eventType`, `.eventData` (the XID for nvmlEventTypeXidCriticalError); NVMLError
  NVML_ERROR_TIMEOUT when nothing arrived within `ms`
- nvmlDeviceGetFieldValues(h, [ids]): a sequence of structs, one per id, each with its own
  `.nvmlReturn` and a `.value` union read by `.valueType` (see `field_value`)
- nvmlDeviceGetRemappedRows(h): (correctable, uncorrectable, pending, failure), ints
- nvmlDeviceGetC2cModeInfoV(h): a struct with `.isC2cEnabled`
- nvmlDeviceGetTemperatureV / nvmlDeviceGetCurrentClocksEventReasons are the current names;
  the deprecated nvmlDeviceGetTemperature / nvmlDeviceGetCurrentClocksThrottleReasons are kept as
  fallbacks for older bindings or drivers (NVML_ERROR_FUNCTION_NOT_FOUND)
- per-device calls raise NVML_ERROR_NOT_SUPPORTED where the part has no such feature (row
  remapping before Ampere, retired pages from Ampere on, C2C off Grace Hopper, absent NVLinks)
"""

from __future__ import annotations

from collections.abc import Sequence
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


class NvmlEventData(Protocol):
    """What nvmlEventSetWait_v2 returns (c_nvmlEventData_t)."""

    @property
    def device(self) -> object: ...

    @property
    def eventType(self) -> int: ...

    @property
    def eventData(self) -> int: ...


class NvmlValue(Protocol):
    """The c_nvmlValue_t union of a field value; which member holds it is the `valueType`."""

    @property
    def dVal(self) -> float: ...

    @property
    def uiVal(self) -> int: ...

    @property
    def ulVal(self) -> int: ...

    @property
    def ullVal(self) -> int: ...

    @property
    def sllVal(self) -> int: ...

    @property
    def siVal(self) -> int: ...

    @property
    def usVal(self) -> int: ...


class NvmlFieldValue(Protocol):
    """One entry of what nvmlDeviceGetFieldValues returns (c_nvmlFieldValue_t)."""

    @property
    def fieldId(self) -> int: ...

    @property
    def nvmlReturn(self) -> int: ...

    @property
    def valueType(self) -> int: ...

    @property
    def value(self) -> NvmlValue: ...


class NvmlC2cModeInfo(Protocol):
    """What nvmlDeviceGetC2cModeInfoV returns."""

    @property
    def isC2cEnabled(self) -> int: ...


class NvmlInventoryApi(Protocol):
    """The NVML calls the inventory probe uses. Handles are opaque; strings may be str or
    bytes."""

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


class NvmlApi(NvmlInventoryApi, Protocol):
    """Every NVML call and constant vcluster uses: the inventory's, the health checks' and the
    XID event source's."""

    def nvmlDeviceGetIndex(self, handle: object) -> int: ...

    # -- events (XIDs) ----------------------------------------------------------------------
    def nvmlEventSetCreate(self) -> object: ...

    def nvmlDeviceRegisterEvents(
        self, handle: object, eventTypes: int, eventSet: object
    ) -> None: ...

    def nvmlEventSetWait_v2(self, eventSet: object, timeoutms: int) -> NvmlEventData: ...

    def nvmlEventSetFree(self, eventSet: object) -> None: ...

    # -- health -------------------------------------------------------------------------------
    def nvmlDeviceGetFieldValues(
        self, handle: object, fieldIds: Sequence[int]
    ) -> Sequence[NvmlFieldValue]: ...

    def nvmlDeviceGetTotalEccErrors(
        self, handle: object, errorType: int, counterType: int
    ) -> int: ...

    def nvmlDeviceGetMemoryErrorCounter(
        self, handle: object, errorType: int, counterType: int, locationType: int
    ) -> int: ...

    def nvmlDeviceGetRemappedRows(self, device: object) -> tuple[int, int, int, int]: ...

    def nvmlDeviceGetArchitecture(self, device: object) -> int: ...

    def nvmlDeviceGetRetiredPages(self, device: object, sourceFilter: int) -> list[int]: ...

    def nvmlDeviceGetRetiredPagesPendingStatus(self, device: object) -> int: ...

    def nvmlDeviceGetTemperatureV(self, handle: object, sensor: int) -> int: ...

    def nvmlDeviceGetTemperature(self, handle: object, sensor: int) -> int: ...

    def nvmlDeviceGetTemperatureThreshold(self, handle: object, threshold: int) -> int: ...

    def nvmlDeviceGetCurrentClocksEventReasons(self, handle: object) -> int: ...

    def nvmlDeviceGetCurrentClocksThrottleReasons(self, handle: object) -> int: ...

    def nvmlDeviceGetCurrPcieLinkWidth(self, handle: object) -> int: ...

    def nvmlDeviceGetMaxPcieLinkWidth(self, handle: object) -> int: ...

    def nvmlDeviceGetNvLinkState(self, device: object, link: int) -> int: ...

    def nvmlDeviceGetNvLinkErrorCounter(self, device: object, link: int, counter: int) -> int: ...

    def nvmlDeviceGetC2cModeInfoV(self, handle: object) -> NvmlC2cModeInfo: ...

    # -- constants (pynvml's names; values are NVML's ABI) ---------------------------------
    NVML_SUCCESS: int
    NVML_ERROR_INVALID_ARGUMENT: int
    NVML_ERROR_NOT_SUPPORTED: int
    NVML_ERROR_TIMEOUT: int
    NVML_ERROR_FUNCTION_NOT_FOUND: int
    NVML_ERROR_GPU_IS_LOST: int
    nvmlEventTypeXidCriticalError: int
    NVML_FEATURE_ENABLED: int
    NVML_DEVICE_ARCH_AMPERE: int
    NVML_MEMORY_ERROR_TYPE_UNCORRECTED: int
    NVML_VOLATILE_ECC: int
    NVML_AGGREGATE_ECC: int
    NVML_MEMORY_LOCATION_SRAM: int
    NVML_PAGE_RETIREMENT_CAUSE_MULTIPLE_SINGLE_BIT_ECC_ERRORS: int
    NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR: int
    NVML_TEMPERATURE_GPU: int
    NVML_TEMPERATURE_THRESHOLD_SLOWDOWN: int
    nvmlClocksEventReasonHwSlowdown: int
    nvmlClocksEventReasonSwThermalSlowdown: int
    nvmlClocksEventReasonHwThermalSlowdown: int
    nvmlClocksEventReasonHwPowerBrakeSlowdown: int
    NVML_NVLINK_MAX_LINKS: int
    NVML_NVLINK_ERROR_DL_REPLAY: int
    NVML_NVLINK_ERROR_DL_RECOVERY: int
    NVML_NVLINK_ERROR_DL_CRC_FLIT: int
    NVML_NVLINK_ERROR_DL_CRC_DATA: int
    NVML_FI_DEV_GET_GPU_RECOVERY_ACTION: int
    NVML_VALUE_TYPE_DOUBLE: int
    NVML_VALUE_TYPE_UNSIGNED_INT: int
    NVML_VALUE_TYPE_UNSIGNED_LONG: int
    NVML_VALUE_TYPE_UNSIGNED_LONG_LONG: int
    NVML_VALUE_TYPE_SIGNED_LONG_LONG: int
    NVML_VALUE_TYPE_SIGNED_INT: int
    NVML_VALUE_TYPE_UNSIGNED_SHORT: int
    NVML_GPU_RECOVERY_ACTION_NONE: int
    NVML_GPU_RECOVERY_ACTION_GPU_RESET: int
    NVML_GPU_RECOVERY_ACTION_NODE_REBOOT: int
    NVML_GPU_RECOVERY_ACTION_DRAIN_P2P: int
    NVML_GPU_RECOVERY_ACTION_DRAIN_AND_RESET: int


def nvml_error_code(exc: BaseException) -> int | None:
    """The NVML_ERROR_* code of an NVMLError (its `.value`); None for anything else."""
    code = getattr(exc, "value", None)
    return code if isinstance(code, int) and not isinstance(code, bool) else None


def field_value(api: NvmlApi, field: NvmlFieldValue) -> int | float:
    """The value of one nvmlDeviceGetFieldValues entry, read from the union member its
    `valueType` names. The caller checks `field.nvmlReturn` first. ValueError for a value type
    NVML did not define."""
    value = field.value
    members: dict[int, int | float] = {
        api.NVML_VALUE_TYPE_DOUBLE: value.dVal,
        api.NVML_VALUE_TYPE_UNSIGNED_INT: value.uiVal,
        api.NVML_VALUE_TYPE_UNSIGNED_LONG: value.ulVal,
        api.NVML_VALUE_TYPE_UNSIGNED_LONG_LONG: value.ullVal,
        api.NVML_VALUE_TYPE_SIGNED_LONG_LONG: value.sllVal,
        api.NVML_VALUE_TYPE_SIGNED_INT: value.siVal,
        api.NVML_VALUE_TYPE_UNSIGNED_SHORT: value.usVal,
    }
    if field.valueType not in members:
        raise ValueError(f"NVML field {field.fieldId}: unknown value type {field.valueType}")
    return members[field.valueType]


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


def nvidia_gpus(api: NvmlInventoryApi) -> tuple[GpuInfo, ...]:
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
