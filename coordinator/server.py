"""vccoord's process: the gRPC server, the store, and the periodic work, started and stopped."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
from vcluster.v1 import admin_pb2_grpc as adm_grpc
from vcluster.v1 import agent_gateway_pb2_grpc as gw_grpc

from coordinator.admin import AdminService
from coordinator.config import CoordinatorConfig
from coordinator.gateway import AgentGatewayService
from coordinator.registry import Registry
from coordinator.store.sqlite import SqliteStore
from vcbase.logging import get_logger

log = get_logger("coordinator.server")

MAX_MESSAGE_BYTES = 4 * 1024 * 1024
SERVER_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    # Find dead agent connections (a node that lost power sends no FIN).
    ("grpc.keepalive_time_ms", 20_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.http2.min_ping_interval_without_data_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 1),
]


async def every(period: float, name: str, work: Callable[[], Awaitable[object]]) -> None:
    """Run `work` every `period` seconds until cancelled. An error is logged and the loop goes
    on: a periodic task that stops for good on one exception is a classic outage."""
    while True:
        try:
            await work()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("periodic_task_failed", task=name)
        await asyncio.sleep(period)


async def serve(config: CoordinatorConfig) -> None:
    store = await SqliteStore.open(Path(config.db))
    liveness = config.liveness()
    registry = Registry(store, liveness)
    await registry.load()
    gateway = AgentGatewayService(registry)

    server = grpc.aio.server(options=SERVER_OPTIONS)
    gw_grpc.add_AgentGatewayServicer_to_server(gateway, server)
    adm_grpc.add_AdminServicer_to_server(AdminService(registry), server)
    port = server.add_insecure_port(config.listen)
    if port == 0:
        raise OSError(f"listen: cannot bind {config.listen}")
    await server.start()
    host = config.listen.rpartition(":")[0]
    log.info(
        "coordinator_serving",
        listen=f"{host}:{port}",
        db=config.db,
        coordinator_id=gateway.coordinator_id,
        heartbeat_interval=config.heartbeat_interval,
        missed_heartbeats=config.missed_heartbeats,
        startup_grace_s=liveness.grace.total_seconds(),
    )

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tasks = [
        asyncio.create_task(every(liveness.sweep_period.total_seconds(), "sweep", registry.sweep)),
        asyncio.create_task(
            every(config.heartbeat_interval, "flush_heartbeats", registry.flush_heartbeats)
        ),
    ]
    try:
        await stop.wait()
        log.info("coordinator_stopping")
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await server.stop(grace=2)
        await registry.flush_heartbeats()
        await store.close()
        log.info("coordinator_stopped")
