"""The reason-prefix convention and the decisions built on it: pure functions of a node's state.

Both scheduler adapters call these, so the real driver and the fake cannot disagree on policy;
the contract suite then only has to check that each carries the decisions out.
"""

from __future__ import annotations

import re
from enum import StrEnum

from coordinator.drivers.scheduler import (
    REBOOT_ISSUED,
    REBOOT_REQUESTED,
    DrainOutcome,
    ForeignDrainError,
    RebootInProgressError,
    SchedulerNode,
)
from vcbase.errors import ValidationError

MAX_REASON = 200  # Slurm takes longer reasons; sinfo and operators' screens do not
_STAMP = re.compile(r"\s*\[[^\[\]@]*@[^\[\]]*\]$")


def check_prefix(prefix: str) -> str:
    """Validate a reason prefix: it must be non-blank and on one line."""
    if not prefix.strip() or "\n" in prefix:
        raise ValidationError("prefix", "must be a non-blank single line")
    return prefix


def our_reason(prefix: str, reason: str) -> str:
    """`reason` with our prefix (added once); ValidationError if blank or not one short line."""
    text = reason.strip()
    if not text:
        raise ValidationError("reason", "must not be blank (Slurm requires a reason)")
    if "\n" in text or "\r" in text:
        raise ValidationError("reason", "must be a single line")
    full = text if text.startswith(prefix) else prefix + text
    if len(full) > MAX_REASON:
        raise ValidationError("reason", f"longer than {MAX_REASON} characters with its prefix")
    return full


def is_ours(prefix: str, reason: str) -> bool:
    return reason.startswith(prefix)


def strip_stamp(reason: str) -> str:
    """Remove the " [user@time]" that `scontrol show node` appends to a reason."""
    return _STAMP.sub("", reason).strip()


def is_foreign_hold(node: SchedulerNode) -> bool:
    """Held (drained, draining or down) under a reason someone else set."""
    return node.held and bool(node.reason) and not node.reason_is_ours


class Act(StrEnum):
    """What an adapter should do after a decision: run its command, or nothing."""

    RUN = "run"
    SKIP = "skip"


def decide_drain(node: SchedulerNode, reason: str) -> DrainOutcome:
    """DRAINED: run the drain. UNCHANGED / FOREIGN: do nothing. `reason` is already prefixed."""
    if is_foreign_hold(node):
        return DrainOutcome.FOREIGN
    if node.held and node.reason == reason:
        return DrainOutcome.UNCHANGED
    return DrainOutcome.DRAINED


def decide_resume(node: SchedulerNode) -> Act:
    """RUN the resume, or SKIP a node that is not held; raise if the hold is not ours to clear."""
    if REBOOT_REQUESTED in node.flags or REBOOT_ISSUED in node.flags:
        raise RebootInProgressError(node.name, "resume")
    if not node.held:
        return Act.SKIP
    if is_foreign_hold(node):
        raise ForeignDrainError(node.name, node.reason, "resume")
    return Act.RUN


def decide_reboot(node: SchedulerNode) -> Act:
    """RUN the reboot request, or SKIP one already pending or issued; raise on a foreign hold."""
    if REBOOT_REQUESTED in node.flags or REBOOT_ISSUED in node.flags:
        return Act.SKIP
    if is_foreign_hold(node):
        raise ForeignDrainError(node.name, node.reason, "reboot")
    return Act.RUN


def decide_cancel_reboot(node: SchedulerNode) -> Act:
    """RUN the cancel of a pending reboot, SKIP when none; raise once the reboot is issued."""
    if REBOOT_ISSUED in node.flags:
        raise RebootInProgressError(node.name, "cancel_reboot")
    return Act.RUN if REBOOT_REQUESTED in node.flags else Act.SKIP
