"""`vcagent check`: one pass of the check catalog in this process, without a running agent."""

from __future__ import annotations

import asyncio

from agent.checks.base import Mode
from agent.checks.catalog import all_checks
from agent.checks.runner import CheckRunner
from agent.config import AgentConfig
from agent.hardware import close_hardware, collect_inventory, open_hardware
from agent.profiles import PROFILES
from vcbase.domain import CheckResult


async def run_checks_once(cfg: AgentConfig, mode: Mode) -> list[CheckResult]:
    hw = await asyncio.to_thread(open_hardware, cfg.simulate, cfg.name, cfg.state_path)
    try:
        inventory = await asyncio.to_thread(collect_inventory, hw, cfg.node_type)
        runner = CheckRunner(hw, PROFILES.get(inventory.node_type), cfg.checks, all_checks())
        return await runner.run_pass(mode)
    finally:
        await asyncio.to_thread(close_hardware, hw)
