"""XIDs: the table as a pure function (windows, expiry, repeats), the nvidia.xid check's memory,
and NvmlXidEvents over SimNvml (the same class that runs over pynvml)."""

from __future__ import annotations

import ctypes
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.checks.base import HardwareEvent
from agent.checks.findings import worst
from agent.checks.nvidia_events import UNKNOWN_GPU, NvmlXidEvents, _handle_key
from agent.checks.nvidia_thresholds import NvidiaThresholds
from agent.checks.nvidia_xid import XID_RULES, XidCheck, XidRecord, evaluate_xids, rule_for
from agent.sim.events import append_event, event_log
from agent.sim.nvml import NVML_ERROR_GPU_IS_LOST, SimNvml, SimNvmlError, SimNvmlHandle
from agent.sim.nvml_events import SimEventData
from agent.sim.tree import reboot
from tests.unit.agent.checks.test_nvidia_sim import SimNode, by_subject, sim_node
from vcbase.domain import CheckAction, CheckStatus

OK, WARN, FAIL = CheckStatus.OK, CheckStatus.WARN, CheckStatus.FAIL
NONE, REBOOT, REPAIR = CheckAction.NONE, CheckAction.REBOOT, CheckAction.REPAIR
T = NvidiaThresholds()
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
_STATUS = [OK, CheckStatus.UNKNOWN, WARN, FAIL]
_ACTION = [NONE, REBOOT, REPAIR]


def verdict(*records: tuple[float, int], now: datetime = NOW) -> tuple[CheckStatus, CheckAction]:
    """(seconds ago, xid) records -> (status, action)."""
    findings, _ = evaluate_xids(
        [XidRecord(now - timedelta(seconds=s), x) for s, x in records], now, T
    )
    return worst(findings)


@pytest.mark.parametrize(
    ("xid", "expected"),
    [
        (79, (FAIL, REBOOT)),
        (48, (FAIL, REBOOT)),
        (64, (FAIL, REPAIR)),
        (74, (FAIL, REPAIR)),
        (95, (FAIL, REBOOT)),
        (94, (WARN, REBOOT)),
        (63, (WARN, REBOOT)),
        (92, (WARN, NONE)),
        (119, (FAIL, REBOOT)),
        (120, (FAIL, REBOOT)),
        (13, (OK, NONE)),
        (31, (OK, NONE)),
        (43, (OK, NONE)),
        (45, (OK, NONE)),
        (154, (OK, NONE)),
        (9999, (WARN, NONE)),
    ],
)
def test_one_xid(xid: int, expected: tuple[CheckStatus, CheckAction]) -> None:
    assert verdict((10, xid)) == expected


def test_a_repeated_dbe_asks_for_a_repair() -> None:
    assert verdict((100, 48), (10, 48)) == (FAIL, REPAIR)
    assert verdict((T.xid_window_s + 1, 48), (10, 48)) == (FAIL, REBOOT)  # the first expired


def test_the_worst_xid_wins_and_every_one_is_named() -> None:
    records = [XidRecord(NOW, 79), XidRecord(NOW, 74), XidRecord(NOW, 92)]
    findings, counts = evaluate_xids(records, NOW, T)
    assert worst(findings) == (FAIL, REPAIR)
    assert counts == {79: 1, 74: 1, 92: 1}
    assert [f.text.split()[1] for f in findings] == ["74", "79", "92"]


xid_codes = st.sampled_from([*XID_RULES, 7, 9999])
records = st.lists(
    st.tuples(st.integers(0, 3 * T.xid_window_s), xid_codes).map(
        lambda r: XidRecord(NOW - timedelta(seconds=r[0]), r[1])
    ),
    max_size=30,
)


def _rank(v: tuple[CheckStatus, CheckAction]) -> tuple[int, int]:
    return _STATUS.index(v[0]), _ACTION.index(v[1])


@given(records)
def test_expired_xids_never_matter(history: list[XidRecord]) -> None:
    def live(r: XidRecord) -> bool:
        window = T.xid_app_window_s if rule_for(r.xid).kind == "app" else T.xid_window_s
        return NOW - r.at < timedelta(seconds=window)

    assert evaluate_xids(history, NOW, T) == evaluate_xids([r for r in history if live(r)], NOW, T)


@given(records, st.integers(0, 3 * T.xid_window_s), xid_codes)
def test_one_more_xid_never_makes_things_better(
    history: list[XidRecord], ago: int, xid: int
) -> None:
    before = worst(evaluate_xids(history, NOW, T)[0])
    extra = XidRecord(NOW - timedelta(seconds=ago), xid)
    after = worst(evaluate_xids([*history, extra], NOW, T)[0])
    assert _rank(after)[0] >= _rank(before)[0]
    assert _rank(after)[1] >= _rank(before)[1]


@given(st.lists(st.tuples(st.integers(0, 2 * T.xid_app_window_s), st.sampled_from([13, 31, 43]))))
def test_application_xids_count_only_in_a_burst(history: list[tuple[int, int]]) -> None:
    recent = sum(1 for ago, _ in history if ago < T.xid_app_window_s)
    expected = (WARN, REBOOT) if recent >= T.xid_app_repeat else (OK, NONE)
    assert verdict(*history) == expected


@given(st.integers(0, 6), st.integers(0, 6))
def test_dbe_count_inside_the_window(inside: int, outside: int) -> None:
    history = [(10 * i, 48) for i in range(inside)]
    history += [(T.xid_window_s + 10 * i, 48) for i in range(outside)]
    expected = {0: (OK, NONE), 1: (FAIL, REBOOT)}.get(inside, (FAIL, REPAIR))
    assert verdict(*history) == expected


# -- the check ----------------------------------------------------------------------------------


def _xid(subject: str, xid: int | str, at: datetime = NOW) -> HardwareEvent:
    return HardwareEvent("xid", subject, at, {"xid": str(xid)})


def test_the_check_remembers_xids_per_gpu_until_they_expire(tmp_path: Path) -> None:
    node = sim_node(tmp_path, "a100")
    xid = XidCheck()
    xid.observe(_xid("gpu2", 79))
    xid.observe(_xid("gpu2", "not a number"))  # malformed: ignored, logged
    xid.observe(HardwareEvent("device_removed", "gpu1", NOW))  # not an XID: ignored
    results = by_subject(xid.run(node.ctx(now=NOW)))
    assert set(results) == {"gpu0", "gpu1", "gpu2", "gpu3"}
    assert (results["gpu2"].status, results["gpu2"].action) == (FAIL, REBOOT)
    assert results["gpu2"].observed["xids"] == "79x1"
    assert "XID 79" in results["gpu2"].message and "fallen off the bus" in results["gpu2"].message
    assert all(results[g].status is OK for g in ("gpu0", "gpu1", "gpu3"))
    later = NOW + timedelta(seconds=T.xid_window_s)
    assert by_subject(xid.run(node.ctx(now=later)))["gpu2"].status is OK


def test_a_reboot_forgets_the_xids_seen_before_it(tmp_path: Path) -> None:
    node = sim_node(tmp_path, "gh200")
    xid = XidCheck()
    xid.observe(_xid("gpu0", 79))
    assert by_subject(xid.run(node.ctx(now=NOW)))["gpu0"].status is FAIL
    reboot(node.hw.root)
    xid.observe(_xid("gpu1", 48, NOW + timedelta(seconds=5)))  # after the reboot: kept
    results = by_subject(xid.run(node.ctx(now=NOW + timedelta(seconds=10))))
    assert results["gpu0"].status is OK
    assert (results["gpu1"].status, results["gpu1"].action) == (FAIL, REBOOT)


# -- the event source over SimNvml ------------------------------------------------------------


def _source(node: SimNode) -> NvmlXidEvents:
    return NvmlXidEvents(node.api, clock=lambda: NOW)


def test_source_turns_logged_xids_into_events(tmp_path: Path) -> None:
    node = sim_node(tmp_path, "gh200")
    log = event_log(node.sim_dir, "nvml")
    append_event(log, "xid", "gpu0", xid=13)  # before the source subscribed: not seen
    source = _source(node)
    assert source.subjects == ["gpu0", "gpu1", "gpu2", "gpu3"]
    assert source.wait(0.0) == []
    append_event(log, "xid", "gpu3", xid=79)
    append_event(log, "xid", "gpu1", xid=48)
    append_event(log, "link_changed", "gpu1", state="down")  # not an XID
    events = source.wait(5.0)
    assert events == [_xid("gpu3", 79), _xid("gpu1", 48)]
    assert source.wait(0.0) == []
    source.close()
    source.close()  # idempotent
    with pytest.raises(SimNvmlError):
        node.api.nvmlEventSetWait_v2(source._set, 0)


def test_a_gpu_lost_at_start_is_not_registered(tmp_path: Path) -> None:
    node = sim_node(tmp_path, "a100")
    from agent.sim.faults_nvidia import FAULTS

    (gpu_missing,) = [f for f in FAULTS if f.name == "gpu-missing"]
    gpu_missing.inject(node.target("gpu1"))
    source = _source(node)
    assert source.subjects == ["gpu0", "gpu2", "gpu3"]
    append_event(event_log(node.sim_dir, "nvml"), "xid", "gpu1", xid=79)
    assert source.wait(0.1) == []


def test_a_batch_is_capped_and_the_rest_comes_next(tmp_path: Path) -> None:
    node = sim_node(tmp_path, "gh200")
    source = _source(node)
    for _ in range(70):
        append_event(event_log(node.sim_dir, "nvml"), "xid", "gpu2", xid=31)
    assert len(source.wait(5.0)) == 64
    assert len(source.wait(5.0)) == 6


class LostOnWait(SimNvml):
    """NVML whose event wait reports a lost GPU, as it does when one falls off the bus."""

    def nvmlEventSetWait_v2(self, eventSet: object, timeoutms: int) -> SimEventData:
        raise SimNvmlError(NVML_ERROR_GPU_IS_LOST)


def test_a_failing_wait_gives_one_removal_event_per_streak(tmp_path: Path) -> None:
    node = sim_node(tmp_path, "a100")
    api = LostOnWait(node.sim_dir / "gpus.json")
    api.nvmlInit()
    source = NvmlXidEvents(api, clock=lambda: NOW)
    (event,) = source.wait(0.0)
    assert (event.kind, event.subject) == ("device_removed", "nvml")
    assert source.wait(0.0) == []


class StrangerEvents(SimNvml):
    """An event for a handle the source never registered (and NVML cannot index)."""

    def nvmlEventSetWait_v2(self, eventSet: object, timeoutms: int) -> SimEventData:
        return SimEventData(SimNvmlHandle(7, "GPU-gone"), self.nvmlEventTypeXidCriticalError, 79)


def test_an_event_of_an_unknown_device_is_still_reported(tmp_path: Path) -> None:
    node = sim_node(tmp_path, "a100")
    api = StrangerEvents(node.sim_dir / "gpus.json")
    api.nvmlInit()
    events = NvmlXidEvents(api, clock=lambda: NOW).wait(0.0)
    assert len(events) == 64  # every wait answers at once: a full batch
    assert events[0] == _xid(UNKNOWN_GPU, 79)


def test_ctypes_handles_are_matched_by_address() -> None:
    struct = ctypes.c_int(5)
    a, b = ctypes.pointer(struct), ctypes.pointer(struct)
    assert a != b  # ctypes pointers do not compare by address ...
    assert _handle_key(a) == _handle_key(b)  # ... so the source compares their addresses
    assert _handle_key(ctypes.pointer(ctypes.c_int(5))) != _handle_key(a)
    assert _handle_key(SimNvmlHandle(1, "u")) == _handle_key(SimNvmlHandle(1, "u"))
