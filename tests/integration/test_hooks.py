"""The Slurm hooks end to end without Slurm: a real coordinator and agent (simulated GH200),
the installed hook executables run as slurmd runs them (SLURMD_NODENAME, SLURM_JOB_ID,
SLURM_JOB_USER in the environment, the socket path with %n), and faults injected with
`vcagent sim inject`."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from itertools import count
from pathlib import Path

import pytest

from coordinator.ctl.client import AdminClient
from tests.procs import BIN, Proc, free_port, vcagent, vccoord
from tests.waiting import wait_until
from vcbase.domain import CheckResult, CheckStatus
from vcbase.errors import VclusterError

pytestmark = pytest.mark.integration

_names = count(1)


@pytest.fixture(scope="module")
def coordinator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    tmp = tmp_path_factory.mktemp("hooks")
    port = free_port()
    coord = vccoord(tmp, port).start()
    try:
        yield port, tmp
    finally:
        coord.terminate()


class Node:
    """One simulated node's agent, and the hooks as slurmd would run them for it."""

    def __init__(self, port: int, tmp: Path) -> None:
        self.port, self.tmp = port, tmp
        self.name = f"hk{next(_names):03d}"
        self.config = tmp / f"{self.name}.toml"
        self.config.write_text(
            f'node_name = "{self.name}"\nstate_dir = "{tmp / self.name}"\n'
            'simulate = "gh200"\nreconnect_initial = 0.1\nreconnect_max = 0.5\n'
        )
        self.agent: Proc = vcagent(tmp, port, self.name, "gh200", "--config", str(self.config))

    def hook(self, which: str, *argv: str, job: str = "1") -> subprocess.CompletedProcess[str]:
        exe = BIN / f"vcagent-{which}"
        assert exe.exists(), f"{exe} missing: reinstall the project (pip install -e .)"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM", "VCLUSTER"))}
        env.update(
            SLURMD_NODENAME=self.name,
            SLURM_JOB_ID=job,
            SLURM_JOB_USER="alice",
            VCLUSTER_HOOK_SOCKET=str(self.tmp / "%n" / "hook.sock"),
            VCLUSTER_HOOK_CONFIG=str(self.tmp / "%n.toml"),
        )
        return subprocess.run(
            [str(exe), *argv], capture_output=True, text=True, env=env, timeout=120, check=False
        )

    def sim(self, *args: str) -> None:
        argv = [str(BIN / "vcagent"), "sim", *args, "--state-dir", str(self.tmp / self.name)]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr

    def answers(self) -> bool:
        """The agent itself answers (no fallback) and the node passes."""
        return self.hook("healthcheck", "--fallback", "fail", "--drain", "never").returncode == 0

    def result(self, check: str, subject: str) -> CheckResult | None:
        try:
            with AdminClient(f"127.0.0.1:{self.port}") as client:
                record = client.get_node(self.name)
        except VclusterError:
            return None
        found = [c for c in record.checks if (c.check, c.subject) == (check, subject)]
        return found[0] if found else None


@pytest.fixture
def node(coordinator: tuple[int, Path]) -> Iterator[Node]:
    n = Node(*coordinator)
    n.agent.start()
    try:
        wait_until(n.answers, 60, f"{n.name}'s hook socket")
        yield n
    finally:
        if n.agent.alive():
            n.agent.terminate()
        print(f"--- {n.name} ---\n{n.agent.log()[-3000:]}")


def test_a_healthy_node_passes_every_hook_silently(node: Node) -> None:
    for which in ("prolog", "epilog", "healthcheck"):
        done = node.hook(which, job="10")
        assert (done.returncode, done.stderr) == (0, ""), which


def test_a_fault_fails_the_prolog_naming_the_check_and_reaches_the_coordinator(
    node: Node,
) -> None:
    wait_until(lambda: node.result("host.memory", "memory"), 30, "the first health report")
    node.sim("inject", "memory-missing")
    done = node.hook("prolog", job="20")
    assert done.returncode == 1
    (line,) = done.stderr.splitlines()
    assert line.startswith("vcagent-prolog: FAIL job 20: host.memory memory fail/repair: ")

    # host.memory runs every 5 minutes: only the prolog's live run can have told the coordinator
    def told() -> CheckResult | None:
        r = node.result("host.memory", "memory")
        return r if r is not None and r.status is CheckStatus.FAIL else None

    wait_until(told, 10, "host.memory fail in the coordinator")
    node.sim("clear", "memory-missing")
    assert node.hook("prolog", job="21").returncode == 0


def test_an_xid_during_the_job_fails_the_epilog_and_says_so(node: Node) -> None:
    assert node.hook("prolog", job="30").returncode == 0
    node.sim("inject", "xid-79", "--device", "gpu1")
    wait_until(lambda: not node.answers(), 10, "the XID seen by the agent")
    done = node.hook("epilog", job="30")
    assert done.returncode == 1
    (line,) = done.stderr.splitlines()
    assert line.startswith("vcagent-epilog: FAIL job 30: ")
    assert "nvidia.xid gpu1 fail/reboot" in line
    assert "[during the job: XID 79 (GPU has fallen off the bus) on gpu1]" in line


def test_with_the_agent_down_the_fallback_is_taken_and_stated(node: Node) -> None:
    node.agent.kill9()  # the socket file stays behind, nobody listens on it
    done = node.hook("prolog", job="40")
    assert done.returncode == 0, done.stderr
    first, second = done.stderr.splitlines()
    assert "nobody listens on" in first and "fallback=check" in first
    assert second == "vcagent-prolog: fallback check: ok"

    node.sim("inject", "filesystem-read-only")
    done = node.hook("prolog", job="41")
    assert done.returncode == 1
    assert "vcagent-prolog: FAIL (fallback check): host.mounts /scratch fail/reboot" in done.stderr

    done = node.hook("epilog", "--fallback", "fail", job="41")
    assert done.returncode == 3
    assert done.stderr.rstrip().endswith("; fallback=fail")
