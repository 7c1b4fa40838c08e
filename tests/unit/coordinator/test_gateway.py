"""The gRPC edges of the coordinator, over a real grpc.aio server on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import grpc
import pytest
import pytest_asyncio
from vcluster.v1 import admin_pb2 as adm
from vcluster.v1 import admin_pb2_grpc as adm_grpc
from vcluster.v1 import agent_gateway_pb2 as gw
from vcluster.v1 import agent_gateway_pb2_grpc as gw_grpc
from vcluster.v1 import types_pb2 as pb

from coordinator.admin import AdminService
from coordinator.gateway import AgentGatewayService
from coordinator.liveness import LivenessConfig
from coordinator.registry import Registry
from coordinator.store import MemoryStore
from tests.factories import hello
from tests.waiting import eventually
from vcbase.wire import hello_to_pb


@dataclass
class Harness:
    store: MemoryStore
    registry: Registry
    channel: grpc.aio.Channel

    def gateway(self) -> Any:
        return gw_grpc.AgentGatewayStub(self.channel)

    def admin(self) -> Any:
        return adm_grpc.AdminStub(self.channel)


@pytest_asyncio.fixture
async def harness() -> AsyncIterator[Harness]:
    store = MemoryStore()
    registry = Registry(store, LivenessConfig(heartbeat_interval=timedelta(seconds=2)))
    await registry.load()
    server = grpc.aio.server()
    gw_grpc.add_AgentGatewayServicer_to_server(AgentGatewayService(registry), server)
    adm_grpc.add_AdminServicer_to_server(AdminService(registry), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield Harness(store, registry, channel)
    await server.stop(grace=None)


def hello_msg(**kw: str) -> gw.AgentMessage:
    return gw.AgentMessage(hello=hello_to_pb(hello(**kw)))


@pytest.mark.asyncio
async def test_hello_is_welcomed_and_heartbeats_are_counted(harness: Harness) -> None:
    call = harness.gateway().Connect()
    await call.write(hello_msg(name="nid001"))
    welcome = (await call.read()).welcome
    assert welcome.node_name == "nid001"
    assert welcome.heartbeat_interval.ToTimedelta() == timedelta(seconds=2)
    assert welcome.state == pb.NODE_STATE_REGISTERED
    before = harness.registry.get_node("nid001").last_heartbeat
    await asyncio.sleep(0.01)
    await call.write(gw.AgentMessage(heartbeat=gw.Heartbeat(seq=1)))
    await eventually(lambda: harness.registry.get_node("nid001").last_heartbeat != before)
    await call.done_writing()
    await eventually(lambda: not harness.registry.get_node("nid001").connected)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("first", "expected"),
    [
        (gw.AgentMessage(hello=gw.Hello(machine_id="m", boot_id="b")), "hello.node_name"),
        (gw.AgentMessage(hello=gw.Hello(node_name="n1", boot_id="b")), "hello.machine_id"),
        (gw.AgentMessage(heartbeat=gw.Heartbeat(seq=1)), "must be a hello"),
        (
            gw.AgentMessage(
                hello=gw.Hello(
                    node_name="n1",
                    machine_id="m",
                    boot_id="b",
                    inventory=pb.Inventory(gpus=[pb.GpuInfo(vendor=7)]),  # type: ignore[arg-type]
                )
            ),
            "hello.inventory.gpus[0].vendor",
        ),
    ],
)
async def test_a_bad_first_message_is_refused_and_nothing_is_stored(
    harness: Harness, first: gw.AgentMessage, expected: str
) -> None:
    call = harness.gateway().Connect()
    await call.write(first)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call.read()
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert expected in (info.value.details() or "")
    assert await harness.store.list_nodes() == []


@pytest.mark.asyncio
async def test_a_name_held_by_another_machine_is_refused(harness: Harness) -> None:
    first = harness.gateway().Connect()
    await first.write(hello_msg(name="nid001", machine="m-1"))
    await first.read()
    second = harness.gateway().Connect()
    await second.write(hello_msg(name="nid001", machine="m-2"))
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await second.read()
    assert info.value.code() is grpc.StatusCode.ALREADY_EXISTS
    stored = await harness.store.get_node("nid001")
    assert stored is not None and stored.machine_id == "m-1"
    first.cancel()


@pytest.mark.asyncio
async def test_admin_lists_and_shows_nodes(harness: Harness) -> None:
    call = harness.gateway().Connect()
    await call.write(hello_msg(name="nid001"))
    await call.read()
    listed = await harness.admin().ListNodes(adm.ListNodesRequest())
    assert [n.name for n in listed.nodes] == ["nid001"]
    assert listed.nodes[0].connected
    assert listed.nodes[0].inventory.node_type == "a100"
    only_lost = await harness.admin().ListNodes(adm.ListNodesRequest(states=[pb.NODE_STATE_LOST]))
    assert list(only_lost.nodes) == []
    shown = await harness.admin().GetNode(adm.GetNodeRequest(name="nid001"))
    assert len(shown.node.inventory.gpus) == 4
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await harness.admin().GetNode(adm.GetNodeRequest(name="nid404"))
    assert info.value.code() is grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await harness.admin().ListNodes(adm.ListNodesRequest(states=[42]))  # type: ignore[list-item]
    assert bad.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    call.cancel()
