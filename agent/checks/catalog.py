"""The whole check catalog and the event sources of a node, in one place."""

from __future__ import annotations

from agent.checks.amd import checks as amd_checks
from agent.checks.base import Check, EventSource
from agent.checks.events_os import event_sources as os_event_sources
from agent.checks.host import checks as host_checks
from agent.checks.nic import checks as nic_checks
from agent.checks.nvidia import checks as nvidia_checks
from agent.checks.nvidia import event_sources as nvidia_event_sources
from agent.hardware import NodeHardware


def all_checks() -> list[Check]:
    """A fresh instance of every check (checks keep state; one set per runner)."""
    return [*nvidia_checks(), *amd_checks(), *nic_checks(), *host_checks()]


def event_sources(hw: NodeHardware) -> list[EventSource]:
    """The event sources that fit this node (NVML XIDs, udev removals, netlink links)."""
    return [*nvidia_event_sources(hw), *os_event_sources(hw)]
