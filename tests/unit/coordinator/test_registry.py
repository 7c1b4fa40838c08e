"""The registry: admission, sessions, batched heartbeats and the liveness sweep."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any

import pytest

from coordinator.liveness import LivenessConfig
from coordinator.registry import Registry
from coordinator.store import MemoryStore
from tests.factories import T0, hello
from vcbase.domain import CheckAction, CheckResult, CheckStatus, NodeState
from vcbase.errors import ConflictError, NotFoundError, ValidationError

CFG = LivenessConfig(
    heartbeat_interval=timedelta(seconds=1), missed_heartbeats=3, startup_grace=timedelta(0)
)


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


async def make(store: MemoryStore | None = None, clock: Clock | None = None) -> Registry:
    registry = Registry(store or MemoryStore(), CFG, clock or Clock())
    await registry.load()
    return registry


@pytest.mark.asyncio
async def test_register_stores_the_node_and_an_event() -> None:
    store = MemoryStore()
    registry = await make(store)
    node, session = await registry.register(hello("nid001"), "ipv4:127.0.0.1:4000")
    assert node.state is NodeState.REGISTERED
    assert node.connected and node.peer == "ipv4:127.0.0.1:4000"
    stored = await store.get_node("nid001")
    assert stored is not None and stored.inventory == hello().inventory
    assert [e.kind for e in await store.list_events()] == ["node_registered"]
    assert session.node == "nid001"


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"node_name": ""}, "hello.node_name"),
        ({"node_name": "Bad_Name"}, "hello.node_name"),
        ({"node_name": "x" * 64}, "hello.node_name"),
        ({"machine_id": ""}, "hello.machine_id"),
        ({"boot_id": ""}, "hello.boot_id"),
    ],
)
async def test_a_malformed_hello_is_rejected_and_nothing_is_stored(
    changes: dict[str, Any], field: str
) -> None:
    store = MemoryStore()
    registry = await make(store)
    with pytest.raises(ValidationError) as info:
        await registry.register(dataclasses.replace(hello(), **changes), "peer")
    assert info.value.field == field
    assert await store.list_nodes() == []
    assert await store.list_events() == []


@pytest.mark.asyncio
async def test_a_name_held_by_another_connected_machine_is_refused() -> None:
    store = MemoryStore()
    registry = await make(store)
    await registry.register(hello("nid001", machine="m-1"), "peer-a")
    with pytest.raises(ConflictError, match="another machine"):
        await registry.register(hello("nid001", machine="m-2"), "peer-b")
    stored = await store.get_node("nid001")
    assert stored is not None and stored.machine_id == "m-1"
    assert registry.get_node("nid001").peer == "peer-a"


@pytest.mark.asyncio
async def test_the_same_machine_reconnecting_supersedes_its_old_session() -> None:
    registry = await make()
    _, old = await registry.register(hello("nid001"), "peer-a")
    _, new = await registry.register(hello("nid001"), "peer-b")
    assert old.closed.is_set() and not new.closed.is_set()
    await registry.disconnect(old, "old stream ended late")  # must not drop the new one
    assert registry.get_node("nid001").connected
    assert registry.get_node("nid001").peer == "peer-b"


@pytest.mark.asyncio
async def test_a_disconnected_name_may_move_to_a_new_machine() -> None:
    store = MemoryStore()
    registry = await make(store)
    _, session = await registry.register(hello("nid001", machine="m-1"), "peer-a")
    await registry.disconnect(session, "gone")
    node, _ = await registry.register(hello("nid001", machine="m-2"), "peer-b")
    assert node.machine_id == "m-2"
    assert "machine_changed" in [e.kind for e in await store.list_events()]


@pytest.mark.asyncio
async def test_silent_node_is_lost_after_the_timeout_and_returns_on_hello() -> None:
    clock = Clock()
    store = MemoryStore()
    registry = await make(store, clock)
    _, session = await registry.register(hello("nid001"), "p")
    clock.advance(2.9)
    assert await registry.sweep() == []
    registry.heartbeat(session)
    clock.advance(2.9)
    assert await registry.sweep() == []
    clock.advance(0.1)
    assert await registry.sweep() == ["nid001"]
    assert registry.get_node("nid001").state is NodeState.LOST
    assert await registry.sweep() == []  # declared once
    await registry.disconnect(session, "gone")
    node, _ = await registry.register(hello("nid001", boot="boot-2"), "p")
    assert node.state is NodeState.REGISTERED
    kinds = [e.kind for e in await store.list_events("nid001")]
    assert kinds == ["node_registered", "node_lost", "node_rebooted", "node_returned"]


@pytest.mark.asyncio
async def test_heartbeats_are_flushed_in_a_batch_and_survive_a_reload() -> None:
    clock = Clock()
    store = MemoryStore()
    registry = await make(store, clock)
    _, s1 = await registry.register(hello("nid001"), "p")
    _, s2 = await registry.register(hello("nid002"), "p")
    clock.advance(0.5)
    registry.heartbeat(s1)
    registry.heartbeat(s2)
    assert await registry.flush_heartbeats() == 2
    assert await registry.flush_heartbeats() == 0
    stored = await store.get_node("nid001")
    assert stored is not None and stored.last_heartbeat == T0 + timedelta(seconds=0.5)
    reloaded = await make(store, clock)
    assert reloaded.get_node("nid002").last_heartbeat == T0 + timedelta(seconds=0.5)
    assert not reloaded.get_node("nid002").connected


@pytest.mark.asyncio
async def test_after_a_restart_nobody_is_lost_before_the_grace_period() -> None:
    clock = Clock()
    store = MemoryStore()
    first = await make(store, clock)
    await first.register(hello("nid001"), "p")
    clock.advance(3600)  # the coordinator was down for an hour
    cfg = dataclasses.replace(CFG, startup_grace=timedelta(seconds=10))
    second = Registry(store, cfg, clock)
    await second.load()
    clock.advance(9.9)
    assert await second.sweep() == []
    clock.advance(0.1)
    assert await second.sweep() == ["nid001"]


@pytest.mark.asyncio
async def test_heartbeat_from_a_replaced_session_is_ignored() -> None:
    clock = Clock()
    registry = await make(clock=clock)
    _, old = await registry.register(hello("nid001"), "a")
    await registry.register(hello("nid001"), "b")
    clock.advance(2)
    registry.heartbeat(old)
    assert registry.get_node("nid001").last_heartbeat == T0


@pytest.mark.asyncio
async def test_get_unknown_node_is_not_found_and_list_filters_by_state() -> None:
    clock = Clock()
    registry = await make(clock=clock)
    await registry.register(hello("nid001"), "p")
    _, s2 = await registry.register(hello("nid002"), "p")
    clock.advance(2)
    registry.heartbeat(s2)
    clock.advance(1.5)
    await registry.sweep()
    with pytest.raises(NotFoundError):
        registry.get_node("nid999")
    assert [n.name for n in registry.list_nodes(frozenset({NodeState.LOST}))] == ["nid001"]
    assert [n.name for n in registry.list_nodes()] == ["nid001", "nid002"]


def res(check: str, subject: str, status: CheckStatus, action: CheckAction) -> CheckResult:
    return CheckResult(check, subject, status, action, f"{check} says {status}")


OK, FAIL = CheckStatus.OK, CheckStatus.FAIL
NONE, REBOOT = CheckAction.NONE, CheckAction.REBOOT


@pytest.mark.asyncio
async def test_health_snapshot_then_delta_gives_worst_status_and_timeline() -> None:
    store = MemoryStore()
    registry = await make(store)
    _, session = await registry.register(hello("nid001"), "p")
    assert registry.get_node("nid001").health is None
    await registry.record_health(
        session,
        [res("nvidia.xid", "gpu0", OK, NONE), res("nvidia.xid", "gpu1", OK, NONE)],
        full_snapshot=True,
    )
    assert registry.get_node("nid001").health is CheckStatus.OK
    await registry.record_health(session, [res("nvidia.xid", "gpu1", FAIL, REBOOT)], False)
    node = registry.get_node("nid001")
    assert node.health is CheckStatus.FAIL
    assert [(c.subject, c.status) for c in node.checks] == [("gpu0", OK), ("gpu1", FAIL)]
    assert registry.list_nodes()[0].checks == ()  # listings stay light
    kinds = [(e.kind, e.data.get("subject")) for e in await store.list_events("nid001")]
    assert kinds == [("node_registered", None), ("check_changed", "gpu1")]
    # A coordinator restart keeps the last known results.
    reloaded = await make(store)
    assert reloaded.get_node("nid001").health is CheckStatus.FAIL
    # A full snapshot replaces: gpu1 vanished.
    await registry.record_health(session, [res("nvidia.xid", "gpu0", OK, NONE)], True)
    assert [c.subject for c in registry.get_node("nid001").checks] == ["gpu0"]
    assert registry.get_node("nid001").health is CheckStatus.OK


@pytest.mark.asyncio
async def test_health_from_a_replaced_session_is_ignored() -> None:
    registry = await make()
    _, old = await registry.register(hello("nid001"), "a")
    await registry.register(hello("nid001"), "b")
    await registry.record_health(old, [res("nvidia.xid", "gpu0", FAIL, REBOOT)], True)
    assert registry.get_node("nid001").health is None
