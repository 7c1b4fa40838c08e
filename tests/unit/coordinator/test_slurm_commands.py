"""SlurmScheduler over stand-in `sinfo`/`squeue`/`scontrol` scripts on PATH, and run_command.

The stand-ins replay output captured from the real Slurm (data/) and log their argv and
SLURM_CONF, so the exact commands the driver issues are checked without a Slurm; a stand-in that
hangs checks the deadline. The same driver runs against a real Slurm in
tests/integration/test_slurm_driver.py.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from coordinator.drivers import (
    CommandFailedError,
    CommandTimeoutError,
    DrainOutcome,
    SchedulerState,
    SchedulerUnavailableError,
    SlurmScheduler,
    UnknownNodeError,
)
from coordinator.drivers.command import run_command
from tests.waiting import eventually
from vcbase.errors import TransientError, ValidationError

DATA = Path(__file__).parent / "data"
STANDIN = """#!/bin/sh
name=$(basename "$0")
printf '%s\\t%s\\n' "$name $*" "$SLURM_CONF" >> "{dir}/calls.log"
if [ -f "{dir}/$name.hang" ]; then
  echo $$ > "{dir}/$name.pid"; sleep 300 & echo $! > "{dir}/$name.child"; wait; exit 0
fi
[ -f "{dir}/$name.out" ] && cat "{dir}/$name.out"
[ -f "{dir}/$name.err" ] && cat "{dir}/$name.err" >&2
exit $(cat "{dir}/$name.rc" 2>/dev/null || echo 0)
"""


class StandIns:
    """Fake Slurm client commands in a directory put first on PATH."""

    def __init__(self, root: Path) -> None:
        self.dir = root
        for name in ("sinfo", "squeue", "scontrol"):
            path = root / name
            path.write_text(STANDIN.format(dir=root))
            path.chmod(0o755)
        self.reply("sinfo", stdout=(DATA / "sinfo-22.05-many.json").read_text())
        self.reply("squeue", stdout=(DATA / "squeue-22.05-many.txt").read_text())

    def reply(self, name: str, stdout: str = "", stderr: str = "", rc: int = 0) -> None:
        (self.dir / f"{name}.out").write_text(stdout)
        (self.dir / f"{name}.err").write_text(stderr)
        (self.dir / f"{name}.rc").write_text(str(rc))

    def hang(self, name: str) -> None:
        (self.dir / f"{name}.hang").touch()

    def calls(self, name: str | None = None) -> list[str]:
        log = self.dir / "calls.log"
        lines = log.read_text().splitlines() if log.exists() else []
        return [ln.split("\t")[0] for ln in lines if name is None or ln.startswith(name + " ")]

    def conf_seen(self) -> set[str]:
        return {ln.split("\t")[1] for ln in (self.dir / "calls.log").read_text().splitlines()}


@pytest.fixture
def slurm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StandIns:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.delenv("SLURM_CONF", raising=False)
    return StandIns(bin_dir)


def gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


@pytest.mark.asyncio
async def test_reads_join_nodes_and_jobs(slurm: StandIns) -> None:
    sched = SlurmScheduler(slurm_conf=Path("/etc/slurm/test.conf"))
    nodes = {n.name: n for n in await sched.nodes()}
    assert nodes["n3"].jobs == (2,) and nodes["n6"].jobs == (2,) and nodes["n1"].jobs == ()
    assert nodes["n3"].state is SchedulerState.DRAINING
    assert slurm.calls() == [
        "sinfo --json",  # the auto probe
        "sinfo --json",
        "squeue -h -t RUNNING,COMPLETING,SUSPENDED -o %A|%N",
    ]
    await sched.node("n2")
    assert slurm.calls("squeue")[-1] == "squeue -h -t RUNNING,COMPLETING,SUSPENDED -o %A|%N -w n2"
    assert slurm.conf_seen() == {"/etc/slurm/test.conf"}
    with pytest.raises(UnknownNodeError):
        await sched.node("n9")


@pytest.mark.asyncio
async def test_writes_issue_the_documented_commands(slurm: StandIns) -> None:
    sched = SlurmScheduler(node_source="sinfo_json")
    assert await sched.drain("n1", "gpu 0 xid 79") is DrainOutcome.DRAINED
    assert await sched.drain("n4", "gpu 0 xid 79") is DrainOutcome.FOREIGN  # operator's drain
    assert await sched.resume("n5") is True  # down under our reason
    assert await sched.reboot("n1", "rolling update", next_state="down") is True
    assert await sched.reboot("n6", "again") is False  # already requested
    assert await sched.cancel_reboot("n6") is True
    assert slurm.calls("scontrol") == [
        "scontrol update nodename=n1 state=drain reason=vcluster: gpu 0 xid 79",
        "scontrol update nodename=n5 state=resume",
        "scontrol reboot ASAP nextstate=down reason=vcluster: rolling update n1",
        "scontrol cancel_reboot n6",
    ]
    with pytest.raises(ValidationError):
        await sched.reboot("n1", "x", next_state="drain")  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_without_sinfo_json_auto_falls_back_to_scontrol(slurm: StandIns) -> None:
    slurm.reply("sinfo", stderr="sinfo: unrecognized option '--json'\n", rc=1)
    slurm.reply("scontrol", stdout=(DATA / "scontrol-22.05-many.txt").read_text())
    sched = SlurmScheduler()
    by_json = {n.name: n.state for n in await SlurmScheduler(node_source="scontrol").nodes()}
    assert {n.name: n.state for n in await sched.nodes()} == by_json
    assert sched.node_source == "scontrol"
    assert slurm.calls("sinfo") == ["sinfo --json"]  # probed once, then never again
    slurm.reply("scontrol", stdout="", stderr="", rc=0)
    with pytest.raises(UnknownNodeError):
        await sched.node("n1")
    assert slurm.calls("scontrol")[-1] == "scontrol -o show node n1"


@pytest.mark.asyncio
async def test_hung_scontrol_is_killed_at_the_deadline(slurm: StandIns) -> None:
    slurm.reply("scontrol", stdout=(DATA / "scontrol-22.05-many.txt").read_text())
    slurm.hang("scontrol")
    sched = SlurmScheduler(node_source="scontrol", timeout=0.5)
    with pytest.raises(CommandTimeoutError) as caught:
        await asyncio.wait_for(sched.node("n1"), 10)  # the guard of this test only
    err = caught.value
    assert isinstance(err, TransientError)
    assert err.cmd == ("scontrol", "-o", "show", "node", "n1")
    assert err.returncode == -signal.SIGKILL
    pid, child = (int((slurm.dir / f"scontrol.{f}").read_text()) for f in ("pid", "child"))
    assert gone(pid) and gone(child)


@pytest.mark.asyncio
async def test_failures_keep_what_they_saw(slurm: StandIns) -> None:
    sched = SlurmScheduler(node_source="sinfo_json")
    slurm.reply("scontrol", stderr="slurm_update error: Invalid node state specified\n", rc=1)
    with pytest.raises(CommandFailedError) as caught:
        await sched.drain("n1", "x")
    assert (caught.value.returncode, caught.value.cmd[:2]) == (1, ("scontrol", "update"))
    assert "Invalid node state" in caught.value.stderr and "Invalid node state" in str(caught.value)
    slurm.reply("squeue", stderr="slurm_load_jobs error: Unable to contact slurm controller", rc=1)
    with pytest.raises(SchedulerUnavailableError):
        await sched.nodes()
    slurm.reply("sinfo", stdout='{"errors": [{"error": "Unspecified error"}], "nodes": []}')
    with pytest.raises(SchedulerUnavailableError, match="Unspecified error"):
        await sched.nodes()
    slurm.reply("sinfo", stdout="garbage")
    with pytest.raises(CommandFailedError, match="unexpected output") as bad:
        await sched.nodes()
    assert bad.value.stdout == "garbage"


@pytest.mark.asyncio
async def test_run_command_contract(tmp_path: Path) -> None:
    ok = await run_command(["sh", "-c", "echo out; echo err >&2"], time_limit=5)
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, "out\n", "err\n")
    with pytest.raises(CommandFailedError) as failed:
        await run_command(["sh", "-c", "echo partial; exit 3"], time_limit=5)
    assert (failed.value.returncode, failed.value.stdout) == (3, "partial\n")
    with pytest.raises(CommandTimeoutError) as late:
        await run_command(["sh", "-c", "echo before; exec sleep 300"], time_limit=0.3)
    assert late.value.stdout == "before\n"
    with pytest.raises(CommandFailedError, match="cannot start"):
        await run_command([str(tmp_path / "missing")], time_limit=5)
    with pytest.raises(ValidationError):
        SlurmScheduler(timeout=0)


@pytest.mark.asyncio
async def test_cancelling_the_caller_kills_the_command(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    task = asyncio.create_task(
        run_command(["sh", "-c", f"echo $$ > {pidfile}; exec sleep 300"], time_limit=60)
    )
    await eventually(lambda: pidfile.exists() and bool(pidfile.read_text().strip()))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert gone(int(pidfile.read_text()))
