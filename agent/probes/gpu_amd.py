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
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from vcbase.domain import GpuInfo, GpuVendor
from vcbase.logging import get_logger

log = get_logger(__name__)

_MB = 1024 * 1024
AMDSMI_UNAVAILABLE = "amdsmi unavailable: ROCm's libamd_smi.so not found; AMD GPU probes disabled"


class AmdSmiApi(Protocol):
    """The AMD SMI calls vcluster uses. Processor handles are opaque."""

    @property
    def AmdSmiException(self) -> type[Exception]: ...

    def amdsmi_init(self, flag: int = ...) -> None: ...

    def amdsmi_shut_down(self) -> None: ...

    def amdsmi_get_processor_handles(self) -> Sequence[object]: ...

    def amdsmi_get_gpu_asic_info(self, processor_handle: object) -> Mapping[str, Any]: ...

    def amdsmi_get_gpu_device_uuid(self, processor_handle: object) -> str: ...

    def amdsmi_get_gpu_device_bdf(self, processor_handle: object) -> str: ...

    def amdsmi_get_gpu_vram_info(self, processor_handle: object) -> Mapping[str, Any]: ...

    def amdsmi_get_gpu_driver_info(self, processor_handle: object) -> Mapping[str, Any]: ...


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


def _vram_bytes(vram: Mapping[str, Any]) -> int:
    size = vram.get("vram_size", vram.get("vram_size_mb", 0))
    return int(size) * _MB if isinstance(size, int) else 0


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
                    memory_bytes=_vram_bytes(api.amdsmi_get_gpu_vram_info(handle)),
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
