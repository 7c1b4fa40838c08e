"""The NVIDIA health checks (GH200, A100, and other NVML-managed GPUs) and their event source.

`checks()` gives fresh instances (checks keep state: XID windows, NVLink counter baselines);
`event_sources(hw)` the XID source where NVML is up. The checks live in:
- nvidia_device: nvidia.nvml, nvidia.count, nvidia.recovery_action
- nvidia_xid: nvidia.xid (and the XID table); nvidia_events: NvmlXidEvents
- nvidia_memory: nvidia.ecc, nvidia.row_remap, nvidia.retired_pages
- nvidia_thermal: nvidia.temperature, nvidia.throttle
- nvidia_links: nvidia.pcie, nvidia.nvlink, nvidia.c2c
docs/checks-nvidia.md documents what each reads, when it fails and what it asks for.
"""

from __future__ import annotations

from agent.checks.base import Check, EventSource
from agent.checks.nvidia_device import CountCheck, NvmlCheck, RecoveryActionCheck
from agent.checks.nvidia_events import NvmlXidEvents
from agent.checks.nvidia_links import C2cCheck, NvLinkCheck, PcieCheck
from agent.checks.nvidia_memory import EccCheck, RetiredPagesCheck, RowRemapCheck
from agent.checks.nvidia_thermal import TemperatureCheck, ThrottleCheck
from agent.checks.nvidia_xid import XidCheck
from agent.hardware import NodeHardware
from agent.probes.gpu_nvidia import nvml_error_code
from vcbase.logging import get_logger

log = get_logger(__name__)


def checks() -> list[Check]:
    """A fresh instance of every NVIDIA check."""
    return [
        NvmlCheck(),
        CountCheck(),
        XidCheck(),
        RecoveryActionCheck(),
        EccCheck(),
        RowRemapCheck(),
        RetiredPagesCheck(),
        TemperatureCheck(),
        ThrottleCheck(),
        PcieCheck(),
        NvLinkCheck(),
        C2cCheck(),
    ]


def event_sources(hw: NodeHardware) -> list[EventSource]:
    """The XID event source, where NVML is up. Blocking (NVML calls). When NVML cannot make an
    event set, logs a warning and returns []: XIDs then go unseen, while the polled checks still
    see what they leave behind (ECC counters, lost GPUs, row remaps)."""
    api = hw.nvml
    if api is None:
        return []
    try:
        return [NvmlXidEvents(api)]
    except api.NVMLError as exc:
        log.warning("nvml_xid_events_unavailable", error=str(exc), nvml_error=nvml_error_code(exc))
        return []
