"""host.cpu / host.memory / host.mce / host.mounts / host.processes over simulated nodes
(edited in place) and over this machine."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agent.checks import host
from agent.checks.base import Check, CheckContext
from agent.checks.host import CpuCheck, MachineCheckErrors, MemoryCheck
from agent.checks.host_mounts import PROBE_PREFIX, MountsCheck, ProcessesCheck
from agent.checks.host_thresholds import HostThresholds
from agent.checks.thresholds import Thresholds
from agent.hardware import NodeHardware, open_hardware
from agent.profiles import PROFILES
from agent.sim.tree import meminfo_text, mounts_text
from vcbase.domain import CheckAction, CheckResult, CheckStatus

NODE = "nid000042"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _ctx(hw: NodeHardware, at: datetime = T0, **host_thresholds: Any) -> CheckContext:
    profile = PROFILES[hw.profile] if hw.profile else None
    thresholds = Thresholds(host=HostThresholds.model_validate(host_thresholds))
    return CheckContext(hw, profile, thresholds, at)


def _by_subject(results: list[CheckResult]) -> dict[str, CheckResult]:
    subjects = [r.subject for r in results]
    assert len(subjects) == len(set(subjects)), "one result per subject"
    return {r.subject: r for r in results}


def _one(check: Check, ctx: CheckContext, subject: str) -> CheckResult:
    return _by_subject(check.run(ctx))[subject]


def _verdict(result: CheckResult) -> tuple[CheckStatus, CheckAction]:
    return result.status, result.action


@pytest.fixture
def rome(tmp_path: Path) -> NodeHardware:
    return open_hardware("rome", NODE, tmp_path)


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_a_healthy_node_has_only_ok_host_results(tmp_path: Path, name: str) -> None:
    hw = open_hardware(name, NODE, tmp_path)
    profile = PROFILES[name]
    subjects: set[str] = set()
    for check in host.checks():
        assert check.applies(_ctx(hw))
        for minute in range(2):
            results = check.run(_ctx(hw, T0 + timedelta(minutes=minute)))
            assert {_verdict(r) for r in results} == {(CheckStatus.OK, CheckAction.NONE)}
        subjects |= {r.subject for r in results}
    controllers = {f"mc{n}" for n in range(profile.cpu_sockets)}
    assert subjects == {"cpu", "memory"} | controllers | set(profile.required_mounts) | set(
        profile.required_processes
    )


def test_fewer_cpus_than_the_type_has_need_repair(rome: NodeHardware) -> None:
    cpuinfo = rome.root / "proc/cpuinfo"
    entries = cpuinfo.read_text().split("\n\n")
    cpuinfo.write_text("\n\n".join(entries[:64]) + "\n")
    result = _one(CpuCheck(), _ctx(rome), "cpu")
    assert _verdict(result) == (CheckStatus.FAIL, CheckAction.REPAIR)
    assert result.observed["logical_cpus"] == "64" and result.observed["expected_cpus"] == "128"


def test_another_cpu_model_only_warns(rome: NodeHardware) -> None:
    cpuinfo = rome.root / "proc/cpuinfo"
    cpuinfo.write_text(cpuinfo.read_text().replace("7742", "7763"))
    result = _one(CpuCheck(), _ctx(rome), "cpu")
    assert _verdict(result) == (CheckStatus.WARN, CheckAction.NONE)
    assert "7763" in result.message


@pytest.mark.parametrize(("fraction", "status"), [(0.96, CheckStatus.OK), (0.94, CheckStatus.FAIL)])
def test_memory_below_the_threshold_needs_repair(
    rome: NodeHardware, fraction: float, status: CheckStatus
) -> None:
    profile = PROFILES["rome"]
    memory = int(profile.memory_bytes * fraction) // 1024 * 1024
    (rome.root / "proc/meminfo").write_text(meminfo_text(profile, memory))
    result = _one(MemoryCheck(), _ctx(rome), "memory")
    assert result.status is status
    assert result.action is (CheckAction.REPAIR if status is CheckStatus.FAIL else CheckAction.NONE)
    assert result.observed["mem_total_bytes"] == str(memory)


def test_unreadable_meminfo_is_unknown(rome: NodeHardware) -> None:
    (rome.root / "proc/meminfo").write_text("MemFree: 1 kB\n")
    assert _one(MemoryCheck(), _ctx(rome), "memory").status is CheckStatus.UNKNOWN


def test_cpu_and_memory_need_a_profile(rome: NodeHardware) -> None:
    ctx = CheckContext(rome, None, Thresholds(), T0)
    for check in (CpuCheck(), MemoryCheck()):
        assert not check.applies(ctx)
        assert {r.status for r in check.run(ctx)} == {CheckStatus.UNKNOWN}


def _edac(hw: NodeHardware, mc: str, **counts: int | str) -> None:
    for name, value in counts.items():
        (hw.root / "sys/devices/system/edac/mc" / mc / name).write_text(f"{value}\n")


@pytest.mark.parametrize("counter", ["ue_count", "ue_noinfo_count"])
def test_an_uncorrected_memory_error_needs_repair(rome: NodeHardware, counter: str) -> None:
    _edac(rome, "mc1", **{counter: 1})
    results = _by_subject(MachineCheckErrors().run(_ctx(rome)))
    assert _verdict(results["mc1"]) == (CheckStatus.FAIL, CheckAction.REPAIR)
    assert results["mc0"].status is CheckStatus.OK
    assert _one(MachineCheckErrors(), _ctx(rome, edac_ue_max=1), "mc1").status == "ok"


def test_a_corrected_error_rate_warns(rome: NodeHardware) -> None:
    check = MachineCheckErrors()
    _edac(rome, "mc0", ce_count=1000)
    assert _one(check, _ctx(rome, T0), "mc0").status is CheckStatus.OK
    _edac(rome, "mc0", ce_count=1099)
    assert _one(check, _ctx(rome, T0 + timedelta(minutes=30)), "mc0").status == "ok"
    _edac(rome, "mc0", ce_noinfo_count=1)
    result = _one(check, _ctx(rome, T0 + timedelta(minutes=40)), "mc0")
    assert _verdict(result) == (CheckStatus.WARN, CheckAction.NONE)
    assert result.observed["ce_in_window"] == "100"


def test_edac_garbage_is_unknown_and_no_edac_means_no_check(rome: NodeHardware) -> None:
    _edac(rome, "mc0", ce_count="lots")
    assert {r.status for r in MachineCheckErrors().run(_ctx(rome))} == {CheckStatus.UNKNOWN}
    shutil.rmtree(rome.root / "sys/devices/system/edac")
    assert not MachineCheckErrors().applies(_ctx(rome))


def test_a_missing_mount_needs_a_reboot(rome: NodeHardware) -> None:
    mounts = rome.root / "proc/mounts"
    mounts.write_text(
        "".join(ln for ln in mounts.read_text().splitlines(True) if "/home" not in ln)
    )
    results = _by_subject(MountsCheck().run(_ctx(rome)))
    assert _verdict(results["/home"]) == (CheckStatus.FAIL, CheckAction.REBOOT)
    assert "not mounted" in results["/home"].message
    assert results["/scratch"].status is CheckStatus.OK


def test_a_read_only_mount_needs_a_reboot(rome: NodeHardware) -> None:
    profile = PROFILES["rome"]
    (rome.root / "proc/mounts").write_text(mounts_text(profile, frozenset({"/tmp"})))
    result = _one(MountsCheck(), _ctx(rome), "/tmp")
    assert _verdict(result) == (CheckStatus.FAIL, CheckAction.REBOOT)
    assert "read-only" in result.message and "ro" in result.observed["options"].split(",")


def test_the_write_probe_runs_inside_the_mountpoint_under_the_root(rome: NodeHardware) -> None:
    scratch = rome.root / "scratch"
    result = _one(MountsCheck(), _ctx(rome), "/scratch")
    assert result.observed["write_probe"] == "ok"
    assert not any(p.name.startswith(PROBE_PREFIX) for p in scratch.iterdir())
    shutil.rmtree(scratch)  # the mount's directory is gone: writing fails
    failed = _one(MountsCheck(), _ctx(rome), "/scratch")
    assert _verdict(failed) == (CheckStatus.FAIL, CheckAction.REBOOT)
    assert "write probe failed" in failed.message
    assert _one(MountsCheck(), _ctx(rome, mount_write_probe=False), "/scratch").status == "ok"


def test_configured_mounts_replace_the_profiles(rome: NodeHardware) -> None:
    ctx = _ctx(rome, required_mounts=["/", "/lus/flare"])
    results = _by_subject(MountsCheck().run(ctx))
    assert set(results) == {"/", "/lus/flare"}
    assert results["/"].status is CheckStatus.OK
    assert results["/lus/flare"].status is CheckStatus.FAIL
    assert not MountsCheck().applies(_ctx(rome, required_mounts=[]))


def test_a_missing_daemon_fails_without_an_action(rome: NodeHardware) -> None:
    for comm in (rome.root / "proc").glob("*/comm"):
        if comm.read_text().strip() == "munged":
            shutil.rmtree(comm.parent)
    results = _by_subject(ProcessesCheck().run(_ctx(rome)))
    assert _verdict(results["munged"]) == (CheckStatus.FAIL, CheckAction.NONE)
    assert results["slurmd"].status is CheckStatus.OK


def test_long_process_names_match_the_kernels_15_characters(rome: NodeHardware) -> None:
    proc = rome.root / "proc/4242"
    proc.mkdir()
    (proc / "comm").write_text("nvidia-persiste\n")
    ctx = _ctx(rome, required_processes=["nvidia-persistenced"])
    assert _one(ProcessesCheck(), ctx, "nvidia-persistenced").status is CheckStatus.OK
    assert not ProcessesCheck().applies(_ctx(rome, required_processes=[]))


def test_the_lists_are_validated_at_the_edge() -> None:
    with pytest.raises(ValueError, match="absolute"):
        HostThresholds.model_validate({"required_mounts": ["scratch"]})
    with pytest.raises(ValueError, match="process name"):
        HostThresholds.model_validate({"required_processes": ["/usr/sbin/slurmd"]})
    with pytest.raises(ValueError, match="memory_min_fraction"):
        HostThresholds.model_validate({"memory_min_fraction": 1.5})


def test_this_machine(tmp_path: Path) -> None:
    hw = open_hardware(None, "ignored", tmp_path)
    ctx = CheckContext(hw, None, Thresholds(), datetime.now(UTC))
    for check in host.checks():
        check.applies(ctx)
        for result in check.run(ctx):
            assert result.check == check.name and result.status in set(CheckStatus)
    assert not MountsCheck().applies(ctx) and not ProcessesCheck().applies(ctx)
    me = (Path("/proc") / str(os.getpid()) / "comm").read_text().strip()
    configured = CheckContext(
        hw,
        None,
        Thresholds(
            host=HostThresholds(
                required_mounts=["/"], mount_write_probe=False, required_processes=[me]
            )
        ),
        datetime.now(UTC),
    )
    assert _one(MountsCheck(), configured, "/").status is CheckStatus.OK
    assert _one(ProcessesCheck(), configured, me).status is CheckStatus.OK
