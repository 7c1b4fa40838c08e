"""FakeScheduler: the scheduler contract, plus its own test controls and a manual clock."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from coordinator.drivers import (
    FakeScheduler,
    SchedulerState,
    SchedulerUnavailableError,
    UnknownNodeError,
)
from tests.scheduler_contract import SchedulerContract

NODES = ("n1", "n2", "n3", "n4")


@dataclass
class FakeHarness:
    scheduler: FakeScheduler
    nodes: Sequence[str] = field(default=NODES)

    async def start_job(self, node: str) -> int:
        return self.scheduler.start_job(node)

    async def end_job(self, job: int) -> None:
        self.scheduler.end_job(job)

    async def admin(self, node: str, state: str, reason: str) -> None:
        assert state in ("drain", "down")
        self.scheduler.admin_set(node, "drain" if state == "drain" else "down", reason)


class TestFakeSchedulerContract(SchedulerContract):
    @pytest.fixture
    def harness(self) -> FakeHarness:
        return FakeHarness(FakeScheduler(NODES, reboot_s=0.05))


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.asyncio
async def test_reboot_completes_by_the_injected_clock_and_is_issued_once() -> None:
    clock = Clock()
    fake = FakeScheduler(["n1"], reboot_s=5, clock=clock)
    await fake.reboot("n1", "update")
    node = await fake.node("n1")
    assert node.state is SchedulerState.REBOOTING
    assert node.reason == "vcluster: update : reboot issued"
    clock.now = 4.9
    assert (await fake.node("n1")).state is SchedulerState.REBOOTING
    assert await fake.reboot("n1", "update") is False
    clock.now = 5.0
    assert (await fake.node("n1")).state is SchedulerState.IDLE
    assert [c[0] for c in fake.commands] == ["reboot"]


@pytest.mark.asyncio
async def test_fail_next_raises_once_then_works() -> None:
    fake = FakeScheduler(["n1"])
    fake.fail_next(SchedulerUnavailableError("down", cmd=["sinfo"], returncode=1))
    with pytest.raises(SchedulerUnavailableError):
        await fake.nodes()
    assert [n.name for n in await fake.nodes()] == ["n1"]


@pytest.mark.asyncio
async def test_controls_model_slurm() -> None:
    fake = FakeScheduler(["n1", "n2"], prefix="site: ")
    await fake.drain("n1", "x")
    with pytest.raises(ValueError, match="takes no job"):
        fake.start_job("n1")
    with pytest.raises(ValueError, match="requires a reason"):
        fake.admin_set("n2", "drain")
    with pytest.raises(UnknownNodeError):
        fake.start_job("n9")
    fake.set_responding("n2", False)
    n2 = await fake.node("n2")
    assert not n2.responding and n2.state is SchedulerState.IDLE
    assert (await fake.node("n1")).reason == "site: x"
    fake.admin_set("n1", "resume")
    assert (await fake.node("n1")).state is SchedulerState.IDLE
