"""The Admin servicer: the operator API behind vcctl. A gRPC edge: protobuf stops here."""

from __future__ import annotations

import grpc
from vcluster.v1 import admin_pb2 as adm
from vcluster.v1 import admin_pb2_grpc as adm_grpc

from coordinator.registry import Registry
from vcbase.errors import NotFoundError
from vcbase.wire import WireError, node_to_pb, state_from_pb


class AdminService(adm_grpc.AdminServicer):
    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    async def ListNodes(
        self,
        request: adm.ListNodesRequest,
        context: grpc.aio.ServicerContext[adm.ListNodesRequest, adm.ListNodesResponse],
    ) -> adm.ListNodesResponse:
        try:
            states = frozenset(
                state_from_pb(s, f"states[{i}]") for i, s in enumerate(request.states)
            )
        except WireError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        nodes = self._registry.list_nodes(states)
        return adm.ListNodesResponse(nodes=[node_to_pb(n) for n in nodes])

    async def GetNode(
        self,
        request: adm.GetNodeRequest,
        context: grpc.aio.ServicerContext[adm.GetNodeRequest, adm.GetNodeResponse],
    ) -> adm.GetNodeResponse:
        if not request.name:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "name: is required")
        try:
            node = self._registry.get_node(request.name)
        except NotFoundError as exc:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
        return adm.GetNodeResponse(node=node_to_pb(node))
