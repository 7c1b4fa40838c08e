"""Thresholds of the nvidia checks (the [checks.nvidia] table of agent.toml)."""

from __future__ import annotations

from vcbase.config import StrictModel


class NvidiaThresholds(StrictModel):
    """Every field has a default; docs/health-checks.md lists them in a table."""
