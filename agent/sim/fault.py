"""The shape of a simulated fault: something an operator injects into a running simulated node.

Each fault changes the simulated hardware's state (the GPU state files, the sysfs/procfs tree)
and, where the real hardware would emit an event (an XID, a udev remove, a netlink link change),
appends that event to the simulated event log. `clear` puts the healthy state back. Both are
idempotent. `expect` documents, and the tests check, what the health checks must say.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vcbase.domain import CheckAction, CheckStatus


@dataclass(frozen=True)
class SimTarget:
    """Where a fault lands: the node's sim directory (<state_dir>/sim), its profile, and the
    device it is aimed at (e.g. "gpu1", "hsn0", "/scratch"; None for the fault's default)."""

    sim_dir: Path
    profile: str
    node_name: str
    device: str | None = None


@dataclass(frozen=True)
class Expectation:
    check: str  # the check that must flag it, e.g. "nvidia.xid"
    status: CheckStatus
    action: CheckAction
    subject: str  # the subject it is reported on, with the default target, e.g. "gpu0"


@dataclass(frozen=True)
class Fault:
    name: str  # kebab-case, e.g. "xid-79", "row-remap-failure", "cxi-link-down"
    description: str
    profiles: frozenset[str]  # node types it applies to
    expect: Expectation
    event_driven: bool  # True: the agent learns of it from an event (XID, udev, netlink)
    inject: Callable[[SimTarget], None]
    clear: Callable[[SimTarget], None]
