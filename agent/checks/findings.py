"""Several findings about one subject, folded into one result. Shared by every check area.

A check looks at several things per subject (a GPU's ECC, SRAM and retired pages; a link's
state, speed and flapping) but reports one result per subject. Each thing it finds is a
`Finding`; `fold` makes the result: the worst status wins (fail > warn > unknown > ok, as
`vcbase.domain.SEVERITY` ranks them), the action is the strongest one asked for
(repair > reboot > none), and the message lists every bad finding, worst first, so an SRE sees
everything at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vcbase.domain import SEVERITY, CheckAction, CheckResult, CheckStatus

if TYPE_CHECKING:
    from agent.checks.base import Check, CheckContext

ACTION_STRENGTH = {CheckAction.NONE: 0, CheckAction.REBOOT: 1, CheckAction.REPAIR: 2}


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing wrong (or not) with a subject; `text` says what was seen and what to do."""

    status: CheckStatus
    action: CheckAction
    text: str


def fail(action: CheckAction, text: str) -> Finding:
    return Finding(CheckStatus.FAIL, action, text)


def warn(text: str) -> Finding:
    return Finding(CheckStatus.WARN, CheckAction.NONE, text)


def worst(findings: Sequence[Finding]) -> tuple[CheckStatus, CheckAction]:
    """The worst status of `findings`, and the strongest action any of them asks for
    (ok/none for no findings)."""
    status = max((f.status for f in findings), key=SEVERITY.__getitem__, default=CheckStatus.OK)
    action = max(
        (f.action for f in findings), key=ACTION_STRENGTH.__getitem__, default=CheckAction.NONE
    )
    return status, action


def fold(
    check: Check,
    ctx: CheckContext,
    subject: str,
    findings: Iterable[Finding],
    ok_message: str,
    prefix: str = "",
    **observed: Any,
) -> CheckResult:
    """One result for `subject`: ok with `ok_message` when no finding is bad; otherwise the
    worst status and strongest action, the message `prefix` + every bad finding, worst first."""
    bad = sorted(
        (f for f in findings if f.status is not CheckStatus.OK),
        key=lambda f: (SEVERITY[f.status], ACTION_STRENGTH[f.action]),
        reverse=True,
    )
    if not bad:
        return check.ok(ctx, subject, ok_message, **observed)
    status, action = worst(bad)
    message = prefix + "; ".join(f.text for f in bad)
    return check.result(ctx, subject, status, action, message, **observed)
