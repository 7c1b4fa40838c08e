"""Thresholds of the host checks (the [checks.host] table of agent.toml).

`required_mounts` / `required_processes`: None (the default) takes the node type's lists from
its profile (`agent.profiles.Profile.required_mounts/required_processes`); a list replaces them,
and [] requires nothing. A node of unknown type has no profile, so only a configured list
applies there. docs/checks-nic-host.md has the table.
"""

from __future__ import annotations

import pydantic

from vcbase.config import StrictModel


class HostThresholds(StrictModel):
    """Every field has a default; docs/checks-nic-host.md lists them in a table."""

    memory_min_fraction: float = pydantic.Field(default=0.95, gt=0, le=1)
    required_mounts: list[str] | None = None
    mount_write_probe: bool = True
    required_processes: list[str] | None = None
    rate_window_s: pydantic.PositiveInt = 3600
    edac_ue_max: pydantic.NonNegativeInt = 0
    edac_ce_warn: pydantic.PositiveInt = 100

    @pydantic.field_validator("required_mounts")
    @classmethod
    def _absolute(cls, value: list[str] | None) -> list[str] | None:
        for mountpoint in value or []:
            if not mountpoint.startswith("/"):
                raise ValueError(f"not an absolute mountpoint: {mountpoint!r}")
        return value

    @pydantic.field_validator("required_processes")
    @classmethod
    def _names(cls, value: list[str] | None) -> list[str] | None:
        for name in value or []:
            if not name or "/" in name:
                raise ValueError(f"not a process name: {name!r}")
        return value
