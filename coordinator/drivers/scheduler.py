"""The scheduler port: what the coordinator needs from a batch scheduler (Slurm) about its nodes.

Two adapters implement it and pass the same contract suite (tests/scheduler_contract.py):
`SlurmScheduler` (coordinator/drivers/slurm.py), which runs Slurm's commands, and `FakeScheduler`
(coordinator/drivers/fake_scheduler.py), which keeps nodes in memory.

Reason prefix: every reason this project sets starts with a prefix (default "vcluster: "); a
reason without it was set by someone else (an operator, NHC, Slurm itself: "Prolog error",
"Not responding"). That is how we know our own drains, as LBNL NHC does:

- `drain(name, reason)` prefixes `reason`. A node already held (drained, draining or down) under
  a foreign reason is left untouched, and the call says so (`DrainOutcome.FOREIGN`): the node
  takes no new jobs either way, and the other party's reason is what an operator must see.
- `resume(name)` returns the node to service only when its reason is ours. A foreign reason is
  never cleared: it raises `ForeignDrainError`. A node that is not held at all: no-op, False.
  A node with a reboot pending or under way: `RebootInProgressError` (wait, or `cancel_reboot`).
- `reboot(name, reason, next_state)` asks Slurm to reboot the node as soon as its jobs end (ASAP:
  the node drains meanwhile), then return it to service ("resume") or keep it down under our
  reason ("down": validate first, then `resume`). A foreign hold raises `ForeignDrainError` (a
  reboot would overwrite its reason). A reboot already pending or under way: no-op, False.
- `cancel_reboot(name)` withdraws a pending reboot; the drain that the reboot request itself set
  goes with it, one set earlier by `drain` stays. Nothing pending: no-op, False. A reboot that
  Slurm has already issued cannot be withdrawn: `RebootInProgressError`.

Each check-then-act reads the node first; someone else can still act between that read and our
command (Slurm has no compare-and-set on a reason). The window is one command long.

Errors from commands (coordinator/drivers/command.py): `CommandTimeoutError` and
`SchedulerUnavailableError` are transient (retry), `CommandFailedError` is terminal; all keep the
command, its exit code, stdout and stderr. An unknown node name raises `UnknownNodeError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal, Protocol

from vcbase.errors import ConflictError, NotFoundError

DEFAULT_PREFIX = "vcluster: "

NextState = Literal["resume", "down"]

# Slurm's state flags (upper case, as `sinfo --json` names them) that this port acts on.
DRAIN = "DRAIN"
REBOOT_REQUESTED = "REBOOT_REQUESTED"
REBOOT_ISSUED = "REBOOT_ISSUED"
NOT_RESPONDING = "NOT_RESPONDING"


class SchedulerState(StrEnum):
    """A node's state, normalised from Slurm's base state and flags (see `slurm_parse.normalise`).

    DRAINING: takes no new jobs, still runs some. DRAINED: takes none, runs none (a DOWN node with
    the DRAIN flag is DRAINED, as Slurm's own sinfo says). REBOOTING: a reboot is issued, or
    requested on a node that runs nothing.
    """

    IDLE = "idle"
    MIXED = "mixed"
    ALLOCATED = "allocated"
    COMPLETING = "completing"
    DRAINING = "draining"
    DRAINED = "drained"
    REBOOTING = "rebooting"
    DOWN = "down"
    FUTURE = "future"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class SchedulerNode:
    """One node as the scheduler sees it.

    `flags` are Slurm's state flags, upper case (DRAIN, REBOOT_REQUESTED, NOT_RESPONDING, ...).
    `reason` is the bare reason text (Slurm's "[user@time]" stamp removed), "" when none.
    `jobs` are the ids of the jobs that hold the node (running, suspended or completing), sorted.
    """

    name: str
    state: SchedulerState
    flags: frozenset[str] = field(default_factory=frozenset)
    reason: str = ""
    reason_is_ours: bool = False
    jobs: tuple[int, ...] = ()

    @property
    def held(self) -> bool:
        """Whether the node is kept from new jobs by a drain or by being down."""
        return DRAIN in self.flags or self.state is SchedulerState.DOWN

    @property
    def reboot_pending(self) -> bool:
        """A reboot is requested (waiting for jobs to end) but not yet issued."""
        return REBOOT_REQUESTED in self.flags and REBOOT_ISSUED not in self.flags

    @property
    def responding(self) -> bool:
        return NOT_RESPONDING not in self.flags


class DrainOutcome(StrEnum):
    DRAINED = "drained"  # our drain is now in place (set, or its reason updated)
    UNCHANGED = "unchanged"  # our drain with this very reason was already in place
    FOREIGN = "foreign"  # held under someone else's reason: left untouched


class UnknownNodeError(NotFoundError):
    """The scheduler does not know this node name."""

    def __init__(self, node: str) -> None:
        super().__init__(f"scheduler has no node {node!r}")
        self.node = node


class ForeignDrainError(ConflictError):
    """The node is held under a reason someone else set; we never clear or overwrite it."""

    def __init__(self, node: str, reason: str, action: str) -> None:
        super().__init__(
            f"{action} {node}: refused, the node is held under a reason not set by vcluster:"
            f" {reason!r} (clear it by hand once its cause is fixed)"
        )
        self.node = node
        self.reason = reason


class RebootInProgressError(ConflictError):
    """The node is rebooting (issued) or has a reboot pending; the action must wait for it."""

    def __init__(self, node: str, action: str) -> None:
        super().__init__(f"{action} {node}: refused, a reboot of the node is under way")
        self.node = node


class Scheduler(Protocol):
    """The port. Every method is idempotent; see the module docstring for the reason contract."""

    @property
    def prefix(self) -> str:
        """The prefix of every reason this adapter sets."""
        ...

    async def node(self, name: str) -> SchedulerNode:
        """The named node; `UnknownNodeError` if the scheduler does not know it."""
        ...

    async def nodes(self) -> list[SchedulerNode]:
        """Every node, sorted by name."""
        ...

    async def drain(self, name: str, reason: str) -> DrainOutcome: ...

    async def resume(self, name: str) -> bool:
        """True if the node was returned to service now, False if it was not held."""
        ...

    async def reboot(self, name: str, reason: str, next_state: NextState = "resume") -> bool:
        """True if a reboot was requested now, False if one was already pending or under way."""
        ...

    async def cancel_reboot(self, name: str) -> bool:
        """True if a pending reboot was withdrawn now, False if none was pending."""
        ...
