"""The AMD checks against simulated MI250X/MI300A nodes: healthy nodes, thresholds, odd answers."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import agent.checks.amd
from agent.checks.amd import checks
from agent.checks.amd_thresholds import AmdThresholds
from agent.checks.base import Check, CheckContext, HardwareEvent, Mode
from agent.checks.thresholds import Thresholds
from agent.hardware import NodeHardware, close_hardware, open_hardware
from agent.probes.gpu_amd import AMDSMI_STATUS_NOT_SUPPORTED, AMDSMI_STATUS_UNKNOWN_ERROR
from agent.profiles import PROFILES
from agent.sim.amdsmi import SimAmdSmi, SimAmdSmiLibraryException
from agent.sim.amdsmi_health import BadPage, update_device
from agent.sim.tree import GPU_STATE_FILE, read_gpu_state, write_gpu_state
from vcbase.domain import CheckAction, CheckResult, CheckStatus

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
OK, WARN, FAIL, UNKNOWN = CheckStatus.OK, CheckStatus.WARN, CheckStatus.FAIL, CheckStatus.UNKNOWN
NONE, REBOOT, REPAIR = CheckAction.NONE, CheckAction.REBOOT, CheckAction.REPAIR
PER_GPU = ("amd.count", "amd.ecc", "amd.bad_pages", "amd.xgmi", "amd.temperature")


@pytest.fixture(params=["mi250x", "mi300a"])
def node(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[NodeHardware]:
    hw = open_hardware(simulate=request.param, node_name="nid000001", state_dir=tmp_path)
    yield hw
    close_hardware(hw)


@pytest.fixture
def mi250x(tmp_path: Path) -> Iterator[NodeHardware]:
    hw = open_hardware(simulate="mi250x", node_name="nid000001", state_dir=tmp_path)
    yield hw
    close_hardware(hw)


def ctx_for(
    hw: NodeHardware,
    profile: str | None = None,
    now: datetime = NOW,
    **amd: Any,
) -> CheckContext:
    name = profile or hw.profile
    thresholds = Thresholds(amd=AmdThresholds(**amd))
    return CheckContext(hw, PROFILES[name] if name else None, thresholds, now, Mode.FULL)


def check(name: str) -> Check:
    (found,) = [c for c in checks() if c.name == name]
    return found


def by_subject(results: list[CheckResult]) -> dict[str, CheckResult]:
    subjects = [r.subject for r in results]
    assert len(subjects) == len(set(subjects)), "one result per subject"
    return {r.subject: r for r in results}


def hurt(hw: NodeHardware, index: int, **change: Any) -> None:
    update_device(hw.root.parent, index, lambda h: dataclasses.replace(h, **change))


class Wrapped:
    """A SimAmdSmi whose named calls raise or answer something else; the rest pass through."""

    def __init__(self, inner: SimAmdSmi, **overrides: Any) -> None:
        self._inner = inner
        self._overrides = overrides

    def __getattr__(self, name: str) -> Any:
        if name in self._overrides:
            override = self._overrides[name]
            if override is None:
                raise AttributeError(name)  # a call an older amdsmi release lacks
            return override
        return getattr(self._inner, name)


def raising(code: int) -> Any:
    def call(*args: Any) -> Any:
        raise SimAmdSmiLibraryException(code)

    return call


def wrapped(hw: NodeHardware, **overrides: Any) -> NodeHardware:
    assert isinstance(hw.amdsmi, SimAmdSmi)
    return dataclasses.replace(hw, amdsmi=Wrapped(hw.amdsmi, **overrides))


def test_the_catalog_has_the_six_amd_checks() -> None:
    names = [c.name for c in checks()]
    assert names == ["amd.smi", *PER_GPU]
    assert checks()[1] is not checks()[1], "each call gives fresh (stateful) instances"


def test_a_healthy_node_is_ok_on_every_gpu(node: NodeHardware) -> None:
    ctx = ctx_for(node)
    gpus = PROFILES[str(node.profile)].gpu_count
    for c in checks():
        assert c.applies(ctx), c.name
        results = by_subject(c.run(ctx))
        assert {r.status for r in results.values()} == {OK}, (c.name, results)
        assert all(r.action is NONE and r.observed_at == NOW for r in results.values())
        expected = {"amdsmi"} if c.name == "amd.smi" else {f"gpu{i}" for i in range(gpus)}
        assert set(results) == expected, c.name


def test_observed_values_are_strings(mi250x: NodeHardware) -> None:
    ctx = ctx_for(mi250x)
    for c in checks():
        for result in c.run(ctx):
            assert result.observed
            assert all(isinstance(v, str) for v in result.observed.values())


def test_absent_amdsmi_on_an_amd_node_fails_amd_smi_only(tmp_path: Path) -> None:
    real = agent.checks.amd.amdsmi_installed()
    assert not real, "this machine has no amdsmi; the test pins that branch"
    hw = NodeHardware(tmp_path, nvml=None, amdsmi=None, simulated=False, profile=None)
    ctx = ctx_for(hw, "mi250x")
    applying = [c for c in checks() if c.applies(ctx)]
    assert [c.name for c in applying] == ["amd.smi"]
    (result,) = applying[0].run(ctx)
    assert (result.subject, result.status, result.action) == ("amdsmi", FAIL, REPAIR)
    assert "mi250x node should have 8 AMD GPUs" in result.message
    assert "amdsmi Python package is not installed" in result.message


def test_amdsmi_installed_but_not_initialised_asks_for_a_reboot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(agent.checks.amd, "amdsmi_installed", lambda: True)
    hw = NodeHardware(tmp_path, nvml=None, amdsmi=None, simulated=False, profile=None)
    (result,) = check("amd.smi").run(ctx_for(hw, "mi300a"))
    assert (result.status, result.action) == (FAIL, REBOOT)
    assert "amdgpu driver not loaded" in result.message


def test_a_simulated_amdsmi_that_failed_to_start_fails_amd_smi(tmp_path: Path) -> None:
    close_hardware(open_hardware(simulate="mi300a", node_name="nid000001", state_dir=tmp_path))
    (tmp_path / "sim" / GPU_STATE_FILE).write_text("{broken")  # the next start reuses the tree
    hw = open_hardware(simulate="mi300a", node_name="nid000001", state_dir=tmp_path)
    assert hw.amdsmi is None
    (result,) = check("amd.smi").run(ctx_for(hw))
    assert (result.status, result.action) == (FAIL, REBOOT)


@pytest.mark.parametrize("profile", ["rome", "a100", "gh200"])
def test_amd_checks_do_not_apply_without_amd_gpus(tmp_path: Path, profile: str) -> None:
    hw = open_hardware(simulate=profile, node_name="nid000001", state_dir=tmp_path)
    assert not [c.name for c in checks() if c.applies(ctx_for(hw))]


def test_an_unknown_node_type_with_amd_gpus_is_checked(mi250x: NodeHardware) -> None:
    ctx = dataclasses.replace(ctx_for(mi250x), profile=None)
    assert all(c.applies(ctx) for c in checks())
    results = by_subject(check("amd.count").run(ctx))
    assert len(results) == 8
    assert {r.status for r in results.values()} == {OK}


def test_amdsmi_that_cannot_list_processors(mi250x: NodeHardware) -> None:
    hw = wrapped(mi250x, amdsmi_get_processor_handles=raising(AMDSMI_STATUS_UNKNOWN_ERROR))
    ctx = ctx_for(hw)
    (smi,) = check("amd.smi").run(ctx)
    assert (smi.status, smi.action) == (FAIL, REBOOT)
    for name in PER_GPU:
        (result,) = check(name).run(ctx)
        assert (result.subject, result.status) == ("amdsmi", UNKNOWN), name


def test_a_gpu_gone_from_the_list_is_missing_and_named_by_bdf(mi250x: NodeHardware) -> None:
    count, ctx = check("amd.count"), ctx_for(mi250x)
    count.run(ctx)  # learns the BDFs
    path = mi250x.root.parent / GPU_STATE_FILE
    state = read_gpu_state(path)
    gone = state.devices[2].pci_bus_id
    write_gpu_state(path, dataclasses.replace(state, devices=state.devices[:2] + state.devices[3:]))
    count.observe(HardwareEvent("device_removed", "gpu7", NOW - timedelta(seconds=5)))
    results = by_subject(count.run(ctx))
    assert [s for s, r in results.items() if r.status is not OK] == ["gpu7"]
    assert (results["gpu7"].status, results["gpu7"].action) == (FAIL, REBOOT)
    assert f"not listed any more: {gone}" in results["gpu7"].message
    assert "udev reported it removed" in results["gpu7"].message
    assert "7 of 8 AMD GPUs usable" in results["gpu7"].message


def test_more_gpus_than_the_node_type_has_is_a_warning(mi250x: NodeHardware) -> None:
    results = by_subject(check("amd.count").run(ctx_for(mi250x, "mi300a")))
    assert {s for s, r in results.items() if r.status is WARN} == {"gpu4", "gpu5", "gpu6", "gpu7"}
    assert all(r.action is NONE for r in results.values())


def test_a_lost_gpu_is_failed_by_count_and_unknown_elsewhere(mi250x: NodeHardware) -> None:
    path = mi250x.root.parent / GPU_STATE_FILE
    state = read_gpu_state(path)
    lost = dataclasses.replace(state.devices[5], lost=True)
    write_gpu_state(
        path, dataclasses.replace(state, devices=(*state.devices[:5], lost, *state.devices[6:]))
    )
    ctx = ctx_for(mi250x)
    for name in PER_GPU:
        result = by_subject(check(name).run(ctx))["gpu5"]
        if name == "amd.count":
            assert (result.status, result.action) == (FAIL, REBOOT)
        else:
            assert result.status is UNKNOWN, name
            assert result.observed["error_code"] == "12"
            assert "amd.count reports the lost GPU" in result.message


def test_many_uncorrectable_errors_mean_repair(mi250x: NodeHardware) -> None:
    hurt(mi250x, 1, uncorrectable=3)
    hurt(mi250x, 2, uncorrectable=5)
    hurt(mi250x, 3, deferred=2)
    results = by_subject(check("amd.ecc").run(ctx_for(mi250x)))
    assert (results["gpu1"].status, results["gpu1"].action) == (FAIL, REBOOT)
    assert (results["gpu2"].status, results["gpu2"].action) == (FAIL, REPAIR)
    assert (results["gpu3"].status, results["gpu3"].action) == (WARN, NONE)
    assert results["gpu2"].observed["uncorrectable"] == "5"


def test_correctable_errors_warn_on_their_rate_over_a_window(mi250x: NodeHardware) -> None:
    ecc = check("amd.ecc")

    def at(minutes: int, count: int) -> CheckResult:
        hurt(mi250x, 0, correctable=count)
        now = NOW + timedelta(minutes=minutes)
        ctx = ctx_for(mi250x, now=now, ecc_correctable_warn=100, ecc_correctable_window_s=3600)
        return by_subject(ecc.run(ctx))["gpu0"]

    assert at(0, 500).status is OK  # the first run sets the baseline
    assert at(30, 560).status is OK
    burst = at(50, 600)
    assert (burst.status, burst.action, burst.observed["correctable_recent"]) == (WARN, NONE, "100")
    assert at(120, 600).status is OK  # the burst slid out of the window
    assert at(125, 10).status is OK  # counters reset (driver reload): a new baseline
    assert at(130, 110).observed["correctable_recent"] == "100"  # counted from the reset


def test_bad_pages_near_and_at_the_threshold(mi250x: NodeHardware) -> None:
    def pages(n: int) -> tuple[BadPage, ...]:
        return tuple(BadPage(0x1000 * i, 4096, 0) for i in range(n))

    hurt(mi250x, 0, bad_pages=pages(7))
    hurt(mi250x, 1, bad_pages=pages(8))
    hurt(mi250x, 2, bad_pages=pages(10))
    results = by_subject(check("amd.bad_pages").run(ctx_for(mi250x, bad_page_threshold=10)))
    assert results["gpu0"].status is OK
    assert (results["gpu1"].status, results["gpu1"].action) == (WARN, REPAIR)
    assert (results["gpu2"].status, results["gpu2"].action) == (FAIL, REPAIR)
    assert results["gpu2"].observed["threshold"] == "10"


def test_the_default_bad_page_threshold_follows_vram(node: NodeHardware) -> None:
    results = by_subject(check("amd.bad_pages").run(ctx_for(node)))
    vram = PROFILES[str(node.profile)].gpu_memory_bytes
    assert results["gpu0"].observed["threshold"] == str(vram // (100 * 1024 * 1024))


def test_xgmi_error_status_fails_the_gpu(mi250x: NodeHardware) -> None:
    hurt(mi250x, 6, xgmi_error=2)
    result = by_subject(check("amd.xgmi").run(ctx_for(mi250x)))["gpu6"]
    assert (result.status, result.action) == (FAIL, REBOOT)
    assert result.observed["xgmi_error_status"] == "2"


@pytest.mark.parametrize(
    "links", [raising(AMDSMI_STATUS_NOT_SUPPORTED), None], ids=["not-supported", "old-amdsmi"]
)
def test_xgmi_without_link_status_relies_on_the_error_status(
    mi250x: NodeHardware, links: Any
) -> None:
    hw = wrapped(mi250x, amdsmi_get_gpu_xgmi_link_status=links)
    hurt(mi250x, 1, xgmi_error=1, links_down=(0,))
    results = by_subject(check("amd.xgmi").run(ctx_for(hw)))
    assert results["gpu0"].status is OK
    assert results["gpu0"].observed["links"] == "not supported"
    assert results["gpu1"].status is FAIL


def test_xgmi_with_nothing_supported_is_unknown(mi250x: NodeHardware) -> None:
    unsupported = raising(AMDSMI_STATUS_NOT_SUPPORTED)
    hw = wrapped(
        mi250x,
        amdsmi_get_gpu_xgmi_link_status=unsupported,
        amdsmi_gpu_xgmi_error_status=unsupported,
    )
    results = by_subject(check("amd.xgmi").run(ctx_for(hw)))
    assert {r.status for r in results.values()} == {UNKNOWN}


def test_temperature_near_critical_warns(mi250x: NodeHardware) -> None:
    hurt(mi250x, 4, hotspot_c=98)  # MI250X's simulated critical is 105
    result = by_subject(check("amd.temperature").run(ctx_for(mi250x)))["gpu4"]
    assert (result.status, result.action) == (WARN, NONE)
    assert result.observed == {"sensor": "hotspot", "temperature_c": "98", "critical_c": "105"}


def test_temperature_limits_from_config(mi250x: NodeHardware) -> None:
    ctx = ctx_for(mi250x, temperature_critical_c=44, temperature_warn_margin_c=0)
    results = by_subject(check("amd.temperature").run(ctx))
    assert {r.status for r in results.values()} == {FAIL}  # idle 44 °C is at the limit


def test_temperature_falls_back_to_edge_and_the_default_limit(mi250x: NodeHardware) -> None:
    inner = mi250x.amdsmi
    assert isinstance(inner, SimAmdSmi)

    def no_hotspot(handle: object, sensor: int, metric: int) -> int:
        if sensor == inner.AmdSmiTemperatureType.HOTSPOT:
            raise SimAmdSmiLibraryException(AMDSMI_STATUS_NOT_SUPPORTED)
        if metric == inner.AmdSmiTemperatureMetric.CRITICAL:
            raise SimAmdSmiLibraryException(AMDSMI_STATUS_NOT_SUPPORTED)
        return inner.amdsmi_get_temp_metric(handle, sensor, metric)

    hw = wrapped(mi250x, amdsmi_get_temp_metric=no_hotspot)
    ctx = ctx_for(hw, temperature_critical_default_c=40)
    result = by_subject(check("amd.temperature").run(ctx))["gpu0"]
    assert result.observed == {"sensor": "edge", "temperature_c": "38", "critical_c": "40"}
    assert result.status is WARN


@pytest.mark.parametrize(
    ("call", "check_name"),
    [
        ("amdsmi_get_gpu_total_ecc_count", "amd.ecc"),
        ("amdsmi_get_gpu_bad_page_info", "amd.bad_pages"),
        ("amdsmi_get_temp_metric", "amd.temperature"),
    ],
)
def test_a_failing_call_makes_the_gpu_unknown(
    mi250x: NodeHardware, call: str, check_name: str
) -> None:
    hw = wrapped(mi250x, **{call: raising(AMDSMI_STATUS_NOT_SUPPORTED)})
    results = by_subject(check(check_name).run(ctx_for(hw)))
    assert len(results) == 8
    assert {r.status for r in results.values()} == {UNKNOWN}
    assert "not supported by this GPU or driver" in results["gpu0"].message


def test_an_answer_of_another_shape_is_unknown(mi250x: NodeHardware) -> None:
    hw = wrapped(mi250x, amdsmi_get_gpu_total_ecc_count=lambda h: {"correctable_count": "N/A"})
    results = by_subject(check("amd.ecc").run(ctx_for(hw)))
    assert {r.status for r in results.values()} == {UNKNOWN}
    assert "not the documented shape" in results["gpu0"].message
