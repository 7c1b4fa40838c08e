"""Client of the agent's local API (LocalAgent over its unix socket). A gRPC edge."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
from vcluster.v1 import local_agent_pb2 as la
from vcluster.v1 import local_agent_pb2_grpc as la_grpc

from vcbase.codec import inventory_to_dict, iso
from vcbase.wire import inventory_from_pb, state_from_pb, timestamp_from_pb


def get_status(socket_path: Path, timeout: float = 5.0) -> dict[str, Any]:
    """The agent's status as plain data; ConnectionError when no agent answers."""
    with grpc.insecure_channel(f"unix:{socket_path}") as channel:
        try:
            r = la_grpc.LocalAgentStub(channel).GetStatus(la.GetStatusRequest(), timeout=timeout)
        except grpc.RpcError as exc:
            raise ConnectionError(
                f"no agent answers on {socket_path}: is vcagent running? ({exc})"
            ) from None
    return {
        "node_name": r.node_name,
        "coordinator": r.coordinator,
        "connected": r.connected,
        "state": state_from_pb(r.state).value if r.state else None,
        "last_heartbeat_sent": iso(
            timestamp_from_pb(r.last_heartbeat_sent, r.HasField("last_heartbeat_sent"))
        ),
        "boot_id": r.boot_id,
        "agent_version": r.agent_version,
        "inventory": inventory_to_dict(inventory_from_pb(r.inventory))
        if r.HasField("inventory")
        else None,
    }
