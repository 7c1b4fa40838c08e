"""Thresholds of the host checks (the [checks.host] table of agent.toml)."""

from __future__ import annotations

from vcbase.config import StrictModel


class HostThresholds(StrictModel):
    """Every field has a default; docs/health-checks.md lists them in a table."""
