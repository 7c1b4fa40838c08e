"""Host health checks: CPUs (`host.cpu`), memory (`host.memory`) and memory errors
(`host.mce`), plus mounts and processes from `agent.checks.host_mounts`.

Read under `ctx.hw.root` like every probe. `host.cpu` and `host.memory` compare against the
node type's profile and do not apply to a node of unknown type (nothing to compare with).

Actions, and why:
- fewer logical CPUs than the type has, or MemTotal below memory_min_fraction of it: fail +
  repair. A socket, core or DIMM that the firmware mapped out does not come back with a
  reboot; it needs a technician (and the node would otherwise run jobs on less hardware
  than the scheduler believes it has).
- a CPU model other than the profile's, or more CPUs: warn (the inventory or the profile is
  wrong, the hardware is not broken).
- uncorrected memory errors (EDAC ue_count + ue_noinfo_count > edac_ue_max): fail + repair;
  corrected errors growing by >= edac_ce_warn in the window: warn (a DIMM going bad).

Machine checks: x86 /sys/devices/system/machinecheck only holds MCE *settings*; the counts a
node exposes without a daemon (mcelog/rasdaemon) are the EDAC memory controller counters under
/sys/devices/system/edac/mc/mc<N>/, present on x86 (amd64_edac, skx/i10nm_edac) and on
aarch64/Grace (ghes_edac). `host.mce` applies where that directory exists.
"""

from __future__ import annotations

from agent.checks.base import Check, CheckContext, Mode
from agent.checks.host_findings import CounterWindow, Finding, fail, verdict, warn
from agent.checks.host_mounts import MountsCheck, ProcessesCheck
from agent.probes.host import EDAC_MC, read_cpu, read_edac, read_memory
from vcbase.domain import CheckAction, CheckResult

_GiB = 1024**3


class CpuCheck(Check):
    name = "host.cpu"
    # Slurm hooks: not re-run live: parses all of cpuinfo; CPUs do not vanish between jobs
    modes = frozenset({Mode.PERIODIC, Mode.FULL})
    description = "Logical CPU count and CPU model against the node type's profile"
    interval = 300.0

    def applies(self, ctx: CheckContext) -> bool:
        return ctx.profile is not None

    def run(self, ctx: CheckContext) -> list[CheckResult]:
        profile = ctx.profile
        if profile is None:
            return [self.unknown(ctx, "cpu", "cpu: node type unknown: nothing to compare with")]
        try:
            cpu = read_cpu(ctx.hw.root)
        except OSError as exc:
            return [self.unknown(ctx, "cpu", f"cpu: cannot read proc/cpuinfo: {exc}")]
        findings: list[Finding] = []
        expected = profile.cpu_cores
        if cpu.logical_cores < expected:
            findings.append(
                fail(
                    CheckAction.REPAIR,
                    f"{cpu.logical_cores} of {expected} logical CPUs online: a socket or cores "
                    "are offline or mapped out (check /sys/devices/system/cpu/online, dmesg, "
                    "the BIOS SMT setting)",
                )
            )
        elif cpu.logical_cores > expected:
            findings.append(warn(f"{cpu.logical_cores} logical CPUs, the type has {expected}"))
        if cpu.model.casefold() != profile.cpu_model.casefold():
            findings.append(
                warn(f"CPU model {cpu.model!r}, node type {profile.name} has {profile.cpu_model!r}")
            )
        return [
            verdict(
                self,
                ctx,
                "cpu",
                findings,
                f"cpu: {cpu.logical_cores} x {cpu.model}",
                logical_cpus=cpu.logical_cores,
                expected_cpus=expected,
                model=cpu.model,
                expected_model=profile.cpu_model,
            )
        ]


class MemoryCheck(Check):
    name = "host.memory"
    description = "MemTotal against the node type's memory (a missing DIMM shows as less)"
    interval = 300.0

    def applies(self, ctx: CheckContext) -> bool:
        return ctx.profile is not None

    def run(self, ctx: CheckContext) -> list[CheckResult]:
        profile = ctx.profile
        if profile is None:
            return [self.unknown(ctx, "memory", "memory: node type unknown")]
        try:
            total = read_memory(ctx.hw.root)
        except (OSError, ValueError) as exc:
            return [self.unknown(ctx, "memory", f"memory: cannot read proc/meminfo: {exc}")]
        fraction = ctx.thresholds.host.memory_min_fraction
        findings = []
        if total < profile.memory_bytes * fraction:
            findings.append(
                fail(
                    CheckAction.REPAIR,
                    f"MemTotal {total / _GiB:.1f} GiB is below {fraction:.0%} of the "
                    f"{profile.memory_bytes / _GiB:.0f} GiB a {profile.name} node has: a DIMM is "
                    "missing or disabled (check dmidecode -t memory, EDAC, the BMC event log)",
                )
            )
        ok = f"memory: {total / _GiB:.1f} GiB"
        observed = {"mem_total_bytes": total, "expected_bytes": profile.memory_bytes}
        return [verdict(self, ctx, "memory", findings, ok, **observed)]


class MachineCheckErrors(Check):
    name = "host.mce"
    # Slurm hooks: re-run live after a job (errors a job hit), not before
    modes = frozenset({Mode.PERIODIC, Mode.EPILOG, Mode.FULL})
    description = "Memory errors from the EDAC memory controllers (uncorrected, corrected rate)"

    def __init__(self) -> None:
        self._window = CounterWindow()

    def applies(self, ctx: CheckContext) -> bool:
        return (ctx.hw.root / EDAC_MC).is_dir()

    def run(self, ctx: CheckContext) -> list[CheckResult]:
        t = ctx.thresholds.host
        try:
            controllers = read_edac(ctx.hw.root)
        except (OSError, ValueError) as exc:
            return [self.unknown(ctx, "edac", f"edac: cannot read the EDAC counters: {exc}")]
        results = []
        for mc in controllers:
            findings: list[Finding] = []
            if mc.ue > t.edac_ue_max:
                findings.append(
                    fail(
                        CheckAction.REPAIR,
                        f"{mc.ue} uncorrected memory errors since boot: replace the DIMM "
                        "(edac-util -v or the BMC event log names it)",
                    )
                )
            grown = self._window.increase(mc.controller, mc.ce, ctx.now, t.rate_window_s)
            if grown is not None and grown >= t.edac_ce_warn:
                findings.append(
                    warn(f"{grown} corrected memory errors in the window: a DIMM is degrading")
                )
            observed: dict[str, object] = {"ce_count": mc.ce, "ue_count": mc.ue}
            observed["ce_in_window"] = "n/a" if grown is None else grown
            ok = f"{mc.controller}: no uncorrected memory errors"
            results.append(verdict(self, ctx, mc.controller, findings, ok, **observed))
        return results


def checks() -> list[Check]:
    """One instance of each host check (they keep counter history: create them once)."""
    return [CpuCheck(), MemoryCheck(), MachineCheckErrors(), MountsCheck(), ProcessesCheck()]
