"""Slurm and vcluster together: a real slurmctld and slurmd per node, real agents on simulated
nodes of the same names, and our hooks as Slurm's Prolog and Epilog.

- A healthy node runs a job.
- A fault injected into a simulated node makes the next job's prolog fail: Slurm drains the
  node and requeues the job, and slurmd's log names the failing check.
- A job during which the GPU raises XID 79: the epilog fails, the node drains, and the XID
  reaches the coordinator.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from coordinator.ctl.client import AdminClient
from tests.integration.conftest import SlurmFactory
from tests.procs import BIN, Proc, free_port, vcagent, vccoord
from tests.slurm import SlurmCluster
from tests.waiting import wait_until
from vcbase.domain import CheckStatus, NodeRecord
from vcbase.errors import VclusterError

pytestmark = pytest.mark.integration

NODES = {"n1": "gh200", "n2": "rome"}


def hook(tmp: Path, kind: str) -> Path:
    """What slurm.conf points at: our hook, told where each node's agent socket is."""
    path = tmp / f"{kind}.sh"
    path.write_text(
        "#!/bin/sh\n"
        f'exec {BIN / ("vcagent-" + kind)} --socket "{tmp}/%n/hook.sock" --fallback fail\n'
    )
    path.chmod(0o755)
    return path


def node(port: int, name: str) -> NodeRecord | None:
    try:
        with AdminClient(f"127.0.0.1:{port}") as client:
            return client.get_node(name)
    except VclusterError:
        return None


def healthy(port: int, name: str) -> bool:
    n = node(port, name)
    return n is not None and n.connected and n.health is CheckStatus.OK


def sim(tmp: Path, name: str, *args: str) -> None:
    subprocess.run(
        [str(BIN / "vcagent"), "sim", *args, "--state-dir", str(tmp / name)],
        check=True,
        capture_output=True,
        timeout=60,
    )


@pytest.fixture
def site(
    tmp_path: Path, slurm_cluster_factory: SlurmFactory
) -> Iterator[tuple[SlurmCluster, int, Path]]:
    port = free_port()
    procs: list[Proc] = [vccoord(tmp_path, port).start()]
    procs += [vcagent(tmp_path, port, n, p).start() for n, p in NODES.items()]
    try:
        for name in NODES:

            def up(name: str = name) -> bool:
                return healthy(port, name)

            wait_until(up, 60, f"{name} registered and healthy")
        cluster = slurm_cluster_factory(
            tuple(NODES),
            prolog=hook(tmp_path, "prolog"),
            epilog=hook(tmp_path, "epilog"),
            prolog_flags="Alloc",
        )
        yield cluster, port, tmp_path
    finally:
        for p in procs:
            if p.alive():
                p.terminate()
        for p in procs:
            print(f"--- {p.name} ---\n{p.log()[-3000:]}")


def test_a_healthy_node_runs_a_job(site: tuple[SlurmCluster, int, Path]) -> None:
    cluster, _, _ = site
    job = cluster.sbatch("true", node="n2")
    assert cluster.wait_job(job, {"COMPLETED", "FAILED"}, timeout=60) == "COMPLETED"
    assert "DRAIN" not in cluster.node_state("n2")


def test_a_fault_fails_the_next_prolog_drains_the_node_and_requeues_the_job(
    site: tuple[SlurmCluster, int, Path],
) -> None:
    cluster, _, tmp = site
    sim(tmp, "n2", "inject", "filesystem-read-only")
    job = cluster.sbatch("true", node="n2")
    wait_until(lambda: "DRAIN" in cluster.node_state("n2"), 60, "n2 drained by the prolog")
    show = cluster.scontrol("-o", "show", "node", "n2")
    assert "Prolog error" in show or "prolog" in show.lower(), show
    job_info = cluster.scontrol("-o", "show", "job", str(job))
    assert "Restarts=1" in job_info or "requeued" in job_info.lower(), job_info
    assert "JobState=COMPLETED" not in job_info
    wait_until(lambda: "host.mounts" in cluster.log("n2"), 30, "slurmd log names the check")


def test_an_xid_during_a_job_fails_the_epilog_and_reaches_the_coordinator(
    site: tuple[SlurmCluster, int, Path],
) -> None:
    cluster, port, tmp = site
    job = cluster.sbatch("sleep 3", node="n1")
    cluster.wait_job(job, {"RUNNING"}, timeout=60)
    sim(tmp, "n1", "inject", "xid-79", "--device", "gpu2")
    cluster.wait_job(job, {"COMPLETED", "FAILED"}, timeout=60)
    wait_until(lambda: "DRAIN" in cluster.node_state("n1"), 60, "n1 drained by the epilog")
    wait_until(lambda: "nvidia.xid" in cluster.log("n1"), 30, "slurmd log names the XID")

    def xid_seen() -> bool:
        n = node(port, "n1")
        return n is not None and any(
            c.check == "nvidia.xid" and c.subject == "gpu2" and c.status is CheckStatus.FAIL
            for c in n.checks
        )

    wait_until(xid_seen, 10, "the coordinator to hold the XID")
