"""The agent's link against a real in-process coordinator gateway on loopback."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

import grpc
import pytest
import pytest_asyncio
from vcluster.v1 import agent_gateway_pb2_grpc as gw_grpc

from agent.link import CoordinatorLink
from agent.state import AgentState
from coordinator.gateway import AgentGatewayService
from coordinator.liveness import LivenessConfig
from coordinator.registry import Registry
from coordinator.store import MemoryStore
from tests.factories import hello
from tests.procs import free_port
from tests.waiting import eventually
from vcbase.domain import Hello, NodeState


async def start_coordinator(port: int) -> tuple[grpc.aio.Server, Registry]:
    registry = Registry(
        MemoryStore(), LivenessConfig(heartbeat_interval=timedelta(milliseconds=100))
    )
    await registry.load()
    server = grpc.aio.server()
    gw_grpc.add_AgentGatewayServicer_to_server(AgentGatewayService(registry), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    return server, registry


@pytest_asyncio.fixture
async def port() -> AsyncIterator[int]:
    yield free_port()


def make_link(port: int, name: str = "nid001", machine: str | None = None) -> CoordinatorLink:
    state = AgentState(node_name=name, coordinator=f"127.0.0.1:{port}", agent_version="0.1.0")

    async def make_hello() -> Hello:
        return hello(name, machine=machine)

    return CoordinatorLink(state, make_hello, reconnect_initial=0.05, reconnect_max=0.2)


@pytest.mark.asyncio
async def test_registers_heartbeats_and_reconnects_after_a_coordinator_restart(port: int) -> None:
    server, registry = await start_coordinator(port)
    link = make_link(port)
    task = asyncio.create_task(link.run())
    try:
        await asyncio.wait_for(link.welcomed.wait(), 10)
        first_beat = registry.get_node("nid001").last_heartbeat
        await eventually(lambda: registry.get_node("nid001").last_heartbeat != first_beat)
        assert link._state.node_state is NodeState.REGISTERED

        await server.stop(grace=None)
        await eventually(lambda: not link._state.connected)
        server, registry = await start_coordinator(port)  # a fresh, empty coordinator
        await eventually(lambda: link.sessions == 2)
        assert registry.get_node("nid001").connected
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await server.stop(grace=None)


@pytest.mark.asyncio
async def test_keeps_retrying_while_refused_and_gets_in_once_the_name_is_free(port: int) -> None:
    server, registry = await start_coordinator(port)
    holder = make_link(port, machine="m-1")
    intruder = make_link(port, machine="m-2")
    holder_task = asyncio.create_task(holder.run())
    await asyncio.wait_for(holder.welcomed.wait(), 10)
    intruder_task = asyncio.create_task(intruder.run())
    try:
        await asyncio.sleep(0.5)
        assert not intruder.welcomed.is_set()
        assert registry.get_node("nid001").machine_id == "m-1"
        holder_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await holder_task
        await asyncio.wait_for(intruder.welcomed.wait(), 10)
        assert registry.get_node("nid001").machine_id == "m-2"
    finally:
        intruder_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await intruder_task
        await server.stop(grace=None)
