"""Thresholds of the nvidia checks (the [checks.nvidia] table of agent.toml).

A `*_max` is the largest value still taken as healthy; a `*_limit` is the first value that is
not. docs/checks-nvidia.md lists every key with the check that reads it.
"""

from __future__ import annotations

import pydantic

from vcbase.config import StrictModel


class NvidiaThresholds(StrictModel):
    """Every field has a default; docs/checks-nvidia.md lists them in a table."""

    # nvidia.xid
    xid_window_s: int = pydantic.Field(default=86_400, gt=0)
    """How long a hardware XID keeps its result (longer than a drain may take)."""
    xid_memory_repeat: int = pydantic.Field(default=2, ge=2)
    """This many memory XIDs (48, 94, 95) of one code on a GPU within the window: repair."""
    xid_app_window_s: int = pydantic.Field(default=3_600, gt=0)
    """Window in which application XIDs (13, 31, 43) are counted."""
    xid_app_repeat: int = pydantic.Field(default=10, ge=1)
    """This many application XIDs on a GPU within their window: warn, suggest a reboot."""

    # nvidia.ecc
    ecc_volatile_uncorrected_max: int = pydantic.Field(default=0, ge=0)
    ecc_aggregate_uncorrected_max: int = pydantic.Field(default=10, ge=0)
    sram_uncorrected_max: int = pydantic.Field(default=0, ge=0)

    # nvidia.retired_pages (pre-Ampere)
    retired_pages_limit: int = pydantic.Field(default=60, ge=1)

    # nvidia.temperature
    temperature_margin_c: int = pydantic.Field(default=5, ge=0)
    """Warn this many degrees below the GPU's own slowdown threshold."""

    # nvidia.pcie
    pcie_width_fail_ratio: float = pydantic.Field(default=0.5, gt=0, le=1)
    """Current/max link width at or below this: fail; below max but above it: warn."""

    # nvidia.nvlink: error counter increase between two runs of the check
    nvlink_replay_delta_max: int = pydantic.Field(default=100, ge=0)
    nvlink_recovery_delta_max: int = pydantic.Field(default=0, ge=0)
    nvlink_crc_delta_max: int = pydantic.Field(default=100, ge=0)
