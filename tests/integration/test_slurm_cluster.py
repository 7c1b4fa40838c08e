"""tests/slurm.py itself: what other tests rely on (hooks run where documented, clean teardown)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import tests.slurm
from coordinator.drivers import ForeignDrainError, SchedulerState, SlurmScheduler
from tests.integration.conftest import SlurmFactory
from tests.pids import alive, processes_with_env, read_pid
from tests.slurm import SlurmCluster, SlurmMissingError, require_slurm
from tests.waiting import wait_until

pytestmark = pytest.mark.integration

HOOK = """#!/bin/sh
echo "$SLURMD_NODENAME ${{SLURM_JOB_ID:-none}} path=$(env | grep -c '^PATH=')" >> {out}
exit {rc}
"""


def hook(tmp_path: Path, name: str, rc: int = 0) -> tuple[Path, Path]:
    """A hook that appends "<node> <job id> path=<1 if PATH is in its environment, else 0>"."""
    out = tmp_path / f"{name}.out"
    script = tmp_path / f"{name}.sh"
    script.write_text(HOOK.format(out=out, rc=rc))
    script.chmod(0o755)
    return script, out


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_prolog_with_alloc_runs_on_every_node_and_epilog_too(
    slurm_cluster_factory: SlurmFactory, tmp_path: Path
) -> None:
    prolog, prolog_out = hook(tmp_path, "prolog")
    epilog, epilog_out = hook(tmp_path, "epilog")
    cluster = slurm_cluster_factory(
        ("n1", "n2"), prolog=prolog, epilog=epilog, prolog_flags="Alloc"
    )
    job = cluster.salloc(args=["--nodes=2"])  # no step at all: only Alloc runs the prolog
    assert sorted(lines(prolog_out)) == [f"n1 {job} path=0", f"n2 {job} path=0"]  # already
    cluster.scancel(job)
    wait_until(lambda: len(lines(epilog_out)) == 2, 10, "the epilog on both nodes")
    assert sorted(lines(prolog_out)) == [f"n1 {job} path=0", f"n2 {job} path=0"]
    assert sorted(lines(epilog_out)) == [f"n1 {job} path=0", f"n2 {job} path=0"]


def test_health_check_program_runs_before_registration_with_only_the_node_name(
    slurm_cluster_factory: SlurmFactory, tmp_path: Path
) -> None:
    program, out = hook(tmp_path, "health")
    slurm_cluster_factory(("n1", "n2"), health_check_program=program, health_check_interval=60)
    assert sorted(lines(out)) == ["n1 none path=0", "n2 none path=0"]  # before nodes were idle


@pytest.mark.asyncio
async def test_failing_prolog_drains_the_node_under_a_reason_that_is_not_ours(
    slurm_cluster_factory: SlurmFactory, tmp_path: Path
) -> None:
    prolog, _ = hook(tmp_path, "prolog", rc=1)
    cluster = slurm_cluster_factory(("n1",), prolog=prolog, prolog_flags="Alloc")
    failed = cluster.run("salloc", "--no-shell", "--nodelist=n1", check=False)
    assert failed.returncode != 0
    sched = SlurmScheduler(slurm_conf=cluster.conf)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while (node := await sched.node("n1")).state is not SchedulerState.DRAINED:
        assert loop.time() < deadline, node
        await asyncio.sleep(0.05)
    assert node.reason == "Prolog error" and not node.reason_is_ours
    with pytest.raises(ForeignDrainError):
        await sched.resume("n1")


def test_stop_ends_every_process_even_after_a_reboot_and_removes_the_dir() -> None:
    cluster = SlurmCluster(("n1", "n2"))
    cluster.start()
    try:
        job = cluster.sbatch("sleep 300", "n2")
        cluster.wait_job(job, {"RUNNING"})
        first = cluster.slurmd_pid("n1")
        cluster.scontrol("reboot", "ASAP", "nextstate=resume", "reason=test", "n1")
        wait_until(
            lambda: (
                cluster.slurmd_pid("n1") not in (None, first) and cluster.node_state("n1") == "IDLE"
            ),
            30,
            "n1 back with a new slurmd",
        )
        ours = processes_with_env("SLURM_CONF", str(cluster.conf))
        munged = read_pid(cluster.dir / "munge" / "munged.pid")
        assert len(ours) >= 4 and munged is not None  # slurmctld, 2 slurmd, the job's steps
    finally:
        cluster.stop()
    assert not [p for p in [*ours, munged] if alive(p)]
    assert first is not None and not alive(first)
    assert not cluster.dir.exists()
    cluster.stop()  # twice is fine


def test_missing_slurm_fails_with_the_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    require_slurm()
    monkeypatch.setattr(tests.slurm, "SLURMCTLD", "/nonexistent/slurmctld")
    with pytest.raises(SlurmMissingError, match=r"scripts/install-deps\.sh.*slurmctld"):
        require_slurm()
    with pytest.raises(SlurmMissingError):
        SlurmCluster(("n1",)).start()
