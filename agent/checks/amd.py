"""AMD GPU health checks through AMD SMI, and the catalog of them (`checks`).

Here: `amd.smi` (AMD SMI is usable) and `amd.count` (every GPU of the node type is listed and
answers); the per-GPU reading checks (ECC, retired pages, xGMI, temperature) are in
`agent.checks.amd_gpu`. Subjects are gpu0.. in amdsmi handle order, the inventory's indexes: a
GCD on MI250X (8 per node), an APU on MI300A (4 per node).

Contract (see agent.checks.base; docs/checks-amd.md has the table of conditions and keys):
- `amd.smi` applies where the node type has AMD GPUs or amdsmi is loaded; every other AMD check
  applies only where amdsmi is loaded (`ctx.hw.amdsmi`): without it they can read nothing, and
  `amd.smi` already fails.
- `amd.count` is the one check that fails a GPU that is gone (not listed, or listed but not
  answering); the others report such a GPU `unknown`.
- Every number comes from `ctx.thresholds.amd` (`AmdThresholds`).
"""

from __future__ import annotations

import importlib.util
from datetime import datetime

from agent.checks.amd_gpu import (
    SMI_SUBJECT,
    AmdBadPagesCheck,
    AmdEccCheck,
    AmdTemperatureCheck,
    AmdXgmiCheck,
    list_gpus,
)
from agent.checks.base import Check, CheckContext, HardwareEvent, Mode
from agent.probes.gpu_amd import is_amd_gpu_type
from agent.profiles import Profile
from vcbase.domain import CheckAction, CheckResult, CheckStatus, GpuVendor

FAIL, WARN = CheckStatus.FAIL, CheckStatus.WARN
NONE, REBOOT, REPAIR = CheckAction.NONE, CheckAction.REBOOT, CheckAction.REPAIR


def expects_amd(profile: Profile | None) -> bool:
    return profile is not None and profile.gpu_vendor is GpuVendor.AMD and profile.gpu_count > 0


def amdsmi_installed() -> bool:
    """Whether the amdsmi package is importable at all (found, not imported)."""
    try:
        return importlib.util.find_spec("amdsmi") is not None
    except (ImportError, ValueError):
        return False


class AmdSmiCheck(Check):
    name = "amd.smi"
    description = "AMD SMI is loaded and answers on a node whose type has AMD GPUs"

    def applies(self, ctx: CheckContext) -> bool:
        return expects_amd(ctx.profile) or ctx.hw.amdsmi is not None

    def run(self, ctx: CheckContext) -> list[CheckResult]:
        api = ctx.hw.amdsmi
        if api is None:
            return [self._absent(ctx)]
        try:
            count = len(api.amdsmi_get_processor_handles())
        except api.AmdSmiException as exc:
            msg = (
                f"amdsmi is loaded but cannot list processors ({exc}): the amdgpu driver does "
                "not answer; drain and reboot to reload it"
            )
            return [self.result(ctx, SMI_SUBJECT, FAIL, REBOOT, msg, error=exc)]
        return [self.ok(ctx, SMI_SUBJECT, f"amdsmi answers, {count} processors", processors=count)]

    def _absent(self, ctx: CheckContext) -> CheckResult:
        if ctx.hw.simulated:
            reason, action = "the simulated amdsmi failed to initialise (bad gpus.json?)", REBOOT
        elif not amdsmi_installed():
            reason = (
                "the amdsmi Python package is not installed in the agent's environment; install "
                "ROCm and the agent's 'amd' extra (a reboot cannot fix this)"
            )
            action = REPAIR
        else:
            reason = (
                "amdsmi is installed but did not initialise: libamd_smi.so missing or the amdgpu "
                "driver not loaded (agent log event 'amdsmi_unavailable'); reboot to reload it"
            )
            action = REBOOT
        kind = ctx.profile.name if ctx.profile else "this"
        count = ctx.profile.gpu_count if ctx.profile else 0
        msg = f"{kind} node should have {count} AMD GPUs but AMD SMI is unusable: {reason}"
        return self.result(ctx, SMI_SUBJECT, FAIL, action, msg, expected_gpus=count)


class AmdCountCheck(Check):
    name = "amd.count"
    # Slurm hooks: re-run live after a job, not before: event-driven, its stable state is current
    modes = frozenset({Mode.PERIODIC, Mode.EPILOG, Mode.FULL})
    description = "amdsmi lists every AMD GPU of the node type, and each one answers"
    triggers = frozenset({"device_removed"})

    def __init__(self) -> None:
        self._known: set[str] = set()  # every BDF that answered since the agent started
        self._bdfs: dict[str, str] = {}  # subject -> the BDF it last answered with
        self._removed: dict[str, datetime] = {}  # subject -> when udev reported it removed

    def applies(self, ctx: CheckContext) -> bool:
        return ctx.hw.amdsmi is not None

    def observe(self, event: HardwareEvent) -> None:
        if event.kind == "device_removed":
            self._removed[event.subject] = event.at

    def run(self, ctx: CheckContext) -> list[CheckResult]:
        api = ctx.hw.amdsmi
        if api is None:
            return []
        handles = list_gpus(self, ctx, api)
        if isinstance(handles, CheckResult):
            return [handles]
        seen: dict[str, str] = {}  # subject -> BDF, GPUs that answer
        lost: dict[str, Exception] = {}  # subject -> the error of a listed GPU that does not
        for index, handle in enumerate(handles):
            subject = f"gpu{index}"
            try:
                if not is_amd_gpu_type(api.amdsmi_get_processor_type(handle)):
                    continue  # a CPU handle (amdsmi initialised for more than GPUs)
                seen[subject] = api.amdsmi_get_gpu_device_bdf(handle)
            except api.AmdSmiException as exc:
                lost[subject] = exc
        profile = ctx.profile if expects_amd(ctx.profile) else None
        listed = len(seen) + len(lost)
        expected = profile.gpu_count if profile else listed
        missing = [f"gpu{len(handles) + i}" for i in range(expected - listed)]
        lost_bdfs = {self._bdfs.get(s, "unknown BDF") for s in lost}
        gone = ", ".join(sorted(self._known - set(seen.values()) - lost_bdfs)) or "unknown"
        fix = f"{len(seen)} of {expected} AMD GPUs usable; drain and reboot (repair if it stays)"
        results = []
        for subject, bdf in seen.items():
            if int(subject[3:]) >= expected:
                msg = f"{subject} ({bdf}) is beyond the {expected} AMD GPUs of this node type"
                results.append(self.result(ctx, subject, WARN, NONE, msg, bdf=bdf))
            else:
                results.append(self.ok(ctx, subject, f"{subject} answers at {bdf}", bdf=bdf))
        for subject, error in lost.items():
            bdf = self._bdfs.get(subject, "unknown BDF")
            msg = f"{subject} ({bdf}) is listed but does not answer amdsmi ({error})"
            msg += f"{self._udev(subject)}: lost (off the bus?); {fix}"
            results.append(self.result(ctx, subject, FAIL, REBOOT, msg, bdf=bdf, error=error))
        for subject in missing:
            msg = f"{subject} missing: amdsmi lists {listed} of {expected} AMD GPUs (not listed"
            msg += f" any more: {gone}){self._udev(subject)}; {fix}"
            results.append(self.result(ctx, subject, FAIL, REBOOT, msg, listed=listed))
        self._known.update(seen.values())
        self._bdfs.update(seen)
        for subject in seen:
            self._removed.pop(subject, None)
        return sorted(results, key=lambda r: int(r.subject[3:]))

    def _udev(self, subject: str) -> str:
        at = self._removed.get(subject)
        return f" (udev reported it removed at {at.isoformat()})" if at else ""


def checks() -> list[Check]:
    """A fresh instance of every AMD check (they keep per-GPU state: one set per agent)."""
    return [
        AmdSmiCheck(),
        AmdCountCheck(),
        AmdEccCheck(),
        AmdBadPagesCheck(),
        AmdXgmiCheck(),
        AmdTemperatureCheck(),
    ]
