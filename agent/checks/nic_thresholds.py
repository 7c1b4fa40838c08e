"""Thresholds of the nic checks (the [checks.nic] table of agent.toml)."""

from __future__ import annotations

from vcbase.config import StrictModel


class NicThresholds(StrictModel):
    """Every field has a default; docs/health-checks.md lists them in a table."""
