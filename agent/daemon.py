"""`vcagent run`: the daemon's life, from hardware discovery to a clean SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import signal

from agent.checks.catalog import all_checks, event_sources
from agent.checks.runner import CheckRunner
from agent.config import AgentConfig
from agent.hardware import (
    NodeHardware,
    close_hardware,
    collect_inventory,
    open_hardware,
    read_identity,
)
from agent.hooks.server import HookPolicy, HookService, start_hook_server
from agent.link import CoordinatorLink
from agent.local_api import start_local_api
from agent.profiles import PROFILES
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

    inventory = await asyncio.to_thread(collect_inventory, hw, cfg.node_type)
    runner = CheckRunner(
        hw,
        PROFILES.get(inventory.node_type),
        cfg.checks,
        all_checks(),
        event_sources(hw),
        cfg.check_intervals,
    )
    log.info(
        "checks_configured",
        node_type=inventory.node_type,
        checks=[c.name for c in runner.checks],
    )
    local = await start_local_api(state, cfg.socket_path)
    policy = HookPolicy(cfg.hook_unknown == "fail", cfg.hook_live_budget_s)
    hooks = await start_hook_server(
        HookService(runner, cfg.name, lambda: state.connected, policy), cfg.hook_socket_path
    )
    link = CoordinatorLink(
        state, make_hello, cfg.reconnect_initial, cfg.reconnect_max, snapshot=runner.snapshot
    )
    runner.subscribe(link.publish_health)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tasks = [asyncio.create_task(link.run()), asyncio.create_task(runner.run())]
    stopper = asyncio.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait([stopper, *tasks], return_when=asyncio.FIRST_COMPLETED)
        for task in done & set(tasks):
            task.result()  # a task that ended on its own is a bug: raise it
        log.info("agent_stopping", node=cfg.name)
    finally:
        for task in (stopper, *tasks):
            task.cancel()
        for task in (stopper, *tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await hooks.stop()
        await local.stop(grace=1)
        with contextlib.suppress(FileNotFoundError):
            cfg.socket_path.unlink()
        await asyncio.to_thread(close_hardware, hw)
        log.info("agent_stopped", node=cfg.name)
