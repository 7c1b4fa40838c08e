"""The Slurm adapter of the scheduler port: Slurm's own commands, run with a deadline each.

Reads:
- nodes: `sinfo --json` where this Slurm has it (>= 21.08; state, state_flags, reason), else
  `scontrol -o show node [NAME]`. `node_source="auto"` tries sinfo --json once and, if the command
  itself fails (not the controller), stays with scontrol for the life of the adapter.
- jobs: `squeue -h -t RUNNING,COMPLETING,SUSPENDED -o %A|%N [-w NAME]`: text, not `squeue --json`,
  because squeue --json in 22.05 ignores the state and node filters and lists every pending job of
  the cluster. One call covers all nodes (hostlists expanded); `%A` is the numeric job id (the
  one Prolog sees as SLURM_JOB_ID), also for array elements.
Writes (each after a read, see the port's reason contract in scheduler.py):
- drain:  `scontrol update nodename=N state=drain reason=<prefix + reason>`
- resume: `scontrol update nodename=N state=resume`
- reboot: `scontrol reboot ASAP nextstate=resume|down reason=<prefix + reason> N`
- cancel: `scontrol cancel_reboot N`

Every command runs via `run_command` (no shell, own process group, killed at `timeout`).
`SLURM_CONF` is the constructor's `slurm_conf` if given, else whatever the environment holds.
The default timeout (15 s) is above the ~10 s Slurm's clients take to report an unreachable
slurmctld themselves, so their clearer message usually wins; either way the error is transient.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import Literal, TypeVar

from coordinator.drivers.command import (
    CommandFailedError,
    CommandResult,
    SchedulerUnavailableError,
    run_command,
)
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
    DrainOutcome,
    NextState,
    SchedulerNode,
    UnknownNodeError,
)
from coordinator.drivers.slurm_parse import (
    ParseError,
    classify_failure,
    parse_scontrol_nodes,
    parse_sinfo_json,
    parse_squeue_jobs,
    sinfo_json_errors,
)
from vcbase.errors import ValidationError
from vcbase.logging import get_logger

log = get_logger(__name__)

NodeSource = Literal["auto", "sinfo_json", "scontrol"]
JOB_STATES = "RUNNING,COMPLETING,SUSPENDED"
DEFAULT_TIMEOUT_S = 15.0
T = TypeVar("T")


class SlurmScheduler:
    """`Scheduler` over Slurm's command-line tools (sinfo, squeue, scontrol) found on PATH."""

    def __init__(
        self,
        *,
        slurm_conf: Path | None = None,
        prefix: str = DEFAULT_PREFIX,
        timeout: float = DEFAULT_TIMEOUT_S,
        node_source: NodeSource = "auto",
    ) -> None:
        if timeout <= 0:
            raise ValidationError("timeout", "must be positive")
        self._prefix = check_prefix(prefix)
        self._conf = slurm_conf
        self._timeout = timeout
        self._source: NodeSource = node_source

    @property
    def prefix(self) -> str:
        return self._prefix

    @property
    def node_source(self) -> NodeSource:
        """Where node states come from; "auto" until the first read has decided."""
        return self._source

    # -- reads ----------------------------------------------------------------------------------

    async def node(self, name: str) -> SchedulerNode:
        found = await self._read_node(name)
        jobs = await self._jobs(name)
        return dataclasses.replace(found, jobs=jobs.get(name, ()))

    async def nodes(self) -> list[SchedulerNode]:
        found = await self._read_nodes()
        jobs = await self._jobs(None)
        return [dataclasses.replace(n, jobs=jobs.get(n.name, ())) for n in found]

    # -- writes ---------------------------------------------------------------------------------

    async def drain(self, name: str, reason: str) -> DrainOutcome:
        full = our_reason(self._prefix, reason)
        current = await self._read_node(name)
        outcome = decide_drain(current, full)
        if outcome is DrainOutcome.DRAINED:
            await self._scontrol(
                name, "update", f"nodename={name}", "state=drain", f"reason={full}"
            )
        log.info("slurm_drain", node=name, outcome=outcome.value, reason=full, was=current.reason)
        return outcome

    async def resume(self, name: str) -> bool:
        current = await self._read_node(name)
        if decide_resume(current) is Act.SKIP:
            return False
        await self._scontrol(name, "update", f"nodename={name}", "state=resume")
        log.info("slurm_resume", node=name, was=current.reason)
        return True

    async def reboot(self, name: str, reason: str, next_state: NextState = "resume") -> bool:
        if next_state not in ("resume", "down"):
            raise ValidationError("next_state", "must be 'resume' or 'down'")
        full = our_reason(self._prefix, reason)
        current = await self._read_node(name)
        if decide_reboot(current) is Act.SKIP:
            log.info("slurm_reboot_already_pending", node=name, flags=sorted(current.flags))
            return False
        await self._scontrol(
            name, "reboot", "ASAP", f"nextstate={next_state}", f"reason={full}", name
        )
        log.info("slurm_reboot", node=name, reason=full, next_state=next_state)
        return True

    async def cancel_reboot(self, name: str) -> bool:
        current = await self._read_node(name)
        if decide_cancel_reboot(current) is Act.SKIP:
            return False
        await self._scontrol(name, "cancel_reboot", name)
        log.info("slurm_cancel_reboot", node=name)
        return True

    # -- plumbing -------------------------------------------------------------------------------

    async def _read_node(self, name: str) -> SchedulerNode:
        if await self._use_sinfo_json():
            for n in await self._sinfo_json():
                if n.name == name:
                    return n
            raise UnknownNodeError(name)
        found = await self._scontrol_nodes(name)
        if len(found) != 1 or found[0].name != name:
            raise UnknownNodeError(name)
        return found[0]

    async def _read_nodes(self) -> list[SchedulerNode]:
        if await self._use_sinfo_json():
            return await self._sinfo_json()
        return await self._scontrol_nodes(None)

    async def _use_sinfo_json(self) -> bool:
        """Decide the node source on first use (see the module docstring)."""
        if self._source == "auto":
            try:
                await self._run(None, "sinfo", "--json")
                self._source = "sinfo_json"
            except CommandFailedError as e:
                log.warning("slurm_sinfo_json_unavailable", error=str(e), using="scontrol")
                self._source = "scontrol"
        return self._source == "sinfo_json"

    async def _sinfo_json(self) -> list[SchedulerNode]:
        done = await self._run(None, "sinfo", "--json")
        errors = self._parsed(done, lambda: sinfo_json_errors(done.stdout))
        if errors:  # what 22.05 does when slurmctld cannot be reached: exit 0, errors, no nodes
            raise SchedulerUnavailableError(
                f"reported errors: {'; '.join(errors)}",
                cmd=done.cmd,
                returncode=done.returncode,
                stdout=done.stdout,
                stderr=done.stderr,
            )
        return self._parsed(done, lambda: parse_sinfo_json(done.stdout, self._prefix))

    async def _scontrol_nodes(self, name: str | None) -> list[SchedulerNode]:
        done = await self._run(name, "scontrol", "-o", "show", "node", *([name] if name else []))
        return self._parsed(done, lambda: parse_scontrol_nodes(done.stdout, self._prefix))

    async def _jobs(self, name: str | None) -> dict[str, tuple[int, ...]]:
        where = ["-w", name] if name else []
        done = await self._run(name, "squeue", "-h", "-t", JOB_STATES, "-o", "%A|%N", *where)
        return self._parsed(done, lambda: parse_squeue_jobs(done.stdout))

    async def _scontrol(self, node: str, *args: str) -> CommandResult:
        return await self._run(node, "scontrol", *args)

    async def _run(self, node: str | None, *argv: str) -> CommandResult:
        """Run a Slurm command; a failure becomes unavailable / unknown node / failed."""
        env = {**os.environ, "SLURM_CONF": str(self._conf)} if self._conf else None
        try:
            return await run_command(argv, time_limit=self._timeout, env=env)
        except CommandFailedError as e:
            if e.returncode is None:
                raise
            cause = classify_failure(e.stdout, e.stderr)
            if cause == "unavailable":
                raise SchedulerUnavailableError(
                    "slurmctld unreachable",
                    cmd=e.cmd,
                    returncode=e.returncode,
                    stdout=e.stdout,
                    stderr=e.stderr,
                ) from e
            if cause == "unknown_node" and node is not None:
                raise UnknownNodeError(node) from e
            raise

    @staticmethod
    def _parsed(done: CommandResult, parse: Callable[[], T]) -> T:
        try:
            return parse()
        except ParseError as e:
            raise CommandFailedError(
                f"unexpected output ({e})",
                cmd=done.cmd,
                returncode=done.returncode,
                stdout=done.stdout,
                stderr=done.stderr,
            ) from e
