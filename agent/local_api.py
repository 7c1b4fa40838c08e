"""The node-local API (LocalAgent) on a unix socket: for local tools such as `vcagent status`.

A gRPC edge: protobuf types stop here. The socket is created mode 0600 in the state directory:
only root on the node may talk to the agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

import grpc
from vcluster.v1 import local_agent_pb2 as la
from vcluster.v1 import local_agent_pb2_grpc as la_grpc

from agent.state import AgentState
from vcbase.wire import inventory_to_pb, state_to_pb, timestamp_to_pb


class LocalAgentService(la_grpc.LocalAgentServicer):
    def __init__(self, state: AgentState) -> None:
        self._state = state

    async def GetStatus(
        self,
        request: la.GetStatusRequest,
        context: grpc.aio.ServicerContext[la.GetStatusRequest, la.GetStatusResponse],
    ) -> la.GetStatusResponse:
        s = self._state
        response = la.GetStatusResponse(
            node_name=s.node_name,
            coordinator=s.coordinator,
            connected=s.connected,
            boot_id=s.boot_id,
            agent_version=s.agent_version,
        )
        if s.node_state is not None:
            response.state = state_to_pb(s.node_state)
        sent = timestamp_to_pb(s.last_heartbeat_sent)
        if sent is not None:
            response.last_heartbeat_sent.CopyFrom(sent)
        if s.inventory is not None:
            response.inventory.CopyFrom(inventory_to_pb(s.inventory))
        return response


def _clear_socket_path(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


async def start_local_api(state: AgentState, path: Path) -> grpc.aio.Server:
    """Serve LocalAgent on the unix socket `path` (replacing a stale one)."""
    await asyncio.to_thread(_clear_socket_path, path)
    server = grpc.aio.server()
    la_grpc.add_LocalAgentServicer_to_server(LocalAgentService(state), server)
    old = os.umask(0o177)
    try:
        server.add_insecure_port(f"unix:{path}")
        await server.start()
    finally:
        os.umask(old)
    return server
