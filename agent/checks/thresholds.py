"""All check thresholds, one section per area: the [checks] table of agent.toml.

Each section's model lives beside its checks (agent/checks/<area>_thresholds.py); an unknown key
or a wrong type is an error naming it, like every other config key.
"""

from __future__ import annotations

from agent.checks.amd_thresholds import AmdThresholds
from agent.checks.host_thresholds import HostThresholds
from agent.checks.nic_thresholds import NicThresholds
from agent.checks.nvidia_thresholds import NvidiaThresholds
from vcbase.config import StrictModel


class Thresholds(StrictModel):
    nvidia: NvidiaThresholds = NvidiaThresholds()
    amd: AmdThresholds = AmdThresholds()
    nic: NicThresholds = NicThresholds()
    host: HostThresholds = HostThresholds()
