"""The agent's stream to the coordinator: hello, welcome, heartbeats; reconnect forever.

A gRPC edge: protobuf types stop here. One `CoordinatorLink.run()` task lives as long as the
agent. Each session: dial, send hello (identity + inventory, collected fresh), wait for the
welcome, then heartbeat at the interval the coordinator asked for while reading its messages.
Health results go out as a full snapshot at the start of every session, then as deltas
(`publish_health`, which the check runner calls on every change). One writer task owns the
stream's write side. When the stream ends for any reason the link waits a jittered, growing
delay and dials again; the delay resets after a session that was welcomed.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Protocol, cast

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from vcluster.v1 import agent_gateway_pb2 as gw
from vcluster.v1 import agent_gateway_pb2_grpc as gw_grpc

from agent.backoff import backoff_delay
from agent.state import AgentState
from vcbase.domain import CheckResult, Hello
from vcbase.logging import get_logger
from vcbase.wire import check_result_to_pb, hello_to_pb, state_from_pb

log = get_logger("agent.link")

WELCOME_TIMEOUT_S = 15.0
CHANNEL_OPTIONS = [
    ("grpc.keepalive_time_ms", 20_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    # We run our own backoff; keep gRPC's own reconnect quick and bounded.
    ("grpc.initial_reconnect_backoff_ms", 500),
    ("grpc.max_reconnect_backoff_ms", 5_000),
]

# Codes that mean the coordinator refused us, not that it is away: worth a loud log line.
REFUSALS = frozenset({grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.ALREADY_EXISTS})


class _ConnectCall(Protocol):
    """The parts of grpc.aio's StreamStreamCall we use (its published stubs lag behind)."""

    async def write(self, request: gw.AgentMessage) -> None: ...

    def __aiter__(self) -> AsyncIterator[gw.CoordinatorMessage]: ...


class CoordinatorLink:
    def __init__(
        self,
        state: AgentState,
        make_hello: Callable[[], Awaitable[Hello]],
        reconnect_initial: float,
        reconnect_max: float,
        rng: random.Random | None = None,
        snapshot: Callable[[], list[CheckResult]] = list,
    ) -> None:
        self._state = state
        self._snapshot = snapshot
        self._outbox: asyncio.Queue[gw.AgentMessage] | None = None
        self._make_hello = make_hello
        self._initial = reconnect_initial
        self._max = reconnect_max
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self.welcomed = asyncio.Event()  # set at the first welcome of this process
        self.sessions = 0
        self._welcomed = False  # in the current session

    async def run(self) -> None:
        """Connect, and reconnect forever, until cancelled."""
        attempt = 0
        while True:
            self._welcomed = False
            try:
                await self._session()
                log.warning("coordinator_stream_ended", coordinator=self._state.coordinator)
            except grpc.aio.AioRpcError as exc:
                if exc.code() in REFUSALS:
                    log.error("registration_refused", code=exc.code().name, detail=exc.details())
                else:
                    log.warning(
                        "coordinator_unreachable",
                        coordinator=self._state.coordinator,
                        code=exc.code().name,
                        detail=exc.details(),
                    )
            except (TimeoutError, OSError, grpc.aio.UsageError, asyncio.InvalidStateError) as exc:
                log.warning("coordinator_session_failed", error=repr(exc))
            except Exception:
                # Never let the link die: an agent without a link is a silent node.
                log.exception("coordinator_session_crashed")
            finally:
                self._state.connected = False
            attempt = 0 if self._welcomed else attempt + 1
            delay = backoff_delay(attempt, self._initial, self._max, self._rng)
            log.info("reconnect_scheduled", delay_s=round(delay, 3), attempt=attempt)
            await asyncio.sleep(delay)

    async def _session(self) -> None:
        """One stream, until it ends."""
        hello = await self._make_hello()
        async with grpc.aio.insecure_channel(
            self._state.coordinator, options=CHANNEL_OPTIONS
        ) as channel:
            stub = gw_grpc.AgentGatewayStub(channel)
            call = cast(_ConnectCall, stub.Connect())  # type: ignore[call-arg]
            await call.write(gw.AgentMessage(hello=hello_to_pb(hello)))
            # A refusal (bad hello, name conflict) arrives as the call's status: reading raises
            # AioRpcError with it.
            responses = aiter(call)
            try:
                first = await asyncio.wait_for(anext(responses), WELCOME_TIMEOUT_S)
            except StopAsyncIteration:
                log.error("no_welcome", detail="the coordinator closed the stream")
                return
            if first.WhichOneof("payload") != "welcome":
                log.error("no_welcome", got=first.WhichOneof("payload"))
                return
            welcome = first.welcome
            interval = welcome.heartbeat_interval.ToTimedelta().total_seconds()
            self._state.connected = True
            self._state.node_state = state_from_pb(welcome.state, "welcome.state")
            self._state.coordinator_id = welcome.coordinator_id
            self.sessions += 1
            self._welcomed = True
            self.welcomed.set()
            log.info(
                "registered",
                coordinator=self._state.coordinator,
                coordinator_id=welcome.coordinator_id,
                state=self._state.node_state.value,
                heartbeat_interval_s=interval,
            )
            outbox: asyncio.Queue[gw.AgentMessage] = asyncio.Queue()
            self._outbox = outbox
            # The coordinator replaces what it holds with a full snapshot at every session start.
            outbox.put_nowait(_health_message(self._snapshot(), full=True))
            workers = [
                asyncio.create_task(self._heartbeats(outbox, max(interval, 0.05))),
                asyncio.create_task(self._writer(call, outbox)),
            ]
            try:
                async for msg in responses:
                    log.info("coordinator_message", kind=msg.WhichOneof("payload"))
            finally:
                self._outbox = None
                for task in workers:
                    task.cancel()
                for task in workers:
                    with contextlib.suppress(asyncio.CancelledError, grpc.aio.AioRpcError):
                        await task

    def publish_health(self, results: list[CheckResult], full: bool) -> None:
        """Send check results now if a session is up; otherwise the next session's full
        snapshot carries them. Never blocks (a runner listener)."""
        if self._outbox is not None:
            self._outbox.put_nowait(_health_message(results, full))

    async def _writer(self, call: _ConnectCall, outbox: asyncio.Queue[gw.AgentMessage]) -> None:
        """The only writer of the stream: gRPC allows one write at a time."""
        while True:
            msg = await outbox.get()
            await call.write(msg)
            if msg.WhichOneof("payload") == "heartbeat":
                self._state.last_heartbeat_sent = msg.heartbeat.sent_at.ToDatetime(tzinfo=UTC)

    async def _heartbeats(self, outbox: asyncio.Queue[gw.AgentMessage], interval: float) -> None:
        seq = 0
        while True:
            seq += 1
            sent_at = Timestamp()
            sent_at.FromDatetime(datetime.now(UTC))
            outbox.put_nowait(gw.AgentMessage(heartbeat=gw.Heartbeat(seq=seq, sent_at=sent_at)))
            await asyncio.sleep(interval)


def _health_message(results: list[CheckResult], full: bool) -> gw.AgentMessage:
    return gw.AgentMessage(
        health=gw.HealthReport(full_snapshot=full, results=[check_result_to_pb(r) for r in results])
    )
