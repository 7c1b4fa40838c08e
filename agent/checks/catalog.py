"""The whole check catalog and the event sources of a node, in one place."""

from __future__ import annotations

from agent.checks import amd, events_os, host, nic, nvidia
from agent.checks.base import Check, EventSource
from agent.hardware import NodeHardware


def all_checks() -> list[Check]:
    """A fresh instance of every check (checks keep state; one set per runner)."""
    return [*nvidia.checks(), *amd.checks(), *nic.checks(), *host.checks()]


def event_sources(hw: NodeHardware) -> list[EventSource]:
    """The event sources that fit this node (NVML XIDs, udev removals, netlink links)."""
    return [*nvidia.event_sources(hw), *events_os.event_sources(hw)]
