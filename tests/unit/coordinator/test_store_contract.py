"""The store contract (coordinator/store/base.py), run against every backend."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import timedelta, timezone
from pathlib import Path

import pytest
import pytest_asyncio

from coordinator.store import Event, MemoryStore, SqliteStore, Store
from tests.factories import T0, node
from vcbase.domain import CheckAction, CheckResult, CheckStatus, NodeState


@pytest_asyncio.fixture(params=["memory", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    s: Store = (
        MemoryStore()
        if request.param == "memory"
        else await SqliteStore.open(tmp_path / "db" / "vc.db")
    )
    yield s
    await s.close()


@pytest.mark.asyncio
async def test_save_then_get_round_trips_every_durable_field(store: Store) -> None:
    n = node("nid001")
    await store.save_node(n)
    assert await store.get_node("nid001") == n
    assert await store.get_node("nid002") is None


@pytest.mark.asyncio
async def test_connected_and_peer_are_not_durable(store: Store) -> None:
    await store.save_node(dataclasses.replace(node(), connected=True, peer="ipv4:10.0.0.1:5"))
    got = await store.get_node("nid001")
    assert got is not None
    assert (got.connected, got.peer) == (False, "")


@pytest.mark.asyncio
async def test_list_is_sorted_by_name_and_save_replaces(store: Store) -> None:
    for name in ("nid003", "nid001", "nid002"):
        await store.save_node(node(name))
    await store.save_node(node("nid002", NodeState.LOST))
    nodes = await store.list_nodes()
    assert [n.name for n in nodes] == ["nid001", "nid002", "nid003"]
    assert nodes[1].state is NodeState.LOST


@pytest.mark.asyncio
async def test_timestamps_keep_their_instant_in_any_zone(store: Store) -> None:
    cest = timezone(timedelta(hours=2))
    n = dataclasses.replace(node(), state_since=T0.astimezone(cest))
    await store.save_node(n)
    got = await store.get_node(n.name)
    assert got is not None
    assert got.state_since == T0


@pytest.mark.asyncio
async def test_heartbeats_batch_ignore_unknown_and_never_go_backwards(store: Store) -> None:
    await store.save_node(node("nid001"))
    await store.save_node(node("nid002"))
    later = T0 + timedelta(seconds=7)
    await store.record_heartbeats({"nid001": later, "ghost": later})
    await store.record_heartbeats({"nid002": T0 - timedelta(seconds=30)})
    one, two = await store.get_node("nid001"), await store.get_node("nid002")
    assert one is not None and two is not None
    assert one.last_heartbeat == later
    assert two.last_heartbeat == T0
    assert await store.get_node("ghost") is None


@pytest.mark.asyncio
async def test_events_are_numbered_in_commit_order_and_filtered(store: Store) -> None:
    await store.save_node(node("a"), [Event(T0, "a", "node_registered", "first hello")])
    await store.save_node(
        node("b"),
        [
            Event(T0, "b", "node_registered", "first hello", {"boot_id": "x"}),
            Event(T0, "b", "node_lost", "silent"),
        ],
    )
    await store.save_node(node("a", NodeState.LOST), [Event(T0, "a", "node_lost", "silent")])
    every = await store.list_events()
    assert [(e.seq, e.node, e.kind) for e in every] == [
        (1, "a", "node_registered"),
        (2, "b", "node_registered"),
        (3, "b", "node_lost"),
        (4, "a", "node_lost"),
    ]
    assert every[1].data == {"boot_id": "x"}
    assert [e.seq for e in await store.list_events("a")] == [1, 4]
    assert [e.seq for e in await store.list_events(limit=2)] == [3, 4]
    assert await store.list_events(limit=0) == []


@pytest.mark.asyncio
async def test_sqlite_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "vc.db"
    first = await SqliteStore.open(path)
    await first.save_node(node("nid001"), [Event(T0, "nid001", "node_registered", "hi")])
    await first.close()
    second = await SqliteStore.open(path)
    try:
        assert await second.get_node("nid001") == node("nid001")
        assert len(await second.list_events()) == 1
    finally:
        await second.close()


@pytest.mark.asyncio
async def test_sqlite_refuses_a_newer_schema(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "vc.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version=99")
    conn.close()
    with pytest.raises(RuntimeError, match="schema version 99"):
        await SqliteStore.open(path)


def result(check: str, subject: str, status: CheckStatus = CheckStatus.OK) -> CheckResult:
    action = CheckAction.NONE if status is CheckStatus.OK else CheckAction.REBOOT
    return CheckResult(check, subject, status, action, "msg", {"xid": "79"}, T0)


@pytest.mark.asyncio
async def test_check_results_delta_upserts_and_snapshot_replaces(store: Store) -> None:
    await store.save_check_results(
        "nid001", [result("nvidia.xid", "gpu1"), result("nvidia.xid", "gpu0")], replace=True
    )
    await store.save_check_results(
        "nid001",
        [result("nvidia.xid", "gpu1", CheckStatus.FAIL)],
        replace=False,
        events=[Event(T0, "nid001", "check_changed", "nvidia.xid gpu1 ok -> fail")],
    )
    got = await store.list_check_results("nid001")
    assert [(r.subject, r.status) for r in got] == [
        ("gpu0", CheckStatus.OK),
        ("gpu1", CheckStatus.FAIL),
    ]
    assert got[1] == result("nvidia.xid", "gpu1", CheckStatus.FAIL)
    assert [e.kind for e in await store.list_events("nid001")] == ["check_changed"]

    await store.save_check_results("nid001", [result("host.memory", "host")], replace=True)
    await store.save_check_results("nid002", [result("nic.cxi", "hsn0")], replace=True)
    assert [r.check for r in await store.list_check_results("nid001")] == ["host.memory"]
    assert await store.list_check_results("nid404") == []
    loaded = await store.load_check_results()
    assert sorted(loaded) == ["nid001", "nid002"]
    assert loaded["nid002"][0].subject == "hsn0"
