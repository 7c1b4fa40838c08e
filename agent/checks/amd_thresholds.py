"""Thresholds of the amd checks (the [checks.amd] table of agent.toml).

docs/checks-amd.md lists every key with its default and the check that reads it. Counts are
per GPU (per GCD on MI250X, per APU on MI300A); temperatures are degrees Celsius.
"""

from __future__ import annotations

import pydantic

from vcbase.config import StrictModel


class AmdThresholds(StrictModel):
    """Every field has a default; docs/checks-amd.md lists them in a table."""

    ecc_uncorrectable_repair: int = pydantic.Field(default=5, ge=1)
    """amd.ecc: uncorrectable ECC errors since the driver loaded at which the GPU needs repair
    rather than a reboot (a reboot resets the count and retires the pages; this many in one
    boot means the HBM itself is failing). 1 to N-1 errors: fail/reboot."""

    ecc_correctable_warn: int = pydantic.Field(default=100, ge=1)
    """amd.ecc: correctable ECC errors within `ecc_correctable_window_s` that raise a warning."""

    ecc_correctable_window_s: float = pydantic.Field(default=3600.0, gt=0)
    """amd.ecc: the sliding window over which correctable errors are counted."""

    bad_page_threshold: int | None = pydantic.Field(default=None, ge=1)
    """amd.bad_pages: retired pages at which the GPU is failed for repair. None: one page per
    100 MiB of VRAM, amdgpu's own rate (RAS_BAD_PAGE_COVER); set it to the node's
    amdgpu.bad_page_threshold when that module parameter is set."""

    bad_page_warn_ratio: float = pydantic.Field(default=0.8, gt=0, le=1)
    """amd.bad_pages: share of the threshold at which a warning (action repair) is raised."""

    temperature_critical_c: int | None = pydantic.Field(default=None, gt=0)
    """amd.temperature: the limit to compare against. None: the limit the device reports
    (AMDSMI_TEMP_CRITICAL of the sensor read), else `temperature_critical_default_c`."""

    temperature_critical_default_c: int = pydantic.Field(default=100, gt=0)
    """amd.temperature: the limit used when the device reports none."""

    temperature_warn_margin_c: int = pydantic.Field(default=10, ge=0)
    """amd.temperature: warn this many degrees below the critical limit."""
