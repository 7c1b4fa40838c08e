"""What every health check is, and what it gets to work with.

A check is a small object with a `run(ctx)` that reads the hardware through the ports in
`ctx.hw` (the same ports on a real and a simulated node) and returns one `CheckResult` per
subject it looked at (gpu0..gpuN, hsn0, /scratch, host, ...). Contract:

- `run` blocks (NVML, sysfs reads): the runner calls it in a worker thread, never on the loop.
- `run` does not raise for a hardware problem: that is a result (status fail/warn/unknown, with
  an action and a message an SRE can act on, and the observed values). If it raises anyway the
  runner records `unknown` for the check and logs the exception: a buggy check never kills the
  agent and never passes silently.
- A check may keep state between runs (counter baselines for deltas, recent XIDs): one instance
  lives as long as the agent. The first run of a delta check sets its baseline and is ok.
- `applies(ctx)` says whether the check makes sense on this node (NVIDIA checks on an AMD node
  do not); checks that do not apply are not run and not reported.
- Event-driven checks list the event kinds they react to in `triggers`; the runner gives them
  each event through `observe(event)` and re-runs them at once.
- Debouncing (a state flips only after N consecutive results) is the runner's job, configured
  per check by `fail_after` / `ok_after`; a check just reports what it sees now.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from vcbase.domain import CheckAction, CheckResult, CheckStatus

if TYPE_CHECKING:
    from agent.checks.thresholds import Thresholds
    from agent.hardware import NodeHardware
    from agent.profiles import Profile


class Mode(enum.StrEnum):
    """Why checks run: the periodic loop, or an on-demand pass for a Slurm hook or an operator."""

    PERIODIC = "periodic"
    PROLOG = "prolog"  # before a job: fast checks only
    EPILOG = "epilog"  # after a job: fast checks plus post-job ones (XIDs during the job, ECC)
    FULL = "full"  # everything, e.g. validation after a reboot


ALL_MODES = frozenset(Mode)


@dataclass(frozen=True)
class CheckContext:
    hw: NodeHardware
    profile: Profile | None  # the node type's expected hardware; None for an unknown type
    thresholds: Thresholds
    now: datetime
    mode: Mode = Mode.PERIODIC


@dataclass(frozen=True)
class HardwareEvent:
    """Something the hardware said on its own: an XID, a device removed, a link that changed."""

    kind: str  # "xid", "device_removed", "link_changed"
    subject: str  # gpu0, hsn1, mlx5_0/1
    at: datetime
    data: Mapping[str, str] = field(default_factory=dict)


class EventSource(Protocol):
    """A blocking stream of hardware events (NVML event set, udev monitor, netlink socket, or the
    simulated node's event log). The runner calls `wait` in a dedicated thread, in a loop."""

    name: str

    def wait(self, timeout: float) -> list[HardwareEvent]:
        """Block up to `timeout` seconds; return the events that arrived ([] on timeout)."""
        ...

    def close(self) -> None: ...


class Check(abc.ABC):
    name: ClassVar[str]  # dotted, e.g. "nvidia.ecc", "nic.cxi.link", "host.mounts"
    description: ClassVar[str]
    interval: ClassVar[float] = 60.0  # seconds between periodic runs (jitter is added)
    modes: ClassVar[frozenset[Mode]] = ALL_MODES  # on-demand modes it runs in
    fail_after: ClassVar[int] = 1  # consecutive bad results before the state flips to bad
    ok_after: ClassVar[int] = 1  # consecutive ok results before it flips back
    triggers: ClassVar[frozenset[str]] = frozenset()  # event kinds that re-run it at once
    timeout: ClassVar[float] = 10.0  # seconds before a run counts as hung (a dead NFS mount)

    def applies(self, ctx: CheckContext) -> bool:
        return True

    def observe(self, event: HardwareEvent) -> None:  # noqa: B027 - optional hook
        """Take in an event of a kind listed in `triggers` (before the immediate re-run)."""

    @abc.abstractmethod
    def run(self, ctx: CheckContext) -> list[CheckResult]: ...

    # Helpers for building results, so every check words them the same way.
    def result(
        self,
        ctx: CheckContext,
        subject: str,
        status: CheckStatus,
        action: CheckAction,
        message: str,
        **observed: Any,
    ) -> CheckResult:
        return CheckResult(
            check=self.name,
            subject=subject,
            status=status,
            action=action,
            message=message,
            observed={k: str(v) for k, v in observed.items()},
            observed_at=ctx.now,
        )

    def ok(self, ctx: CheckContext, subject: str, message: str, **observed: Any) -> CheckResult:
        return self.result(ctx, subject, CheckStatus.OK, CheckAction.NONE, message, **observed)

    def unknown(
        self, ctx: CheckContext, subject: str, message: str, **observed: Any
    ) -> CheckResult:
        return self.result(ctx, subject, CheckStatus.UNKNOWN, CheckAction.NONE, message, **observed)
