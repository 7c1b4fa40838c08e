"""`host.mounts` and `host.processes`: what a compute node must have mounted and running.

The lists: [checks.host] required_mounts / required_processes when set, else the node type's
profile (`Profile.required_mounts/required_processes`); neither on a node of unknown type
means the check does not apply.

`host.mounts`, per mountpoint:
- not in <root>/proc/mounts: fail + reboot (boot mounts it again; if it does not, the lifecycle
  sets the node aside; a cluster-wide outage is held back by the coordinator's safety cap);
- mounted with option `ro`: fail + reboot (the kernel remounts a file system read-only after
  I/O errors; a network file system turns read-only when its server went away);
- a write probe (create and remove an empty temporary file in the mountpoint, resolved under
  ctx.hw.root) that fails: fail + reboot. The probe blocks on a hung NFS/Lustre server like any
  file access would; the runner's per-check timeout turns that into `unknown`.

`host.processes`, per name: a process whose /proc/<pid>/comm equals the name (both cut to the
kernel's 15 characters) must exist; otherwise fail, action none. Restarting a daemon is the
vService engine's job (it supervises what it started), and a reboot does not fix a broken
configuration: the failure takes the node out of service and an SRE decides.
"""

from __future__ import annotations

import contextlib
import os
import tempfile

from agent.checks.base import Check, CheckContext, Mode
from agent.checks.host_findings import fail, verdict
from agent.probes.host import COMM_LEN, Mount, read_mounts, read_process_names, under_root
from vcbase.domain import CheckAction, CheckResult

PROBE_PREFIX = ".vcagent-write-probe-"


def required_mounts(ctx: CheckContext) -> list[str]:
    configured = ctx.thresholds.host.required_mounts
    if configured is not None:
        return list(configured)
    return list(ctx.profile.required_mounts) if ctx.profile is not None else []


def required_processes(ctx: CheckContext) -> list[str]:
    configured = ctx.thresholds.host.required_processes
    if configured is not None:
        return list(configured)
    return list(ctx.profile.required_processes) if ctx.profile is not None else []


def write_probe(directory: os.PathLike[str]) -> str | None:
    """Create and remove an empty file in `directory`; None on success, else why it failed."""
    try:
        fd, path = tempfile.mkstemp(dir=directory, prefix=PROBE_PREFIX)
    except OSError as exc:
        return f"{exc.strerror or exc} (errno {exc.errno})"
    os.close(fd)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    return None


class MountsCheck(Check):
    name = "host.mounts"
    description = "Required mounts present, mounted read-write, and writable (write probe)"

    def applies(self, ctx: CheckContext) -> bool:
        return bool(required_mounts(ctx))

    def run(self, ctx: CheckContext) -> list[CheckResult]:
        wanted = required_mounts(ctx)
        try:
            mounts = read_mounts(ctx.hw.root)
        except OSError as exc:
            return [self.unknown(ctx, m, f"{m}: cannot read proc/mounts: {exc}") for m in wanted]
        return [self._one(ctx, mountpoint, mounts.get(mountpoint)) for mountpoint in wanted]

    def _one(self, ctx: CheckContext, mountpoint: str, mount: Mount | None) -> CheckResult:
        if mount is None:
            text = "not mounted: the mount failed at boot or was lost (check dmesg, the unit)"
            return verdict(self, ctx, mountpoint, [fail(CheckAction.REBOOT, text)], "", mounted=0)
        observed = {
            "mounted": 1,
            "source": mount.source,
            "fstype": mount.fstype,
            "options": ",".join(mount.options),
        }
        about = f"{mount.fstype} from {mount.source}"
        if mount.read_only:
            text = (
                f"mounted read-only ({about}): the file system hit I/O errors or its server "
                "went away (check dmesg); a reboot remounts it"
            )
            return verdict(self, ctx, mountpoint, [fail(CheckAction.REBOOT, text)], "", **observed)
        if ctx.thresholds.host.mount_write_probe:
            error = write_probe(under_root(ctx.hw.root, mountpoint))
            observed["write_probe"] = error or "ok"
            if error is not None:
                text = f"mounted rw ({about}) but a write probe failed: {error}"
                findings = [fail(CheckAction.REBOOT, text)]
                return verdict(self, ctx, mountpoint, findings, "", **observed)
        return verdict(self, ctx, mountpoint, [], f"{mountpoint}: mounted rw ({about})", **observed)


class ProcessesCheck(Check):
    name = "host.processes"
    # Slurm hooks: re-run live after a job (a job can kill daemons), not before: it lists /proc
    modes = frozenset({Mode.PERIODIC, Mode.EPILOG, Mode.FULL})
    description = "Required daemons (munged, slurmd, ...) are running"

    def applies(self, ctx: CheckContext) -> bool:
        return bool(required_processes(ctx))

    def run(self, ctx: CheckContext) -> list[CheckResult]:
        wanted = required_processes(ctx)
        try:
            running = read_process_names(ctx.hw.root)
        except OSError as exc:
            return [self.unknown(ctx, n, f"{n}: cannot list proc: {exc}") for n in wanted]
        results = []
        for name in wanted:
            if name[:COMM_LEN] in running:
                results.append(self.ok(ctx, name, f"{name}: running", running=1))
                continue
            text = "not running: the vService that provides it is stopped or crashed"
            results.append(verdict(self, ctx, name, [fail(CheckAction.NONE, text)], "", running=0))
        return results
