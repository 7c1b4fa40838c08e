"""A real single-machine Slurm 22.05 for integration tests: one slurmctld, one `slurmd -N` per node.

Usage::

    with SlurmCluster(["n1", "n2"], prolog=hook, prolog_flags="Alloc") as cluster:
        job = cluster.sbatch("sleep 30", node="n1")   # or cluster.salloc("n1"): no process
        cluster.wait_job(job, {"RUNNING"}, timeout=10)
        subprocess.run(["scontrol", "show", "node", "n1"], env=cluster.client_env)
        cluster.scancel(job)

Each cluster lives in a fresh directory (under /tmp: munge's socket path must stay short) with its
own ports, picked free at start, and its own munged (own key and socket, named in slurm.conf by
`AuthInfo`), so clusters never share state and teardown ends exactly what was started. Daemons
inherit `SLURM_CONF` pointing at this cluster's slurm.conf; at stop, pid files are read afresh
(an emulated reboot replaces a slurmd), then any process still carrying this `SLURM_CONF` in its
environment (job steps, a slurmd restarted by the reboot emulation) is killed too.

Node reboots are emulated by `reboot.sh` (RebootProgram): it finds the slurmd that ran it, stops
it and starts `slurmd -b -N <name>` again, detached; an idle node is back in ~1 s here.
slurm.conf settings are documented in docs/slurm.md.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Collection, Sequence
from pathlib import Path
from types import TracebackType

from tests.pids import alive, processes_with_env, read_pid, terminate
from tests.procs import free_port
from tests.slurm_conf import REBOOT_SCRIPT, render_conf
from tests.waiting import wait_until

SLURMCTLD = "/usr/sbin/slurmctld"
SLURMD = "/usr/sbin/slurmd"
MUNGED = "/usr/sbin/munged"
INSTALL_HINT = "Slurm is not installed here: run `bash scripts/install-deps.sh` (as root) first"
FINAL_JOB_STATES = frozenset(
    {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "OUT_OF_MEMORY"}
)


class SlurmMissingError(RuntimeError):
    """slurmctld, slurmd or munged is not installed."""


def require_slurm() -> None:
    """Raise SlurmMissingError (with the install hint) unless every daemon and client exists."""
    missing = [p for p in (SLURMCTLD, SLURMD, MUNGED) if not Path(p).exists()]
    missing += [c for c in ("sinfo", "scontrol", "squeue", "sbatch") if shutil.which(c) is None]
    if missing:
        raise SlurmMissingError(f"{INSTALL_HINT} (missing: {', '.join(missing)})")


class SlurmCluster:
    """A started Slurm cluster on this machine; a context manager (`with`) that starts and stops it.

    `nodes` are Slurm node names (one slurmd each, 1 CPU, 500 MB). `prolog`, `epilog` and
    `health_check_program` are paths of programs Slurm runs as root; `prolog_flags` goes to
    `PrologFlags` (e.g. "Alloc" to run the prolog at allocation, see docs/slurm.md);
    `extra_conf` lines are appended to slurm.conf verbatim. The directory is removed at stop
    unless `keep` is set.
    """

    def __init__(
        self,
        nodes: Sequence[str] = ("n1", "n2"),
        *,
        prolog: Path | None = None,
        epilog: Path | None = None,
        prolog_flags: str | None = None,
        health_check_program: Path | None = None,
        health_check_interval: int = 0,
        cpus_per_node: int = 1,
        extra_conf: Sequence[str] = (),
        start_timeout: float = 30.0,
        keep: bool = False,
    ) -> None:
        if not nodes:
            raise ValueError("nodes: at least one node name is needed")
        self.nodes = list(nodes)
        self._render = functools.partial(
            render_conf,
            prolog=prolog,
            epilog=epilog,
            prolog_flags=prolog_flags,
            health_check_program=health_check_program,
            health_check_interval=health_check_interval,
            cpus=cpus_per_node,
            extra=list(extra_conf),
        )
        self._start_timeout = start_timeout
        self._keep = keep
        self.dir = Path("/nonexistent")
        self._started = False

    # -- paths and environment ------------------------------------------------------------------

    @property
    def conf(self) -> Path:
        """This cluster's slurm.conf."""
        return self.dir / "slurm.conf"

    @property
    def env(self) -> dict[str, str]:
        """What a client needs besides the usual environment: `SLURM_CONF`."""
        return {"SLURM_CONF": str(self.conf)}

    @property
    def client_env(self) -> dict[str, str]:
        """The whole environment for a Slurm client command (os.environ + `env`)."""
        return {**os.environ, **self.env}

    def slurmctld_pid(self) -> int | None:
        return read_pid(self.dir / "run" / "slurmctld.pid")

    def slurmd_pid(self, node: str) -> int | None:
        """The pid of the node's slurmd now (None while a reboot replaces it)."""
        return read_pid(self.dir / "run" / f"slurmd-{node}.pid")

    def log(self, name: str) -> str:
        """The log of `slurmctld`, `munged` or a node's slurmd (by node name); "" if none yet."""
        path = (
            self.dir
            / "log"
            / f"{name if name in ('slurmctld', 'munged') else 'slurmd-' + name}.log"
        )
        return path.read_text(errors="replace") if path.exists() else ""

    # -- lifecycle ------------------------------------------------------------------------------

    def __enter__(self) -> SlurmCluster:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Write the config, start munged, slurmctld and the slurmds; return once all are idle."""
        require_slurm()
        self.dir = Path(tempfile.mkdtemp(prefix="vc-slurm-"))
        self.dir.chmod(0o755)  # munge's socket must be reachable by job users
        self._started = True
        try:
            self._write_files()
            self._start_munged()
            self._daemon([SLURMCTLD, "-i"], "slurmctld")
            wait_until(
                lambda: self.run("scontrol", "ping", check=False).returncode == 0,
                self._start_timeout,
                f"slurmctld to answer (log: {self.dir}/log/slurmctld.log)",
            )
            for n in self.nodes:
                self._daemon([SLURMD, "-N", n], f"slurmd {n}")
            self.wait_nodes(self.nodes, {"IDLE"}, self._start_timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Cancel jobs, end every process of this cluster, munged last; remove the directory.

        Safe to call twice, and after a failed start.
        """
        if not self._started:
            return
        self._started = False
        munged = read_pid(self.dir / "munge" / "munged.pid")
        try:
            ctld = self.slurmctld_pid()
            if ctld is not None and alive(ctld):
                self._cancel_all_jobs()
            pids = [read_pid(p) for p in sorted((self.dir / "run").glob("slurm*.pid"))]
            terminate([p for p in pids if p is not None], grace=3)
            # What is left (job steps, a slurmd restarted by reboot.sh) is a stray: kill it.
            strays = processes_with_env("SLURM_CONF", str(self.conf))
            terminate([p for p in strays if p != munged], grace=0)
        finally:
            terminate([munged] if munged is not None else [], grace=3)
        if self._keep:
            print(f"slurm cluster kept in {self.dir}", file=sys.stderr)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def _cancel_all_jobs(self, timeout: float = 3) -> None:
        """scancel everything and wait (briefly) until no job holds a node, so steps end cleanly.

        Best effort: a stuck controller must not stop the teardown.
        """
        try:
            self.run("scancel", "--partition=debug", check=False, timeout=timeout)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                left = self.run("squeue", "-h", "-o", "%A", check=False, timeout=timeout)
                if left.returncode != 0 or not left.stdout.strip():
                    return
                time.sleep(0.05)
        except subprocess.TimeoutExpired:
            return

    def _write_files(self) -> None:
        for sub in ("state", "spool", "run", "log"):
            (self.dir / sub).mkdir()
        (self.dir / "munge").mkdir(mode=0o755)
        key = self.dir / "munge" / "munge.key"
        key.write_bytes(os.urandom(128))
        key.chmod(0o600)
        reboot = self.dir / "reboot.sh"
        reboot.write_text(REBOOT_SCRIPT.replace("@SLURM_CONF@", str(self.conf)))
        reboot.chmod(0o755)
        ports = {n: free_port() for n in self.nodes}
        self.conf.write_text(self._render(self.dir, ctld_port=free_port(), node_ports=ports))

    def _start_munged(self) -> None:
        m = self.dir / "munge"
        argv = [MUNGED, "--force", f"--socket={m}/munge.socket", f"--key-file={m}/munge.key"]
        argv += [f"--pid-file={m}/munged.pid", f"--log-file={self.dir}/log/munged.log"]
        argv += [f"--seed-file={m}/munged.seed"]
        self._daemon(argv, "munged")

    def _daemon(self, argv: list[str], what: str) -> None:
        """Run a self-daemonizing program; it must exit 0 once its daemon has forked."""
        done = subprocess.run(
            argv, env=self.client_env, capture_output=True, text=True, timeout=30, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"{what} did not start (rc {done.returncode}): {done.stderr}")

    # -- clients --------------------------------------------------------------------------------

    def run(
        self, *argv: str, check: bool = True, timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        """Run a Slurm client command against this cluster; raise on a non-zero exit if `check`."""
        done = subprocess.run(
            argv, env=self.client_env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"{' '.join(argv)} exited {done.returncode}: {done.stderr.strip()}"
            )
        return done

    def scontrol(self, *args: str) -> str:
        return self.run("scontrol", *args).stdout

    def sbatch(self, script: str, node: str | None = None, *, args: Sequence[str] = ()) -> int:
        """Submit `script` (a shell command line or a whole `#!` script); return the job id.

        It starts within ~1 s (the first job after start: ~3 s, Slurm's scheduler cadence).
        `args` are more sbatch options, e.g. ("--nodes=2",).
        """
        argv = ["sbatch", "--parsable", f"--chdir={self.dir}", "--output=/dev/null", *args]
        if node is not None:
            argv.append(f"--nodelist={node}")
        if script.startswith("#!"):
            path = self.dir / f"job-{time.monotonic_ns()}.sh"
            path.write_text(script)
            argv.append(str(path))
        else:
            argv.append(f"--wrap={script}")
        return int(self.run(*argv).stdout.strip().split(";")[0])

    def salloc(self, node: str | None = None, *, args: Sequence[str] = ()) -> int:
        """Allocate (`salloc --no-shell`): a running job without a process that holds its
        node(s) until `scancel`; it starts at once, unlike sbatch. With `PrologFlags=Alloc` the
        prolog has run on every node of it when this returns."""
        where = [f"--nodelist={node}"] if node is not None else []
        done = self.run("salloc", "--no-shell", *where, *args)
        match = re.search(r"Granted job allocation (\d+)", done.stderr)
        if match is None:
            raise AssertionError(f"salloc: no job id in {done.stderr!r}")
        return int(match.group(1))

    def srun(
        self, *command: str, node: str | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run `command` as a job step (its own allocation); return what srun returned."""
        where = [f"--nodelist={node}"] if node is not None else []
        return self.run(
            "srun", f"--chdir={self.dir}", *where, *command, check=False, timeout=timeout
        )

    def scancel(self, job_id: int) -> None:
        self.run("scancel", str(job_id))

    def job_state(self, job_id: int) -> str:
        """The job's state as Slurm names it (PENDING, RUNNING, COMPLETED, ...)."""
        fields = _fields(self.run("scontrol", "-o", "show", "job", str(job_id)).stdout)
        return fields["JobState"]

    def wait_job(self, job_id: int, states: Collection[str], timeout: float = 30) -> str:
        """Wait until the job is in one of `states`; return that state.

        Fails at once if the job ends in a state not asked for (e.g. FAILED while waiting for
        RUNNING), naming that state.
        """

        def reached() -> str | None:
            state = self.job_state(job_id)
            if state in states:
                return state
            if state in FINAL_JOB_STATES:
                raise AssertionError(f"job {job_id} ended {state}, not {sorted(states)}")
            return None

        return wait_until(reached, timeout, f"job {job_id} to be in {sorted(states)}")

    def wait_job_released(self, job_id: int, timeout: float = 30) -> None:
        """Wait until the job holds no node any more (ended, and done completing)."""

        def released() -> bool:
            done = self.run(
                "squeue", "-h", "-j", str(job_id), "-t", "RUNNING,COMPLETING,SUSPENDED", check=False
            )
            return done.returncode != 0 or not done.stdout.strip()  # rc 1: job already purged

        wait_until(released, timeout, f"job {job_id} to release its nodes")

    def node_state(self, name: str) -> str:
        """The node's raw state as `scontrol show node` prints it, e.g. IDLE+DRAIN."""
        return _fields(self.run("scontrol", "-o", "show", "node", name).stdout)["State"]

    def wait_nodes(
        self, names: Sequence[str], states: Collection[str], timeout: float = 30
    ) -> None:
        """Wait until every named node's raw state is one of `states` (exact, e.g. "IDLE")."""

        def all_there() -> bool:
            done = self.run("sinfo", "-h", "-N", "-o", "%N %T", check=False)
            seen = dict(line.split() for line in done.stdout.splitlines() if line.strip())
            return all(seen.get(n, "").upper() in states for n in names)

        wait_until(all_there, timeout, f"nodes {names} to be {sorted(states)}")


def _fields(line: str) -> dict[str, str]:
    """`scontrol -o` key=value pairs (values without spaces suffice for State and JobState)."""
    return dict(p.split("=", 1) for p in line.split() if "=" in p)
