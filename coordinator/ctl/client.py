"""vcctl's gRPC client: calls the Admin API and returns domain types. A gRPC edge."""

from __future__ import annotations

from typing import cast

import grpc
from vcluster.v1 import admin_pb2 as adm
from vcluster.v1 import admin_pb2_grpc as adm_grpc

from vcbase.domain import NodeRecord, NodeState
from vcbase.errors import NotFoundError, TransientError, VclusterError
from vcbase.wire import node_from_pb, state_to_pb

CALL_TIMEOUT_S = 10.0


class AdminClient:
    def __init__(self, target: str) -> None:
        self.target = target
        self._channel = grpc.insecure_channel(target)
        self._stub = adm_grpc.AdminStub(self._channel)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> AdminClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _error(self, exc: grpc.RpcError) -> VclusterError:
        # Errors of sync calls are both RpcError and Call; the stubs cannot say so.
        call = cast(grpc.Call, exc)
        code, details = call.code(), call.details()
        if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            first_line = (details or "").splitlines()[0] if details else code.name
            return TransientError(f"cannot reach the coordinator at {self.target}: {first_line}")
        if code is grpc.StatusCode.NOT_FOUND:
            return NotFoundError(details or "not found")
        return VclusterError(f"{code.name.lower()}: {details}")

    def list_nodes(self, states: frozenset[NodeState] = frozenset()) -> list[NodeRecord]:
        request = adm.ListNodesRequest(states=[state_to_pb(s) for s in sorted(states)])
        try:
            response = self._stub.ListNodes(request, timeout=CALL_TIMEOUT_S)
        except grpc.RpcError as exc:
            raise self._error(exc) from None
        return [node_from_pb(n) for n in response.nodes]

    def get_node(self, name: str) -> NodeRecord:
        try:
            response = self._stub.GetNode(adm.GetNodeRequest(name=name), timeout=CALL_TIMEOUT_S)
        except grpc.RpcError as exc:
            raise self._error(exc) from None
        return node_from_pb(response.node)
