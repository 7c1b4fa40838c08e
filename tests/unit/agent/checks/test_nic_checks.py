"""nic.cxi / nic.ib / nic.eth over simulated nodes (edited in place) and over this machine."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.checks import nic
from agent.checks.base import Check, CheckContext
from agent.checks.nic import EthernetCheck, SlingshotCheck
from agent.checks.nic_ib import InfinibandCheck
from agent.checks.nic_thresholds import NicThresholds
from agent.checks.thresholds import Thresholds
from agent.hardware import NodeHardware, open_hardware
from agent.profiles import PROFILES
from vcbase.domain import CheckAction, CheckResult, CheckStatus

NODE = "nid000042"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _ctx(hw: NodeHardware, at: datetime = T0, **nic: int | float) -> CheckContext:
    profile = PROFILES[hw.profile] if hw.profile else None
    return CheckContext(hw, profile, Thresholds(nic=NicThresholds.model_validate(nic)), at)


def _by_subject(results: list[CheckResult]) -> dict[str, CheckResult]:
    subjects = [r.subject for r in results]
    assert len(subjects) == len(set(subjects)), "one result per subject"
    return {r.subject: r for r in results}


def _one(check: Check, ctx: CheckContext, subject: str) -> CheckResult:
    return _by_subject(check.run(ctx))[subject]


def _set(path: Path, value: str) -> None:
    path.write_text(value + "\n")


def _net(hw: NodeHardware, name: str) -> Path:
    return hw.root / "sys/class/net" / name


@pytest.fixture
def gh200(tmp_path: Path) -> NodeHardware:
    return open_hardware("gh200", NODE, tmp_path)


@pytest.fixture
def a100(tmp_path: Path) -> NodeHardware:
    return open_hardware("a100", NODE, tmp_path)


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_a_healthy_node_has_only_ok_nic_results(tmp_path: Path, name: str) -> None:
    hw = open_hardware(name, NODE, tmp_path)
    ctx = _ctx(hw)
    profile = PROFILES[name]
    subjects: set[str] = set()
    for check in nic.checks():
        for _ in range(2):  # the second run compares counters with the first
            results = check.run(ctx) if check.applies(ctx) else []
            assert all(r.status is CheckStatus.OK for r in results), results
            assert all(r.action is CheckAction.NONE and r.check == check.name for r in results)
        subjects |= {r.subject for r in results}
    expected = {n.name for n in profile.nics if n.kind != "infiniband"}
    expected |= {f"{n.name}/1" for n in profile.nics if n.kind == "infiniband"}
    assert subjects == expected


def test_nic_checks_rerun_on_link_and_removal_events() -> None:
    for check in nic.checks():
        assert check.triggers == {"link_changed", "device_removed"}


def test_a_missing_slingshot_nic_fails_with_reboot(gh200: NodeHardware) -> None:
    shutil.rmtree(_net(gh200, "hsn2"))
    results = _by_subject(SlingshotCheck().run(_ctx(gh200)))
    assert set(results) == {"hsn0", "hsn1", "hsn2", "hsn3"}
    missing = results["hsn2"]
    assert (missing.status, missing.action) == (CheckStatus.FAIL, CheckAction.REBOOT)
    assert "missing" in missing.message and "cxi_ss1" in missing.message
    assert missing.observed["present"] == "0"
    assert results["hsn1"].status is CheckStatus.OK


@pytest.mark.parametrize(
    ("attr", "value"),
    [("operstate", "down"), ("carrier", "0"), ("operstate", "lowerlayerdown")],
)
def test_a_down_netdev_fails_with_reboot(gh200: NodeHardware, attr: str, value: str) -> None:
    _set(_net(gh200, "hsn1") / attr, value)
    result = _one(SlingshotCheck(), _ctx(gh200), "hsn1")
    assert (result.status, result.action) == (CheckStatus.FAIL, CheckAction.REBOOT)
    assert "link down" in result.message
    assert result.observed[attr] == value


def test_the_cxi_link_drivers_own_state_counts(gh200: NodeHardware) -> None:
    link = (_net(gh200, "hsn0") / "device").resolve() / "port/0/link"
    _set(link / "state", "starting")
    result = _one(SlingshotCheck(), _ctx(gh200), "hsn0")
    assert (result.status, result.action) == (CheckStatus.FAIL, CheckAction.REBOOT)
    assert result.observed["cxi_link_state"] == "starting"
    assert result.observed["cxi_device"] == "cxi0"


def test_cxi_speed_comes_from_the_link_driver_when_the_netdev_has_none(
    gh200: NodeHardware,
) -> None:
    _set(_net(gh200, "hsn0") / "speed", "-1")
    link = (_net(gh200, "hsn0") / "device").resolve() / "port/0/link"
    assert _one(SlingshotCheck(), _ctx(gh200), "hsn0").status is CheckStatus.OK
    _set(link / "speed", "bj100G")
    result = _one(SlingshotCheck(), _ctx(gh200), "hsn0")
    assert (result.status, result.action) == (CheckStatus.FAIL, CheckAction.REBOOT)
    assert "100 Gb/s" in result.message and result.observed["speed_mbps"] == "100000"


def test_slow_slingshot_fails_slow_ethernet_only_warns(gh200: NodeHardware) -> None:
    _set(_net(gh200, "hsn3") / "speed", "100000")
    _set(_net(gh200, "eth0") / "speed", "100")
    cxi = _one(SlingshotCheck(), _ctx(gh200), "hsn3")
    eth = _one(EthernetCheck(), _ctx(gh200), "eth0")
    assert (cxi.status, cxi.action) == (CheckStatus.FAIL, CheckAction.REBOOT)
    assert (eth.status, eth.action) == (CheckStatus.WARN, CheckAction.NONE)
    assert _one(SlingshotCheck(), _ctx(gh200, speed_min_fraction=0.5), "hsn3").status == "ok"


def _restarts(hw: NodeHardware, name: str, count: int) -> None:
    _set(_net(hw, name) / "carrier_down_count", str(count))


def test_flapping_is_counted_in_a_trailing_window(gh200: NodeHardware) -> None:
    check = SlingshotCheck()
    assert _one(check, _ctx(gh200, T0), "hsn0").status is CheckStatus.OK  # baseline: 1
    _restarts(gh200, "hsn0", 3)
    assert _one(check, _ctx(gh200, T0 + timedelta(minutes=10)), "hsn0").status == "ok"
    _restarts(gh200, "hsn0", 4)  # 3 restarts since the baseline: warn
    warned = _one(check, _ctx(gh200, T0 + timedelta(minutes=20)), "hsn0")
    assert (warned.status, warned.action) == (CheckStatus.WARN, CheckAction.NONE)
    assert warned.observed["restarts_in_window"] == "3"
    _restarts(gh200, "hsn0", 11)  # 10: fail, the cable needs a technician
    failed = _one(check, _ctx(gh200, T0 + timedelta(minutes=30)), "hsn0")
    assert (failed.status, failed.action) == (CheckStatus.FAIL, CheckAction.REPAIR)
    assert "flapping" in failed.message
    # An hour and a half later, with no new restart, the window has moved past them.
    later = _one(check, _ctx(gh200, T0 + timedelta(minutes=95)), "hsn0")
    assert later.status is CheckStatus.OK and later.observed["restarts_in_window"] == "0"


def test_a_counter_reset_starts_a_new_baseline(gh200: NodeHardware) -> None:
    check = EthernetCheck()
    _restarts(gh200, "eth0", 50)
    check.run(_ctx(gh200, T0))
    _restarts(gh200, "eth0", 0)  # driver reloaded
    result = _one(check, _ctx(gh200, T0 + timedelta(minutes=1)), "eth0")
    assert result.status is CheckStatus.OK
    assert result.observed["restarts_in_window"] == "n/a"


def test_carrier_changes_is_the_fallback_restart_counter(gh200: NodeHardware) -> None:
    (_net(gh200, "eth0") / "carrier_down_count").unlink()
    check = EthernetCheck()
    check.run(_ctx(gh200, T0))
    _set(_net(gh200, "eth0") / "carrier_changes", str(2 + 2 * 10))
    result = _one(check, _ctx(gh200, T0 + timedelta(minutes=5)), "eth0")
    assert (result.status, result.action) == (CheckStatus.FAIL, CheckAction.REPAIR)


def _aer(hw: NodeHardware, name: str, kind: str, total: int) -> None:
    key = {"correctable": "COR", "nonfatal": "NONFATAL", "fatal": "FATAL"}[kind]
    path = (_net(hw, name) / "device").resolve() / f"aer_dev_{kind}"
    _set(path, f"DLP {total}\nTOTAL_ERR_{key} {total}")


@pytest.mark.parametrize("kind", ["nonfatal", "fatal"])
def test_uncorrectable_pcie_errors_fail_with_reboot(gh200: NodeHardware, kind: str) -> None:
    _aer(gh200, "hsn2", kind, 1)
    result = _one(SlingshotCheck(), _ctx(gh200), "hsn2")
    assert (result.status, result.action) == (CheckStatus.FAIL, CheckAction.REBOOT)
    assert result.observed[f"aer_{kind}"] == "1"
    assert _one(SlingshotCheck(), _ctx(gh200, aer_uncorrectable_max=1), "hsn2").status == "ok"


def test_growing_correctable_pcie_errors_warn(gh200: NodeHardware) -> None:
    check = SlingshotCheck()
    _aer(gh200, "hsn0", "correctable", 5000)  # old errors: the baseline, not a finding
    assert _one(check, _ctx(gh200, T0), "hsn0").status is CheckStatus.OK
    _aer(gh200, "hsn0", "correctable", 5099)
    assert _one(check, _ctx(gh200, T0 + timedelta(minutes=1)), "hsn0").status == "ok"
    _aer(gh200, "hsn0", "correctable", 5100)
    result = _one(check, _ctx(gh200, T0 + timedelta(minutes=2)), "hsn0")
    assert (result.status, result.action) == (CheckStatus.WARN, CheckAction.NONE)


def test_several_findings_make_one_result_with_the_strongest_action(gh200: NodeHardware) -> None:
    check = SlingshotCheck()
    check.run(_ctx(gh200, T0))
    _restarts(gh200, "hsn0", 40)
    _set(_net(gh200, "hsn0") / "speed", "100000")
    _aer(gh200, "hsn0", "fatal", 2)
    result = _one(check, _ctx(gh200, T0 + timedelta(minutes=1)), "hsn0")
    assert (result.status, result.action) == (CheckStatus.FAIL, CheckAction.REPAIR)
    for words in ("flapping", "trained at 100 Gb/s", "uncorrectable"):
        assert words in result.message


def test_an_unreadable_operstate_is_unknown_for_that_nic_only(gh200: NodeHardware) -> None:
    operstate = _net(gh200, "hsn1") / "operstate"
    operstate.unlink()
    operstate.mkdir()
    results = _by_subject(SlingshotCheck().run(_ctx(gh200)))
    assert results["hsn1"].status is CheckStatus.UNKNOWN
    assert results["hsn0"].status is CheckStatus.OK


def _port(hw: NodeHardware) -> Path:
    return hw.root / "sys/class/infiniband/mlx5_0/ports/1"


@pytest.mark.parametrize(
    ("state", "phys"), [("1: DOWN", "2: Polling"), ("2: INIT", "5: LinkUp"), ("4: ACTIVE", "")]
)
def test_an_inactive_ib_port_fails_with_reboot(a100: NodeHardware, state: str, phys: str) -> None:
    _set(_port(a100) / "state", state)
    _set(_port(a100) / "phys_state", phys or "3: Disabled")
    result = _one(InfinibandCheck(), _ctx(a100), "mlx5_0/1")
    assert (result.status, result.action) == (CheckStatus.FAIL, CheckAction.REBOOT)
    assert "not active" in result.message


def test_a_degraded_ib_rate_fails(a100: NodeHardware) -> None:
    _set(_port(a100) / "rate", "100 Gb/sec (2X HDR)")
    result = _one(InfinibandCheck(), _ctx(a100), "mlx5_0/1")
    assert (result.status, result.action) == (CheckStatus.FAIL, CheckAction.REBOOT)
    assert result.observed["rate_mbps"] == "100000"


def test_ib_error_counters_are_windowed(a100: NodeHardware) -> None:
    check = InfinibandCheck()
    counters = _port(a100) / "counters"
    check.run(_ctx(a100, T0))
    _set(counters / "symbol_error", "150")
    warned = _one(check, _ctx(a100, T0 + timedelta(minutes=1)), "mlx5_0/1")
    assert (warned.status, warned.action) == (CheckStatus.WARN, CheckAction.NONE)
    _set(counters / "link_downed", "5")
    failed = _one(check, _ctx(a100, T0 + timedelta(minutes=2)), "mlx5_0/1")
    assert (failed.status, failed.action) == (CheckStatus.FAIL, CheckAction.REPAIR)
    assert failed.observed["link_downed_in_window"] == "5"


def test_a_missing_hca_fails_on_the_hca(a100: NodeHardware) -> None:
    shutil.rmtree(a100.root / "sys/class/infiniband/mlx5_0")
    (result,) = InfinibandCheck().run(_ctx(a100))
    assert (result.subject, result.status, result.action) == (
        "mlx5_0",
        CheckStatus.FAIL,
        CheckAction.REBOOT,
    )


def test_ib_only_applies_where_the_profile_has_an_hca(tmp_path: Path) -> None:
    assert InfinibandCheck().applies(_ctx(open_hardware("a100", NODE, tmp_path / "a")))
    assert not InfinibandCheck().applies(_ctx(open_hardware("rome", NODE, tmp_path / "r")))


def test_without_a_profile_the_nics_found_are_checked(a100: NodeHardware) -> None:
    ctx = CheckContext(a100, None, Thresholds(), T0)
    assert {r.subject for r in SlingshotCheck().run(ctx)} == {"hsn0"}
    assert {r.subject for r in InfinibandCheck().run(ctx)} == {"mlx5_0/1"}
    assert all(r.status is CheckStatus.OK for c in nic.checks() for r in c.run(ctx))


def test_this_machine(tmp_path: Path) -> None:
    hw = open_hardware(None, "ignored", tmp_path)
    ctx = CheckContext(hw, None, Thresholds(), datetime.now(UTC))
    for check in nic.checks():
        check.applies(ctx)
        for _ in range(2):
            for result in check.run(ctx):
                assert result.check == check.name
                assert result.status in set(CheckStatus)
                assert all(isinstance(v, str) for v in result.observed.values())
