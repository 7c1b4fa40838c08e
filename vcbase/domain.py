"""Domain types of vcluster.

These are what the agent, the coordinator and the CLI compute with. The generated protobuf types
never travel past `vcbase.wire`, which converts in both directions.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime


class NodeState(enum.StrEnum):
    """Lifecycle state of a node, owned by the coordinator (docs/architecture.md)."""

    REGISTERED = "registered"
    CONFIGURING = "configuring"
    READY = "ready"
    DRAINING = "draining"
    DRAINED = "drained"
    REBOOTING = "rebooting"
    VALIDATING = "validating"
    SET_ASIDE = "set_aside"
    LOST = "lost"


class GpuVendor(enum.StrEnum):
    NVIDIA = "nvidia"
    AMD = "amd"


class NicKind(enum.StrEnum):
    SLINGSHOT = "slingshot"
    INFINIBAND = "infiniband"
    ETHERNET = "ethernet"


class CheckStatus(enum.StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    UNKNOWN = "unknown"


class CheckAction(enum.StrEnum):
    NONE = "none"
    REBOOT = "reboot"
    REPAIR = "repair"


# How bad a status is, for summarising a node's health: the worst result wins. `unknown` (a check
# could not tell) is worse than ok but not as bad as a warning that something is wrong.
SEVERITY = {CheckStatus.OK: 0, CheckStatus.UNKNOWN: 1, CheckStatus.WARN: 2, CheckStatus.FAIL: 3}


@dataclass(frozen=True, slots=True)
class GpuInfo:
    index: int
    vendor: GpuVendor
    model: str
    uuid: str
    pci_bus_id: str
    memory_bytes: int
    driver_version: str = ""


@dataclass(frozen=True, slots=True)
class NicInfo:
    name: str
    kind: NicKind
    address: str = ""
    speed_mbps: int = 0
    link_up: bool = False
    driver: str = ""


@dataclass(frozen=True, slots=True)
class Inventory:
    hostname: str
    node_type: str
    cpu_model: str
    cpu_cores: int
    memory_bytes: int
    kernel: str
    architecture: str
    gpus: tuple[GpuInfo, ...] = ()
    nics: tuple[NicInfo, ...] = ()
    simulated: bool = False


@dataclass(frozen=True, slots=True)
class CheckResult:
    check: str
    subject: str
    status: CheckStatus
    action: CheckAction
    message: str
    observed: dict[str, str] = field(default_factory=dict)
    observed_at: datetime | None = None


def worst_status(results: Iterable[CheckResult]) -> CheckStatus | None:
    """The node-level health: the worst status of its results; None when there are none."""
    return max((r.status for r in results), key=SEVERITY.__getitem__, default=None)


@dataclass(frozen=True, slots=True)
class Hello:
    """What an agent says first on its stream."""

    node_name: str
    machine_id: str
    boot_id: str
    agent_version: str
    inventory: Inventory | None


@dataclass(frozen=True, slots=True)
class NodeRecord:
    """The coordinator's durable record of a node."""

    name: str
    state: NodeState
    machine_id: str
    boot_id: str
    agent_version: str
    registered_at: datetime
    state_since: datetime
    last_heartbeat: datetime | None = None
    state_reason: str = ""
    inventory: Inventory | None = None
    connected: bool = False
    peer: str = ""
    # Views the registry adds; not part of the durable node row.
    health: CheckStatus | None = None
    checks: tuple[CheckResult, ...] = ()

    @property
    def node_type(self) -> str:
        return self.inventory.node_type if self.inventory else ""
