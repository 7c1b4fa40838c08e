"""SlurmScheduler against a real Slurm 22.05: the scheduler contract, on both node sources, and
what only a real Slurm shows (a hung controller, where SLURM_CONF comes from)."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from coordinator.drivers import (
    CommandTimeoutError,
    SchedulerState,
    SchedulerUnavailableError,
    SlurmScheduler,
)
from coordinator.drivers.slurm import NodeSource
from tests.integration.conftest import SlurmFactory
from tests.pids import alive
from tests.scheduler_contract import SchedulerContract
from tests.slurm import SlurmCluster

pytestmark = pytest.mark.integration


@dataclass
class SlurmHarness:
    cluster: SlurmCluster
    scheduler: SlurmScheduler
    nodes: Sequence[str]

    async def start_job(self, node: str) -> int:
        job = await asyncio.to_thread(self.cluster.salloc, node)
        await asyncio.to_thread(self.cluster.wait_job, job, {"RUNNING"}, 30)
        return job

    async def end_job(self, job: int) -> None:
        await asyncio.to_thread(self.cluster.scancel, job)
        await asyncio.to_thread(self.cluster.wait_job_released, job, 30)

    async def admin(self, node: str, state: str, reason: str) -> None:
        await asyncio.to_thread(
            self.cluster.scontrol,
            "update",
            f"nodename={node}",
            f"state={state}",
            f"reason={reason}",
        )


class TestSlurmSchedulerContract(SchedulerContract):
    @pytest.fixture(params=["sinfo_json", "scontrol"])
    def harness(self, request: pytest.FixtureRequest, slurm_cluster: SlurmCluster) -> SlurmHarness:
        source: NodeSource = request.param
        sched = SlurmScheduler(slurm_conf=slurm_cluster.conf, node_source=source, timeout=30)
        return SlurmHarness(slurm_cluster, sched, slurm_cluster.nodes)


@pytest.mark.asyncio
async def test_auto_source_picks_sinfo_json_and_both_sources_agree(
    slurm_cluster: SlurmCluster,
) -> None:
    assert SlurmScheduler().node_source == "auto"  # until the first read
    auto = SlurmScheduler(slurm_conf=slurm_cluster.conf)
    slurm_cluster.scontrol("update", "nodename=n2", "state=drain", "reason=admin says no")
    await auto.drain("n3", "xid 79")
    assert auto.node_source == "sinfo_json"
    text = SlurmScheduler(slurm_conf=slurm_cluster.conf, node_source="scontrol")
    assert await auto.nodes() == await text.nodes()


@pytest.mark.asyncio
async def test_batch_jobs_are_listed_on_each_of_their_nodes(slurm_cluster: SlurmCluster) -> None:
    sched = SlurmScheduler(slurm_conf=slurm_cluster.conf)
    one = await asyncio.to_thread(slurm_cluster.sbatch, "sleep 30", "n2")
    two = await asyncio.to_thread(
        slurm_cluster.sbatch, "sleep 30", None, args=["--nodes=2", "--nodelist=n3,n4"]
    )
    for job in (one, two):
        await asyncio.to_thread(slurm_cluster.wait_job, job, {"RUNNING"})
    jobs = {n.name: n.jobs for n in await sched.nodes()}
    assert jobs == {"n1": (), "n2": (one,), "n3": (two,), "n4": (two,)}
    assert (await sched.node("n4")).jobs == (two,)
    for job in (one, two):
        await asyncio.to_thread(slurm_cluster.scancel, job)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while any(n.jobs for n in await sched.nodes()):  # completing jobs still count: poll
        assert loop.time() < deadline
        await asyncio.sleep(0.05)


@pytest.mark.asyncio
async def test_slurm_conf_from_the_environment(
    slurm_cluster: SlurmCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLURM_CONF", str(slurm_cluster.conf))
    names = [n.name for n in await SlurmScheduler().nodes()]
    assert names == ["n1", "n2", "n3", "n4"]


@pytest.mark.asyncio
@pytest.mark.parametrize("source", ["sinfo_json", "scontrol"])
async def test_hung_controller_times_out_and_leaves_no_process(
    slurm_cluster: SlurmCluster, source: NodeSource
) -> None:
    ctld = slurm_cluster.slurmctld_pid()
    assert ctld is not None
    sched = SlurmScheduler(slurm_conf=slurm_cluster.conf, node_source=source, timeout=1)
    before = _children()
    os.kill(ctld, signal.SIGSTOP)
    try:
        with pytest.raises(CommandTimeoutError) as caught:
            await sched.node("n1")
    finally:
        os.kill(ctld, signal.SIGCONT)
    err = caught.value
    assert err.cmd[0] in ("sinfo", "scontrol"), err
    assert err.returncode == -signal.SIGKILL, err
    left = [p for p in _children() - before if alive(p)]
    assert not left, _cmdlines(left)


@pytest.mark.asyncio
async def test_controller_gone_is_transient(slurm_cluster_factory: SlurmFactory) -> None:
    # Slurm's clients retry a refused connection for MessageTimeout seconds (default 10).
    slurm_cluster = slurm_cluster_factory(("n1",), extra_conf=["MessageTimeout=2"])
    ctld = slurm_cluster.slurmctld_pid()
    assert ctld is not None
    os.kill(ctld, signal.SIGKILL)
    sched = SlurmScheduler(slurm_conf=slurm_cluster.conf, node_source="sinfo_json", timeout=30)
    with pytest.raises(SchedulerUnavailableError, match="Unspecified error") as caught:
        await sched.nodes()  # sinfo --json exits 0 here, with an error list and no nodes
    assert caught.value.returncode == 0
    text = SlurmScheduler(slurm_conf=slurm_cluster.conf, node_source="scontrol", timeout=30)
    with pytest.raises(SchedulerUnavailableError, match="Unable to contact"):
        await text.drain("n1", "x")


@pytest.mark.asyncio
async def test_reboot_replaces_slurmd_and_job_runs_after(slurm_cluster: SlurmCluster) -> None:
    old = slurm_cluster.slurmd_pid("n4")
    sched = SlurmScheduler(slurm_conf=slurm_cluster.conf)
    await sched.reboot("n4", "kernel update")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while (await sched.node("n4")).state is not SchedulerState.IDLE or slurm_cluster.slurmd_pid(
        "n4"
    ) in (None, old):
        assert loop.time() < deadline, await sched.node("n4")
        await asyncio.sleep(0.05)
    assert old is not None and not alive(old)
    assert "Node reboot request being processed" in slurm_cluster.log("n4")
    done = await asyncio.to_thread(slurm_cluster.srun, "hostname", node="n4")
    assert done.returncode == 0, done.stderr


def _cmdlines(pids: list[int]) -> list[bytes]:
    return [Path(f"/proc/{p}/cmdline").read_bytes() for p in pids]


def _children() -> set[int]:
    """Processes whose parent is this test process."""
    me, found = os.getpid(), set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == me:
                found.add(int(entry.name))
    return found
