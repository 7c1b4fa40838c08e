"""Thresholds of the nic checks (the [checks.nic] table of agent.toml).

Rates are counted over a trailing window (`rate_window_s`, one hour by default): "restarts per
hour" is how many restarts the counters show between the newest sample older than the window
and now, never an extrapolation from two close samples. docs/checks-nic-host.md has the table.
"""

from __future__ import annotations

from typing import Self

import pydantic

from vcbase.config import StrictModel

_Count = pydantic.NonNegativeInt  # a maximum: more than this is bad
_Limit = pydantic.PositiveInt  # a threshold: this many or more is bad


class NicThresholds(StrictModel):
    """Every field has a default; docs/checks-nic-host.md lists them in a table."""

    rate_window_s: pydantic.PositiveInt = 3600
    speed_min_fraction: float = pydantic.Field(default=1.0, gt=0, le=1)
    link_restarts_warn: _Limit = 3
    link_restarts_fail: _Limit = 10
    aer_uncorrectable_max: _Count = 0
    aer_correctable_warn: _Limit = 100
    ib_symbol_errors_warn: _Limit = 100
    ib_link_downed_warn: _Limit = 1
    ib_link_downed_fail: _Limit = 5

    @pydantic.model_validator(mode="after")
    def _fail_above_warn(self) -> Self:
        for warn, fail in (
            ("link_restarts_warn", "link_restarts_fail"),
            ("ib_link_downed_warn", "ib_link_downed_fail"),
        ):
            if getattr(self, fail) < getattr(self, warn):
                raise ValueError(f"{fail} must be >= {warn}")
        return self
