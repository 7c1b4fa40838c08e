"""`vcagent run`: the daemon's life, from hardware discovery to a clean SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import signal

from agent.config import AgentConfig
from agent.hardware import (
    NodeHardware,
    close_hardware,
    collect_inventory,
    open_hardware,
    read_identity,
)
from agent.link import CoordinatorLink
from agent.local_api import start_local_api
from agent.state import AgentState
from vcbase import __version__
from vcbase.domain import Hello
from vcbase.logging import get_logger

log = get_logger("agent.daemon")


async def _hello(hw: NodeHardware, cfg: AgentConfig, state: AgentState) -> Hello:
    """Identity and inventory, read fresh for every session (a GPU may have fallen off)."""
    machine_id, boot_id = await asyncio.to_thread(read_identity, hw)
    inventory = await asyncio.to_thread(collect_inventory, hw, cfg.node_type)
    state.machine_id, state.boot_id, state.inventory = machine_id, boot_id, inventory
    return Hello(
        node_name=state.node_name,
        machine_id=machine_id,
        boot_id=boot_id,
        agent_version=__version__,
        inventory=inventory,
    )


async def run_agent(cfg: AgentConfig) -> None:
    state = AgentState(node_name=cfg.name, coordinator=cfg.coordinator, agent_version=__version__)
    hw = await asyncio.to_thread(open_hardware, cfg.simulate, cfg.name, cfg.state_path)
    log.info(
        "agent_starting",
        node=cfg.name,
        coordinator=cfg.coordinator,
        simulated=hw.simulated,
        profile=hw.profile,
        state_dir=cfg.state_dir,
    )

    async def make_hello() -> Hello:
        return await _hello(hw, cfg, state)

    local = await start_local_api(state, cfg.socket_path)
    link = CoordinatorLink(state, make_hello, cfg.reconnect_initial, cfg.reconnect_max)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    link_task = asyncio.create_task(link.run())
    try:
        await stop.wait()
        log.info("agent_stopping", node=cfg.name)
    finally:
        link_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await link_task
        await local.stop(grace=1)
        with contextlib.suppress(FileNotFoundError):
            cfg.socket_path.unlink()
        await asyncio.to_thread(close_hardware, hw)
        log.info("agent_stopped", node=cfg.name)
