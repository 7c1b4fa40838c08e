"""An in-memory scheduler: the fake of the scheduler port, held to the same contract as Slurm.

It models what the real Slurm 22.05 does, as seen in tests/integration/test_slurm_driver.py:
- a reboot request (ASAP) sets DRAIN + REBOOT_REQUESTED; it is issued once the node runs no job
  (flags DRAIN + REBOOT_ISSUED, base DOWN, reason + " : reboot issued"), and completes
  `reboot_s` seconds later by the injected clock: back to idle with no reason ("resume"), or
  DOWN under our reason + " : reboot complete" ("down");
- `cancel_reboot` removes the DRAIN only if the reboot request set it;
- the decisions (what is ours, what to refuse) are the shared ones of coordinator/drivers/reasons.

Test controls, standing in for users and operators: `start_job`, `end_job`, `admin_set` (an
operator's `scontrol update` with a reason of their own), `fail_next` (the next port call raises),
and `commands`, the log of every state change this port made (to assert, e.g., one reboot only).
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

from coordinator.drivers.reasons import (
    Act,
    check_prefix,
    decide_cancel_reboot,
    decide_drain,
    decide_reboot,
    decide_resume,
    our_reason,
)
from coordinator.drivers.scheduler import (
    DEFAULT_PREFIX,
    DRAIN,
    NOT_RESPONDING,
    REBOOT_ISSUED,
    REBOOT_REQUESTED,
    DrainOutcome,
    NextState,
    SchedulerNode,
    SchedulerState,
    UnknownNodeError,
)
from coordinator.drivers.slurm_parse import make_node
from vcbase.errors import ValidationError


@dataclass
class _Node:
    name: str
    down: bool = False
    drain: bool = False
    reason: str = ""
    responding: bool = True
    reboot: Literal["", "requested", "issued"] = ""
    reboot_set_drain: bool = False
    next_state: NextState = "resume"
    reboot_done_at: float = 0.0
    jobs: set[int] = field(default_factory=set)


class FakeScheduler:
    """`Scheduler` in memory. `clock` (seconds, monotonic) drives reboot completion."""

    def __init__(
        self,
        nodes: Iterable[str],
        *,
        prefix: str = DEFAULT_PREFIX,
        reboot_s: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._prefix = check_prefix(prefix)
        self._nodes = {n: _Node(n) for n in nodes}
        self._reboot_s = reboot_s
        self._clock = clock
        self._job_ids = itertools.count(1)
        self._failures: list[Exception] = []
        self.commands: list[tuple[str, ...]] = []

    @property
    def prefix(self) -> str:
        return self._prefix

    # -- the port -------------------------------------------------------------------------------

    async def node(self, name: str) -> SchedulerNode:
        self._enter()
        return self._view(self._get(name))

    async def nodes(self) -> list[SchedulerNode]:
        self._enter()
        return [self._view(self._nodes[n]) for n in sorted(self._nodes)]

    async def drain(self, name: str, reason: str) -> DrainOutcome:
        full = our_reason(self._prefix, reason)
        self._enter()
        n = self._get(name)
        outcome = decide_drain(self._view(n), full)
        if outcome is DrainOutcome.DRAINED:
            n.drain, n.reason = True, full
            self.commands.append(("drain", name, full))
        return outcome

    async def resume(self, name: str) -> bool:
        self._enter()
        n = self._get(name)
        if decide_resume(self._view(n)) is Act.SKIP:
            return False
        n.drain, n.down, n.reason = False, False, ""
        self.commands.append(("resume", name))
        return True

    async def reboot(self, name: str, reason: str, next_state: NextState = "resume") -> bool:
        if next_state not in ("resume", "down"):
            raise ValidationError("next_state", "must be 'resume' or 'down'")
        full = our_reason(self._prefix, reason)
        self._enter()
        n = self._get(name)
        if decide_reboot(self._view(n)) is Act.SKIP:
            return False
        n.reboot, n.reboot_set_drain, n.next_state = "requested", not n.drain, next_state
        n.drain, n.reason = True, full
        self.commands.append(("reboot", name, full, next_state))
        return True

    async def cancel_reboot(self, name: str) -> bool:
        self._enter()
        n = self._get(name)
        if decide_cancel_reboot(self._view(n)) is Act.SKIP:
            return False
        n.reboot = ""
        if n.reboot_set_drain:
            n.drain, n.reason = False, ""
        self.commands.append(("cancel_reboot", name))
        return True

    # -- test controls --------------------------------------------------------------------------

    def start_job(self, node: str) -> int:
        """Run a job on `node` (one CPU: it becomes allocated); ValueError if it takes no jobs."""
        self._settle()
        n = self._get(node)
        if n.drain or n.down or n.reboot or n.jobs:
            raise ValueError(f"{node} takes no job now")
        job = next(self._job_ids)
        n.jobs.add(job)
        return job

    def end_job(self, job: int) -> None:
        for n in self._nodes.values():
            n.jobs.discard(job)
        self._settle()

    def admin_set(
        self, node: str, state: Literal["drain", "down", "resume"], reason: str = ""
    ) -> None:
        """What an operator's `scontrol update nodename=N state=... reason=...` does: as is."""
        n = self._get(node)
        if state == "resume":
            n.drain, n.down, n.reason = False, False, ""
            return
        if not reason:
            raise ValueError("Slurm requires a reason to drain or down a node")
        n.reason = reason
        n.drain, n.down = (True, n.down) if state == "drain" else (n.drain, True)

    def set_responding(self, node: str, responding: bool) -> None:
        self._get(node).responding = responding

    def fail_next(self, error: Exception) -> None:
        """Make the next port call raise `error` (queued: call again for several failures)."""
        self._failures.append(error)

    # -- internals ------------------------------------------------------------------------------

    def _enter(self) -> None:
        if self._failures:
            raise self._failures.pop(0)
        self._settle()

    def _get(self, name: str) -> _Node:
        try:
            return self._nodes[name]
        except KeyError:
            raise UnknownNodeError(name) from None

    def _settle(self) -> None:
        """Advance reboots: issue those whose node is free, complete those whose time is up."""
        now = self._clock()
        for n in self._nodes.values():
            if n.reboot == "requested" and not n.jobs:
                n.reboot, n.reboot_done_at = "issued", now + self._reboot_s
                n.reason += " : reboot issued"
            if n.reboot == "issued" and now >= n.reboot_done_at:
                n.reboot, n.drain = "", False
                if n.next_state == "resume":
                    n.down, n.reason = False, ""
                else:
                    n.down, n.reason = True, n.reason + " : reboot complete"

    def _view(self, n: _Node) -> SchedulerNode:
        if n.jobs:
            base = SchedulerState.ALLOCATED
        elif n.down or n.reboot == "issued":
            base = SchedulerState.DOWN
        else:
            base = SchedulerState.IDLE
        flags = {
            DRAIN: n.drain,
            REBOOT_REQUESTED: n.reboot == "requested",
            REBOOT_ISSUED: n.reboot == "issued",
            NOT_RESPONDING: not n.responding,
        }
        on = [f for f, set_ in flags.items() if set_]
        node = make_node(n.name, base.value, on, n.reason, self._prefix)
        return dataclasses.replace(node, jobs=tuple(sorted(n.jobs)))
