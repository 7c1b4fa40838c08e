"""The scheduler port's contract (coordinator/drivers/scheduler.py), run against every adapter.

Subclass `SchedulerContract` and provide a `harness` fixture (a `Harness` with at least three
idle nodes): tests/unit/coordinator/test_slurm_fake.py runs it on FakeScheduler,
tests/integration/test_slurm_driver.py on SlurmScheduler over a real Slurm (both node sources).
States that take time (a reboot, a resume) are polled with a deadline, never slept on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Protocol

import pytest

from coordinator.drivers import (
    DrainOutcome,
    ForeignDrainError,
    RebootInProgressError,
    Scheduler,
    SchedulerNode,
    SchedulerState,
    UnknownNodeError,
)
from coordinator.drivers.scheduler import DRAIN, REBOOT_ISSUED, REBOOT_REQUESTED
from vcbase.errors import ValidationError

S = SchedulerState
WITHIN_S = 30.0  # generous: a real reboot takes ~1-5 s; the deadline only bounds a failure


class Harness(Protocol):
    """An adapter under test plus the powers of a user and an operator over its nodes."""

    scheduler: Scheduler
    nodes: Sequence[str]

    async def start_job(self, node: str) -> int:
        """Run a long job on `node` (it fills the node); return once it runs."""
        ...

    async def end_job(self, job: int) -> None:
        """Cancel the job; return once it no longer holds its node."""
        ...

    async def admin(self, node: str, state: str, reason: str) -> None:
        """An operator's `scontrol update nodename=N state=<drain|down> reason=<reason>`."""
        ...


async def until(
    sched: Scheduler, name: str, ok: Callable[[SchedulerNode], bool], what: str
) -> SchedulerNode:
    """Poll `sched.node(name)` until `ok` holds; fail after WITHIN_S with the last state seen."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WITHIN_S
    while True:
        node = await sched.node(name)
        if ok(node):
            return node
        if loop.time() > deadline:
            raise AssertionError(f"{name} never became {what}; last seen: {node}")
        await asyncio.sleep(0.05)


def is_idle(n: SchedulerNode) -> bool:
    return n.state is S.IDLE and not n.reason and not (n.flags & {DRAIN, REBOOT_REQUESTED})


class SchedulerContract:
    """The contract, as test methods; subclasses supply the `harness` fixture."""

    @pytest.mark.asyncio
    async def test_nodes_are_listed_sorted_idle_and_free(self, harness: Harness) -> None:
        listed = await harness.scheduler.nodes()
        assert [n.name for n in listed] == sorted(harness.nodes)
        assert all(is_idle(n) and n.jobs == () and n.responding for n in listed)
        one = await harness.scheduler.node(harness.nodes[0])
        assert one.name == harness.nodes[0]

    @pytest.mark.asyncio
    async def test_unknown_node_is_not_found(self, harness: Harness) -> None:
        with pytest.raises(UnknownNodeError):
            await harness.scheduler.node("no-such-node")
        with pytest.raises(UnknownNodeError):
            await harness.scheduler.drain("no-such-node", "x")

    @pytest.mark.asyncio
    async def test_drain_idle_node_is_drained_under_our_reason(self, harness: Harness) -> None:
        sched, name = harness.scheduler, harness.nodes[0]
        assert await sched.drain(name, "gpu 0 xid 79") is DrainOutcome.DRAINED
        node = await sched.node(name)
        assert node.state is S.DRAINED and node.held
        assert node.reason == sched.prefix + "gpu 0 xid 79" and node.reason_is_ours
        assert await sched.drain(name, "gpu 0 xid 79") is DrainOutcome.UNCHANGED
        assert await sched.drain(name, sched.prefix + "nic down") is DrainOutcome.DRAINED
        assert (await sched.node(name)).reason == sched.prefix + "nic down"

    @pytest.mark.asyncio
    async def test_blank_or_multiline_reason_is_refused_and_changes_nothing(
        self, harness: Harness
    ) -> None:
        sched, name = harness.scheduler, harness.nodes[0]
        for bad in ("", "  ", "two\nlines"):
            with pytest.raises(ValidationError):
                await sched.drain(name, bad)
            with pytest.raises(ValidationError):
                await sched.reboot(name, bad)
        assert is_idle(await sched.node(name))

    @pytest.mark.asyncio
    async def test_busy_node_lists_its_job_and_drains_until_it_ends(self, harness: Harness) -> None:
        sched, name, other = harness.scheduler, harness.nodes[0], harness.nodes[1]
        job = await harness.start_job(name)
        node = await sched.node(name)
        assert node.jobs == (job,) and node.state is S.ALLOCATED
        by_name = {n.name: n for n in await sched.nodes()}
        assert by_name[name].jobs == (job,) and by_name[other].jobs == ()
        assert await sched.drain(name, "health check failed") is DrainOutcome.DRAINED
        assert (await sched.node(name)).state is S.DRAINING
        await harness.end_job(job)
        done = await until(sched, name, lambda n: n.state is S.DRAINED, "drained")
        assert done.jobs == () and done.reason_is_ours

    @pytest.mark.asyncio
    async def test_resume_returns_our_drain_to_idle(self, harness: Harness) -> None:
        sched, name = harness.scheduler, harness.nodes[0]
        assert await sched.resume(name) is False  # nothing to resume
        await sched.drain(name, "maintenance")
        assert await sched.resume(name) is True
        await until(sched, name, is_idle, "idle")
        assert await sched.resume(name) is False

    @pytest.mark.asyncio
    async def test_foreign_drain_is_never_cleared_nor_overwritten(self, harness: Harness) -> None:
        sched, name = harness.scheduler, harness.nodes[1]
        await harness.admin(name, "drain", "disk /scratch full (admin)")
        node = await sched.node(name)
        assert node.state is S.DRAINED and node.reason == "disk /scratch full (admin)"
        assert not node.reason_is_ours
        assert await sched.drain(name, "gpu fault") is DrainOutcome.FOREIGN
        with pytest.raises(ForeignDrainError, match="disk /scratch full"):
            await sched.resume(name)
        with pytest.raises(ForeignDrainError):
            await sched.reboot(name, "after gpu fault")
        after = await sched.node(name)
        assert (after.state, after.reason) == (S.DRAINED, "disk /scratch full (admin)")
        assert not after.flags & {REBOOT_REQUESTED, REBOOT_ISSUED}

    @pytest.mark.asyncio
    async def test_foreign_down_is_left_down(self, harness: Harness) -> None:
        sched, name = harness.scheduler, harness.nodes[2]
        await harness.admin(name, "down", "psu replaced, check cabling")
        node = await sched.node(name)
        assert node.state is S.DOWN and node.held and not node.reason_is_ours
        with pytest.raises(ForeignDrainError):
            await sched.resume(name)
        assert (await sched.node(name)).reason == "psu replaced, check cabling"

    @pytest.mark.asyncio
    async def test_reboot_idle_node_passes_rebooting_back_to_idle(self, harness: Harness) -> None:
        sched, name = harness.scheduler, harness.nodes[0]
        assert await sched.reboot(name, "rolling update") is True
        node = await sched.node(name)
        assert node.state is S.REBOOTING and node.reason_is_ours, node
        assert await sched.reboot(name, "rolling update") is False  # pending: not twice
        with pytest.raises(RebootInProgressError):
            await sched.resume(name)
        await until(sched, name, is_idle, "idle after the reboot")

    @pytest.mark.asyncio
    async def test_reboot_then_down_keeps_node_held_for_validation(self, harness: Harness) -> None:
        sched, name = harness.scheduler, harness.nodes[1]
        await sched.drain(name, "xid 79")
        assert await sched.reboot(name, "reboot after xid 79", next_state="down") is True
        node = await until(
            sched,
            name,
            lambda n: n.state is S.DOWN and not n.flags & {REBOOT_REQUESTED, REBOOT_ISSUED},
            "down after the reboot",
        )
        assert node.reason_is_ours and node.reason.startswith(sched.prefix + "reboot after")
        assert await sched.resume(name) is True
        await until(sched, name, is_idle, "idle")

    @pytest.mark.asyncio
    async def test_reboot_of_busy_node_waits_for_its_job(self, harness: Harness) -> None:
        sched, name = harness.scheduler, harness.nodes[0]
        job = await harness.start_job(name)
        assert await sched.reboot(name, "firmware update") is True
        node = await sched.node(name)
        assert node.state is S.DRAINING and node.reboot_pending and node.jobs == (job,)
        await harness.end_job(job)
        await until(sched, name, is_idle, "idle after the reboot")

    @pytest.mark.asyncio
    async def test_cancel_reboot_returns_busy_node_to_service(self, harness: Harness) -> None:
        sched, name = harness.scheduler, harness.nodes[0]
        assert await sched.cancel_reboot(name) is False  # nothing pending
        job = await harness.start_job(name)
        await sched.reboot(name, "firmware update")
        assert await sched.cancel_reboot(name) is True
        node = await sched.node(name)
        assert (node.state, node.reason, node.reboot_pending) == (S.ALLOCATED, "", False)
        assert await sched.cancel_reboot(name) is False
        await harness.end_job(job)
        await until(sched, name, is_idle, "idle")

    @pytest.mark.asyncio
    async def test_cancel_reboot_keeps_an_earlier_drain(self, harness: Harness) -> None:
        sched, name = harness.scheduler, harness.nodes[1]
        job = await harness.start_job(name)
        await sched.drain(name, "xid 79")
        await sched.reboot(name, "reboot after xid 79")
        assert await sched.cancel_reboot(name) is True
        node = await sched.node(name)
        assert node.state is S.DRAINING and node.reason_is_ours and not node.reboot_pending
        await harness.end_job(job)
        assert (await until(sched, name, lambda n: n.state is S.DRAINED, "drained")).held
