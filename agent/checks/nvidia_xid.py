"""XID errors: what each one means for the node (a pure table and a pure evaluation), and the
`nvidia.xid` check that keeps a window of recent XIDs per GPU.

XIDs arrive as events (`agent.checks.nvidia_events.NvmlXidEvents`), never by polling: the check
remembers them (`observe`) and `run` judges what is still inside its window. How a GPU's result
returns to ok, since an XID does not un-happen when a fault is cleared:
- expiry: a hardware XID counts for `xid_window_s` (default 24 h: longer than a drain may wait
  for a job), an application XID for `xid_app_window_s` (1 h);
- reboot: history lives in the agent's memory, and a reboot restarts the agent. On a simulated
  node, where a "reboot" only changes the boot id, `run` drops what it saw before the boot id
  changed. An agent restart without a reboot forgets too; the polled checks still see what the
  XID left behind (volatile ECC counters, a lost GPU, a pending row remap).
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import ClassVar

from agent.checks.base import CheckContext, HardwareEvent, Mode
from agent.checks.findings import Finding
from agent.checks.nvidia_base import NvidiaCheck, expected_gpus
from agent.checks.nvidia_thresholds import NvidiaThresholds
from vcbase.domain import CheckAction, CheckResult, CheckStatus
from vcbase.logging import get_logger

log = get_logger(__name__)

OK, WARN, FAIL = CheckStatus.OK, CheckStatus.WARN, CheckStatus.FAIL
NONE, REBOOT, REPAIR = CheckAction.NONE, CheckAction.REBOOT, CheckAction.REPAIR
_HISTORY = 1000  # XIDs remembered per GPU at most (a storm must not grow memory)
_SET_ASIDE_IF_AGAIN = "if it recurs after the reboot the node is set aside"


@dataclass(frozen=True, slots=True)
class XidRule:
    """What one XID means. kind: "hardware" (judged on its own, for `xid_window_s`), "app"
    (usually the job's fault: only a burst of them counts), "info" (no action)."""

    meaning: str
    status: CheckStatus
    action: CheckAction
    advice: str = ""
    kind: str = "hardware"
    memory: bool = False  # repeated `xid_memory_repeat` times in the window: fail, repair


# From NVIDIA's XID catalog (docs.nvidia.com/deploy/xid-errors), Ampere and Hopper; actions
# mapped to what vcluster can do: it resets a GPU by draining and rebooting the node.
XID_RULES: Mapping[int, XidRule] = MappingProxyType(
    {
        13: XidRule("graphics engine exception", OK, NONE, kind="app"),
        31: XidRule("GPU memory page fault", OK, NONE, kind="app"),
        43: XidRule("GPU stopped processing (channel reset)", OK, NONE, kind="app"),
        45: XidRule("preemptive channel cleanup", OK, NONE, kind="info"),
        48: XidRule("double-bit ECC error", FAIL, REBOOT, "reboot to reset the GPU", memory=True),
        61: XidRule("GPU micro-controller breakpoint", FAIL, REBOOT, "reboot to reset the GPU"),
        62: XidRule("GPU micro-controller halt", FAIL, REBOOT, "reboot to reset the GPU"),
        63: XidRule(
            "row remap / page retirement recorded", WARN, REBOOT, "a reboot activates the remap"
        ),
        64: XidRule(
            "row remap / page retirement failed", FAIL, REPAIR, "the GPU's memory needs service"
        ),
        74: XidRule("NVLink error", FAIL, REPAIR, "the NVLink fabric of this board needs service"),
        79: XidRule("GPU has fallen off the bus", FAIL, REBOOT, "reboot to bring it back"),
        92: XidRule(
            "high single-bit ECC error rate", WARN, NONE, "watch nvidia.ecc; repair if it grows"
        ),
        94: XidRule(
            "contained uncorrectable ECC error", WARN, REBOOT, "reboot to remap", memory=True
        ),
        95: XidRule(
            "uncontained uncorrectable ECC error", FAIL, REBOOT, "reboot to reset", memory=True
        ),
        119: XidRule("GSP RPC timeout", FAIL, REBOOT, "reboot to reset the GPU firmware"),
        120: XidRule("GSP error", FAIL, REBOOT, "reboot to reset the GPU firmware"),
        140: XidRule("unrecovered ECC error", FAIL, REBOOT, "reboot to reset the GPU"),
        154: XidRule(
            "GPU recovery action changed (see nvidia.recovery_action)", OK, NONE, kind="info"
        ),
    }
)
UNLISTED = XidRule("not in vcluster's XID table", WARN, NONE, "look it up in NVIDIA's XID catalog")


def rule_for(xid: int) -> XidRule:
    return XID_RULES.get(xid, UNLISTED)


@dataclass(frozen=True, slots=True)
class XidRecord:
    at: datetime
    xid: int


def _within(record: XidRecord, now: datetime, window_s: int) -> bool:
    return now - record.at < timedelta(seconds=window_s)  # a future stamp (skew) counts


def evaluate_xids(
    records: Iterable[XidRecord], now: datetime, t: NvidiaThresholds
) -> tuple[list[Finding], Counter[int]]:
    """What the XIDs of one GPU say at `now`: the findings (none when all is well) and the
    count of every XID still inside its window. Pure."""
    counts: Counter[int] = Counter()
    for record in records:
        window = t.xid_app_window_s if rule_for(record.xid).kind == "app" else t.xid_window_s
        if _within(record, now, window):
            counts[record.xid] += 1
    findings: list[Finding] = []
    hours = f"{t.xid_window_s / 3600:g} h"
    for xid, n in sorted(counts.items()):
        rule = rule_for(xid)
        if rule.kind != "hardware":
            continue
        status, action, advice = rule.status, rule.action, rule.advice
        if (status, action) == (FAIL, REBOOT):
            advice = f"{advice}; {_SET_ASIDE_IF_AGAIN}"
        if rule.memory and n >= t.xid_memory_repeat:
            status, action = FAIL, REPAIR
            advice = f"it repeated ({n} >= {t.xid_memory_repeat}): the GPU's memory needs service"
        findings.append(
            Finding(status, action, f"XID {xid} x{n} in {hours} ({rule.meaning}): {advice}")
        )
    app = sum(n for xid, n in counts.items() if rule_for(xid).kind == "app")
    if app >= t.xid_app_repeat:
        findings.append(
            Finding(
                WARN,
                REBOOT,
                f"{app} application XIDs (13/31/43) in {t.xid_app_window_s / 3600:g} h "
                f"(>= {t.xid_app_repeat}): if different jobs hit them this GPU may be at fault; "
                "reboot, and look at which jobs ran",
            )
        )
    return findings, counts


def _read_boot_id(root: Path) -> str | None:
    try:
        return (root / "proc/sys/kernel/random/boot_id").read_text(encoding="utf-8").strip()
    except OSError:
        return None


class XidCheck(NvidiaCheck):
    """XIDs reported by the driver, per GPU, judged by `XID_RULES` (see docs/checks-nvidia.md)."""

    name: ClassVar[str] = "nvidia.xid"
    # Slurm hooks: re-run live after a job, not before: event-driven, its stable state is current
    modes: ClassVar[frozenset[Mode]] = frozenset({Mode.PERIODIC, Mode.EPILOG, Mode.FULL})
    description: ClassVar[str] = "no XID errors that call for a reboot or a repair"
    triggers: ClassVar[frozenset[str]] = frozenset({"xid"})

    def __init__(self) -> None:
        self._history: dict[str, deque[XidRecord]] = {}
        self._boot_id: str | None = None
        self._last_run: datetime | None = None

    def observe(self, event: HardwareEvent) -> None:
        if event.kind != "xid":
            return
        try:
            xid = int(event.data["xid"])
        except (KeyError, ValueError):
            log.warning("xid_event_malformed", subject=event.subject, data=dict(event.data))
            return
        history = self._history.setdefault(event.subject, deque(maxlen=_HISTORY))
        history.append(XidRecord(event.at, xid))

    def seen_since(self, since: datetime) -> dict[str, list[XidRecord]]:
        """Read-only: the XIDs observed and still remembered with a stamp at or after `since`,
        per GPU, oldest first (copies). For the Slurm epilog's "XIDs during the job". Safe to
        call from the event loop while `run` prunes in a worker thread: copying a deque is one
        C call under the GIL."""
        seen = {}
        for subject, history in list(self._history.items()):
            records = [r for r in list(history) if r.at >= since]
            if records:
                seen[subject] = records
        return seen

    def _forget_previous_boot(self, ctx: CheckContext) -> None:
        boot_id = _read_boot_id(ctx.hw.root)
        if boot_id is None:
            return
        if self._boot_id is not None and boot_id != self._boot_id and self._last_run:
            cutoff = self._last_run
            for subject, history in self._history.items():
                self._history[subject] = deque((r for r in history if r.at > cutoff), _HISTORY)
            log.info("xid_history_reset", reason="boot id changed", before=cutoff.isoformat())
        self._boot_id = boot_id

    def _subjects(self, ctx: CheckContext) -> list[str]:
        count = expected_gpus(ctx)
        if count is None and ctx.hw.nvml is not None:
            try:
                count = ctx.hw.nvml.nvmlDeviceGetCount()
            except ctx.hw.nvml.NVMLError:
                count = None
        names = {f"gpu{i}" for i in range(count or 0)} | set(self._history)
        return sorted(names, key=lambda s: (len(s), s))

    def run(self, ctx: CheckContext) -> list[CheckResult]:
        self._forget_previous_boot(ctx)
        t = ctx.thresholds.nvidia
        keep = timedelta(seconds=max(t.xid_window_s, t.xid_app_window_s))
        results = []
        for subject in self._subjects(ctx):
            history = self._history.get(subject, deque())
            while history and ctx.now - history[0].at >= keep:
                history.popleft()
            findings, counts = evaluate_xids(history, ctx.now, t)
            seen = ",".join(f"{xid}x{n}" for xid, n in sorted(counts.items())) or "none"
            results.append(
                self.finish(
                    ctx,
                    subject,
                    findings,
                    f"no XID that needs action (recent: {seen})",
                    xids=seen,
                    window_s=t.xid_window_s,
                )
            )
        self._last_run = ctx.now
        return results
