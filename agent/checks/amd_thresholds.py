"""Thresholds of the amd checks (the [checks.amd] table of agent.toml)."""

from __future__ import annotations

from vcbase.config import StrictModel


class AmdThresholds(StrictModel):
    """Every field has a default; docs/health-checks.md lists them in a table."""
