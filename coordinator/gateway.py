"""The AgentGateway servicer: one bidirectional stream per agent.

Protocol: the agent's first message is a Hello; we answer Welcome (or abort the stream with
INVALID_ARGUMENT / ALREADY_EXISTS and store nothing), then read heartbeats and reports while
writing whatever the coordinator has for this node. This is a gRPC edge: protobuf types stop here.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import grpc
from google.protobuf.duration_pb2 import Duration
from vcluster.v1 import agent_gateway_pb2 as gw
from vcluster.v1 import agent_gateway_pb2_grpc as gw_grpc

from coordinator.registry import Registry, Session
from vcbase.errors import ConflictError, ValidationError
from vcbase.logging import get_logger
from vcbase.wire import WireError, check_result_from_pb, hello_from_pb, state_to_pb

log = get_logger("coordinator.gateway")

HELLO_TIMEOUT = timedelta(seconds=10)


class AgentGatewayService(gw_grpc.AgentGatewayServicer):
    def __init__(self, registry: Registry, coordinator_id: str | None = None) -> None:
        self._registry = registry
        self.coordinator_id = coordinator_id or uuid.uuid4().hex
        self.open_streams = 0

    async def Connect(
        self,
        request_iterator: AsyncIterator[gw.AgentMessage],
        context: grpc.aio.ServicerContext[gw.AgentMessage, gw.CoordinatorMessage],
    ) -> AsyncIterator[gw.CoordinatorMessage]:
        peer = context.peer()
        try:
            first = await asyncio.wait_for(anext(request_iterator), HELLO_TIMEOUT.total_seconds())
        except (StopAsyncIteration, TimeoutError):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "expected a hello first")
        if first.WhichOneof("payload") != "hello":
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"the first message must be a hello, got {first.WhichOneof('payload')}",
            )
        try:
            node, session = await self._registry.register(hello_from_pb(first.hello), peer)
        except (ValidationError, WireError) as exc:
            log.warning("hello_rejected", peer=peer, error=str(exc))
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except ConflictError as exc:
            log.warning("hello_rejected", peer=peer, error=str(exc))
            await context.abort(grpc.StatusCode.ALREADY_EXISTS, str(exc))

        interval = Duration()
        interval.FromTimedelta(self._registry.liveness.heartbeat_interval)
        yield gw.CoordinatorMessage(
            welcome=gw.Welcome(
                node_name=node.name,
                heartbeat_interval=interval,
                coordinator_id=self.coordinator_id,
                state=state_to_pb(node.state),
            )
        )
        self.open_streams += 1
        reader = asyncio.create_task(self._read(request_iterator, session))
        try:
            # Nothing to push to agents yet: desired vServices and commands come with later work.
            # Until then the stream stays open until the agent leaves or is superseded.
            await session.closed.wait()
        finally:
            self.open_streams -= 1
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            await self._registry.disconnect(session, "stream ended")

    async def _health(self, report: gw.HealthReport, session: Session) -> None:
        try:
            results = [
                check_result_from_pb(r, f"health.results[{i}]")
                for i, r in enumerate(report.results)
            ]
        except WireError as exc:
            log.warning("bad_health_report_dropped", node=session.node, error=str(exc))
            return
        await self._registry.record_health(session, results, report.full_snapshot)

    async def _read(self, requests: AsyncIterator[gw.AgentMessage], session: Session) -> None:
        reason = "agent closed the stream"
        try:
            async for msg in requests:
                kind = msg.WhichOneof("payload")
                self._registry.heartbeat(session)  # any message is a sign of life
                if kind == "heartbeat":
                    pass
                elif kind == "health":
                    await self._health(msg.health, session)
                elif kind == "hello":
                    log.warning("duplicate_hello_ignored", node=session.node)
                else:
                    log.debug("message_ignored", node=session.node, kind=kind)
        except grpc.aio.AioRpcError as exc:
            reason = f"stream error: {exc.code().name}"
        finally:
            await self._registry.disconnect(session, reason)
