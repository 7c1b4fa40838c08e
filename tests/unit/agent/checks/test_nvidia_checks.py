"""The NVIDIA checks on simulated GH200 and A100 nodes: healthy nodes, and each check's edges
(driven through the simulated health state, so the real check code reads it through SimNvml)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from agent.checks import nvidia
from agent.checks.base import CheckContext
from agent.checks.thresholds import Thresholds
from agent.hardware import NodeHardware
from agent.profiles import PROFILES
from agent.sim.nvml_health import NvmlConstants as C
from agent.sim.nvml_health import SimGpuHealth, update_health
from agent.sim.tree import GPU_STATE_FILE, read_gpu_state, write_gpu_state
from tests.unit.agent.checks.test_nvidia_sim import SimNode, by_subject, check, not_ok, sim_node
from vcbase.domain import CheckAction, CheckStatus

OK, WARN, FAIL, UNKNOWN = CheckStatus.OK, CheckStatus.WARN, CheckStatus.FAIL, CheckStatus.UNKNOWN
NONE, REBOOT, REPAIR = CheckAction.NONE, CheckAction.REBOOT, CheckAction.REPAIR
COMMON = {
    "nvidia.nvml",
    "nvidia.count",
    "nvidia.xid",
    "nvidia.recovery_action",
    "nvidia.ecc",
    "nvidia.row_remap",
    "nvidia.temperature",
    "nvidia.throttle",
    "nvidia.pcie",
    "nvidia.nvlink",
}


def _set(node: SimNode, device: str = "gpu0", **values: Any) -> None:
    update_health(node.sim_dir, device, lambda h: dataclasses.replace(h, **values))


def _one(node: SimNode, name: str, subject: str = "gpu0", **kw: Any) -> tuple[Any, ...]:
    result = by_subject(check(name).run(node.ctx(**kw)))[subject]
    return result.status, result.action


@pytest.mark.parametrize(("profile", "extra"), [("gh200", {"nvidia.c2c"}), ("a100", set())])
def test_a_healthy_node_is_all_ok(tmp_path: Path, profile: str, extra: set[str]) -> None:
    node = sim_node(tmp_path, profile)
    ctx = node.ctx()
    applying = [c for c in nvidia.checks() if c.applies(ctx)]
    assert {c.name for c in applying} == COMMON | extra
    gpus = {f"gpu{i}" for i in range(PROFILES[profile].gpu_count)}
    for c in applying:
        results = c.run(ctx)
        assert not not_ok(results), not_ok(results)
        assert all(r.check == c.name and r.message for r in results)
        subjects = {r.subject for r in results}
        assert subjects == ({"nvml"} if c.name == "nvidia.nvml" else gpus), c.name
        assert all(isinstance(v, str) for r in results for v in r.observed.values())


def test_checks_gives_fresh_instances_with_unique_names() -> None:
    first, second = nvidia.checks(), nvidia.checks()
    assert len({c.name for c in first}) == len(first) == 12
    assert not {id(c) for c in first} & {id(c) for c in second}


def test_without_nvml_only_the_nvml_check_applies_and_fails(tmp_path: Path) -> None:
    node = sim_node(tmp_path, "gh200")
    hw = NodeHardware(node.hw.root, None, None, simulated=True, profile="gh200")
    ctx = CheckContext(hw, PROFILES["gh200"], Thresholds(), datetime.now(UTC))
    applying = [c for c in nvidia.checks() if c.applies(ctx)]
    assert [c.name for c in applying] == ["nvidia.nvml"]
    (result,) = applying[0].run(ctx)
    assert (result.status, result.action, result.subject) == (FAIL, REBOOT, "nvml")
    assert "4 NVIDIA GPUs" in result.message
    assert nvidia.event_sources(hw) == []


def test_no_nvidia_check_applies_on_a_cpu_node(tmp_path: Path) -> None:
    node = sim_node(tmp_path, "rome")
    ctx = node.ctx()
    assert [c.name for c in nvidia.checks() if c.applies(ctx)] == []


def test_a_lost_gpu_is_missing_for_count_and_unknown_elsewhere(tmp_path: Path) -> None:
    node = sim_node(tmp_path, "a100")
    path = node.sim_dir / GPU_STATE_FILE
    state = read_gpu_state(path)
    devices = list(state.devices)
    devices[1] = dataclasses.replace(devices[1], lost=True)
    write_gpu_state(path, dataclasses.replace(state, devices=tuple(devices)))
    assert _one(node, "nvidia.count", "gpu1") == (FAIL, REBOOT)
    for c in nvidia.checks():
        if c.name in {"nvidia.count", "nvidia.nvml", "nvidia.xid"} or not c.applies(node.ctx()):
            continue
        results = by_subject(c.run(node.ctx()))
        assert results["gpu1"].status is UNKNOWN, c.name
        assert "lost" in results["gpu1"].message
        assert results["gpu0"].status is OK


def test_a_gpu_gone_from_the_list_is_reported_missing(tmp_path: Path) -> None:
    node = sim_node(tmp_path, "gh200")
    path = node.sim_dir / GPU_STATE_FILE
    state = read_gpu_state(path)
    write_gpu_state(path, dataclasses.replace(state, devices=state.devices[:3]))
    results = by_subject(check("nvidia.count").run(node.ctx()))
    assert (results["gpu3"].status, results["gpu3"].action) == (FAIL, REBOOT)
    assert "3 of the 4" in results["gpu3"].message
    assert not not_ok(r for s, r in results.items() if s != "gpu3")


def test_nvml_that_cannot_count_is_unknown_not_an_exception(tmp_path: Path) -> None:
    node = sim_node(tmp_path, "a100")
    (node.sim_dir / GPU_STATE_FILE).write_text("{not json")
    for c in nvidia.checks():
        if c.name in {"nvidia.xid", "nvidia.retired_pages", "nvidia.c2c"}:
            continue
        results = c.run(node.ctx())
        assert results and {r.status for r in results} <= {UNKNOWN, FAIL}, c.name


@pytest.mark.parametrize(
    ("temp", "expected"),
    [
        (80, (OK, NONE)),
        (84, (WARN, NONE)),
        (88, (WARN, NONE)),
        (89, (FAIL, NONE)),
        (99, (FAIL, NONE)),
    ],
)
def test_temperature_against_slowdown_minus_margin(
    tmp_path: Path, temp: int, expected: tuple[CheckStatus, CheckAction]
) -> None:
    node = sim_node(tmp_path, "a100")  # slowdown 89 C, margin 5 C
    _set(node, temperature_c=temp)
    assert _one(node, "nvidia.temperature") == expected


@pytest.mark.parametrize(
    ("reasons", "expected"),
    [
        (C.nvmlClocksEventReasonGpuIdle | C.nvmlClocksEventReasonSwPowerCap, (OK, NONE)),
        (C.nvmlClocksEventReasonSwThermalSlowdown, (WARN, NONE)),
        (
            C.nvmlClocksEventReasonHwSlowdown | C.nvmlClocksEventReasonHwThermalSlowdown,
            (FAIL, NONE),
        ),
        (C.nvmlClocksEventReasonHwSlowdown, (FAIL, REPAIR)),
        (
            C.nvmlClocksEventReasonHwSlowdown | C.nvmlClocksEventReasonHwPowerBrakeSlowdown,
            (FAIL, REPAIR),
        ),
    ],
)
def test_throttle_reasons(
    tmp_path: Path, reasons: int, expected: tuple[CheckStatus, CheckAction]
) -> None:
    node = sim_node(tmp_path, "gh200")
    _set(node, clocks_event_reasons=reasons)
    assert _one(node, "nvidia.throttle") == expected
    assert check("nvidia.throttle").fail_after == 3


@pytest.mark.parametrize(
    ("width", "expected"),
    [(16, (OK, NONE)), (12, (WARN, REBOOT)), (8, (FAIL, REBOOT)), (1, (FAIL, REBOOT))],
)
def test_pcie_width(tmp_path: Path, width: int, expected: tuple[CheckStatus, CheckAction]) -> None:
    node = sim_node(tmp_path, "a100")
    _set(node, pcie_width_current=width)
    assert _one(node, "nvidia.pcie") == expected


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"ecc_volatile_uncorrected": 1, "ecc_aggregate_uncorrected": 1}, (FAIL, REBOOT)),
        ({"ecc_aggregate_uncorrected": 10}, (OK, NONE)),
        ({"ecc_aggregate_uncorrected": 11}, (FAIL, REPAIR)),
        ({"ecc_volatile_uncorrected": 2, "ecc_aggregate_uncorrected": 12}, (FAIL, REPAIR)),
        ({"sram_aggregate_uncorrected": 1}, (FAIL, REPAIR)),
        ({"ecc_volatile_corrected": 500, "ecc_aggregate_corrected": 9000}, (OK, NONE)),
    ],
)
def test_ecc(tmp_path: Path, values: dict[str, Any], expected: tuple[Any, ...]) -> None:
    node = sim_node(tmp_path, "gh200")
    _set(node, **values)
    assert _one(node, "nvidia.ecc") == expected


def test_ecc_thresholds_come_from_the_config(tmp_path: Path) -> None:
    node = sim_node(tmp_path, "gh200")
    _set(node, ecc_aggregate_uncorrected=3)
    strict = Thresholds.model_validate({"nvidia": {"ecc_aggregate_uncorrected_max": 2}})
    assert _one(node, "nvidia.ecc", thresholds=strict) == (FAIL, REPAIR)
    assert _one(node, "nvidia.ecc") == (OK, NONE)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"remap_pending": True}, (FAIL, REBOOT)),
        ({"remap_failure": True}, (FAIL, REPAIR)),
        ({"remap_failure": True, "remap_pending": True}, (FAIL, REPAIR)),
        ({"remapped_correctable": 3, "remapped_uncorrectable": 2}, (OK, NONE)),
    ],
)
def test_row_remap(tmp_path: Path, values: dict[str, Any], expected: tuple[Any, ...]) -> None:
    node = sim_node(tmp_path, "a100")
    _set(node, **values)
    assert _one(node, "nvidia.row_remap") == expected


def test_retired_pages_only_on_pre_ampere_gpus(tmp_path: Path) -> None:
    node = sim_node(tmp_path, "a100")
    retired = check("nvidia.retired_pages")
    assert not retired.applies(node.ctx())
    _set(node, "gpu3", architecture=C.NVML_DEVICE_ARCH_VOLTA, retired_pages_dbe=2)
    assert retired.applies(node.ctx())
    results = retired.run(node.ctx())
    assert [(r.subject, r.status) for r in results] == [("gpu3", OK)]
    assert results[0].observed["retired_dbe"] == "2"
    # row remapping does not exist before Ampere: that GPU drops out of nvidia.row_remap
    assert "gpu3" not in by_subject(check("nvidia.row_remap").run(node.ctx()))
    _set(node, "gpu3", retired_pending=True)
    assert _one(node, "nvidia.retired_pages", "gpu3") == (FAIL, REBOOT)
    _set(node, "gpu3", retired_pending=False, retired_pages_sbe=58)
    assert _one(node, "nvidia.retired_pages", "gpu3") == (FAIL, REPAIR)


def _links(health: SimGpuHealth, link: int, **values: Any) -> SimGpuHealth:
    links = list(health.nvlinks)
    links[link] = dataclasses.replace(links[link], **values)
    return dataclasses.replace(health, nvlinks=tuple(links))


def test_nvlink_counters_are_judged_by_their_growth(tmp_path: Path) -> None:
    node = sim_node(tmp_path, "gh200")
    nvlink = check("nvidia.nvlink")
    update_health(node.sim_dir, "gpu1", lambda h: _links(h, 5, replay=10_000, recovery=7))
    assert not not_ok(nvlink.run(node.ctx()))  # first run: baseline, however high
    update_health(node.sim_dir, "gpu1", lambda h: _links(h, 5, replay=10_050))
    assert not not_ok(nvlink.run(node.ctx()))  # +50 replays: under 100
    update_health(node.sim_dir, "gpu1", lambda h: _links(h, 5, replay=10_200, crc_flit=300))
    result = by_subject(nvlink.run(node.ctx()))["gpu1"]
    assert (result.status, result.action) == (WARN, NONE)
    assert "NVLink 5: 150 replay" in result.message and "crc_flit" in result.message
    update_health(node.sim_dir, "gpu1", lambda h: _links(h, 5, recovery=8))
    assert _status(nvlink.run(node.ctx()), "gpu1") == (WARN, REBOOT)
    update_health(node.sim_dir, "gpu1", lambda h: _links(h, 5, replay=0, recovery=0))
    assert not not_ok(nvlink.run(node.ctx()))  # counters reset (driver reload): new baseline


def _status(results: Any, subject: str) -> tuple[Any, ...]:
    result = by_subject(results)[subject]
    return result.status, result.action


def test_nvlink_down_and_absent_links(tmp_path: Path) -> None:
    node = sim_node(tmp_path, "a100")
    update_health(node.sim_dir, "gpu2", lambda h: _links(h, 11, active=False))
    result = by_subject(check("nvidia.nvlink").run(node.ctx()))["gpu2"]
    assert (result.status, result.action) == (FAIL, REBOOT)
    assert result.observed == {"links": "12", "down": "11"}
    _set(node, "gpu3", nvlinks=())
    assert "gpu3" not in by_subject(check("nvidia.nvlink").run(node.ctx()))


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        (C.NVML_GPU_RECOVERY_ACTION_NONE, (OK, NONE)),
        (C.NVML_GPU_RECOVERY_ACTION_GPU_RESET, (FAIL, REBOOT)),
        (C.NVML_GPU_RECOVERY_ACTION_NODE_REBOOT, (FAIL, REBOOT)),
        (C.NVML_GPU_RECOVERY_ACTION_DRAIN_P2P, (FAIL, REBOOT)),
        (C.NVML_GPU_RECOVERY_ACTION_DRAIN_AND_RESET, (FAIL, REBOOT)),
        (42, (WARN, NONE)),
    ],
)
def test_recovery_action(tmp_path: Path, action: int, expected: tuple[Any, ...]) -> None:
    node = sim_node(tmp_path, "gh200")
    _set(node, recovery_action=action)
    assert _one(node, "nvidia.recovery_action") == expected


def test_c2c_is_judged_only_on_gh200_gpus(tmp_path: Path) -> None:
    node = sim_node(tmp_path, "gh200")
    _set(node, "gpu2", c2c_enabled=False)
    assert _one(node, "nvidia.c2c", "gpu2") == (FAIL, REBOOT)
    a100 = sim_node(tmp_path / "a100", "a100")
    assert not check("nvidia.c2c").applies(a100.ctx())
    unknown_type = dataclasses.replace(a100.ctx(), profile=None)
    assert check("nvidia.c2c").applies(unknown_type)
    assert check("nvidia.c2c").run(unknown_type) == []  # A100s have no C2C link


def test_a_down_link_does_not_hide_the_other_links_growth(tmp_path: Path) -> None:
    node = sim_node(tmp_path, "gh200")
    nvlink = check("nvidia.nvlink")
    nvlink.run(node.ctx())
    update_health(
        node.sim_dir,
        "gpu0",
        lambda h: _links(_links(h, 0, active=False), 1, recovery=3),
    )
    result = by_subject(nvlink.run(node.ctx()))["gpu0"]
    assert (result.status, result.action) == (FAIL, REBOOT)
    assert result.message.startswith("NVLink 0 down") and "NVLink 1: 3 recovery" in result.message
