"""The check runner: first pass, debounced changes, event-driven re-runs, crash containment."""

from __future__ import annotations

import asyncio
import contextlib
import queue
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import pytest

from agent.checks.base import Check, CheckContext, HardwareEvent, Mode
from agent.checks.runner import CheckRunner
from agent.checks.thresholds import Thresholds
from agent.hardware import NodeHardware, open_hardware
from agent.profiles import PROFILES
from tests.waiting import eventually
from vcbase.domain import CheckAction, CheckResult, CheckStatus


class Scripted(Check):
    """Returns whatever `status` says, for subjects in `subjects`."""

    name: ClassVar[str] = "test.scripted"
    description: ClassVar[str] = "scripted"
    interval: ClassVar[float] = 0.05
    triggers: ClassVar[frozenset[str]] = frozenset({"xid"})

    def __init__(self) -> None:
        self.status = CheckStatus.OK
        self.subjects = ["gpu0", "gpu1"]
        self.seen: list[HardwareEvent] = []

    def observe(self, event: HardwareEvent) -> None:
        self.seen.append(event)
        self.status = CheckStatus.FAIL

    def run(self, ctx: CheckContext) -> list[CheckResult]:
        action = CheckAction.NONE if self.status is CheckStatus.OK else CheckAction.REBOOT
        return [self.result(ctx, s, self.status, action, "scripted") for s in self.subjects]


class Crashing(Check):
    name: ClassVar[str] = "test.crashing"
    description: ClassVar[str] = "always raises"
    modes: ClassVar[frozenset[Mode]] = frozenset({Mode.EPILOG})

    def run(self, ctx: CheckContext) -> list[CheckResult]:
        raise RuntimeError("boom")


class NotHere(Check):
    name: ClassVar[str] = "test.not_here"
    description: ClassVar[str] = "never applies"

    def applies(self, ctx: CheckContext) -> bool:
        return False

    def run(self, ctx: CheckContext) -> list[CheckResult]:
        raise AssertionError("must not run")


class QueueSource:
    name = "queue"

    def __init__(self) -> None:
        self.q: queue.Queue[HardwareEvent] = queue.Queue()
        self.closed = False

    def wait(self, timeout: float) -> list[HardwareEvent]:
        try:
            return [self.q.get(timeout=timeout)]
        except queue.Empty:
            return []

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def hw(tmp_path: Path) -> NodeHardware:
    return open_hardware("rome", "nid001", tmp_path)


def runner(hw: NodeHardware, *checks: Check, source: QueueSource | None = None) -> CheckRunner:
    return CheckRunner(hw, PROFILES["rome"], Thresholds(), list(checks), [source] if source else [])


def test_checks_that_do_not_apply_are_dropped(hw: NodeHardware) -> None:
    r = runner(hw, Scripted(), NotHere())
    assert [c.name for c in r.checks] == ["test.scripted"]


def test_unknown_interval_override_names_the_check(hw: NodeHardware) -> None:
    with pytest.raises(ValueError, match=r"check_intervals: unknown checks \['nope'\]"):
        CheckRunner(hw, None, Thresholds(), [Scripted()], intervals={"nope": 1})


@pytest.mark.asyncio
async def test_on_demand_pass_is_raw_and_a_crash_is_unknown(hw: NodeHardware) -> None:
    r = runner(hw, Scripted(), Crashing())
    prolog = await r.run_pass(Mode.PROLOG)
    assert [x.check for x in prolog] == ["test.scripted", "test.scripted"]
    epilog = await r.run_pass(Mode.EPILOG)
    crashed = [x for x in epilog if x.check == "test.crashing"]
    assert crashed[0].status is CheckStatus.UNKNOWN
    assert "boom" in crashed[0].message
    assert r.snapshot() == []  # on-demand passes do not touch the stable state


@pytest.mark.asyncio
async def test_first_pass_then_event_driven_change_then_subject_gone(hw: NodeHardware) -> None:
    check = Scripted()
    source = QueueSource()
    r = runner(hw, check, source=source)
    reports: list[tuple[list[CheckResult], bool]] = []
    r.subscribe(lambda results, full: reports.append((results, full)))
    task = asyncio.create_task(r.run())
    try:
        await eventually(lambda: len(r.snapshot()) == 2)
        assert {x.status for x in r.snapshot()} == {CheckStatus.OK}
        assert reports[0][1] is False and len(reports[0][0]) == 2

        source.q.put(HardwareEvent("xid", "gpu1", datetime.now(UTC), {"xid": "79"}))
        await eventually(lambda: {x.status for x in r.snapshot()} == {CheckStatus.FAIL})
        assert check.seen[0].data["xid"] == "79"
        changed = [x for batch, full in reports if not full for x in batch]
        assert [x.status for x in changed].count(CheckStatus.FAIL) == 2

        check.subjects = ["gpu0"]  # gpu1 vanished: a full snapshot replaces the old set
        await eventually(lambda: any(full for _, full in reports))
        full_snapshot = next(batch for batch, full in reports if full)
        assert [x.subject for x in full_snapshot] == ["gpu0"]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert source.closed


@pytest.mark.asyncio
async def test_a_failing_event_source_does_not_stop_the_runner(hw: NodeHardware) -> None:
    class Broken(QueueSource):
        name = "broken"
        calls = 0

        def wait(self, timeout: float) -> list[HardwareEvent]:
            Broken.calls += 1
            raise OSError("netlink gone")

    check = Scripted()
    r = CheckRunner(hw, None, Thresholds(), [check], [Broken()], event_wait_s=0.1)
    task = asyncio.create_task(r.run())
    try:
        await eventually(lambda: Broken.calls >= 1 and len(r.snapshot()) == 2)
        await asyncio.sleep(0.2)
        assert not task.done()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.mark.asyncio
async def test_a_hung_check_is_unknown_and_not_started_twice(hw: NodeHardware) -> None:
    import threading

    release = threading.Event()
    starts: list[int] = []

    class Hung(Check):
        name: ClassVar[str] = "test.hung"
        description: ClassVar[str] = "blocks like a dead NFS mount"
        timeout: ClassVar[float] = 0.1

        def run(self, ctx: CheckContext) -> list[CheckResult]:
            starts.append(1)
            release.wait(10)
            return [self.ok(ctx, "host", "fine after all")]

    r = runner(hw, Hung())
    first = await r.run_pass(Mode.FULL)
    assert first[0].status is CheckStatus.UNKNOWN and "hung" in first[0].message
    second = await r.run_pass(Mode.FULL)
    assert "still hung" in second[0].message
    assert len(starts) == 1
    release.set()
    await eventually(lambda: r._inflight["test.hung"].done())
    third = await r.run_pass(Mode.FULL)
    assert third[0].status is CheckStatus.OK and len(starts) == 2
