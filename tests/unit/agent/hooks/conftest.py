"""A simulated node with its CheckRunner, and the hook server over it on a real unix socket."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from agent.checks.base import Mode
from agent.checks.catalog import all_checks, event_sources
from agent.checks.runner import CheckRunner
from agent.checks.thresholds import Thresholds
from agent.hardware import NodeHardware, close_hardware, collect_inventory, open_hardware
from agent.hooks.server import HookPolicy, HookServer, HookService, start_hook_server
from agent.profiles import PROFILES
from vcbase.domain import CheckResult

NODE = "nid000007"


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A fresh directory with a short path: a unix socket path must stay under 108 bytes."""
    path = Path(tempfile.mkdtemp(prefix="vch-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@dataclass
class SimNode:
    state_dir: Path
    hw: NodeHardware
    runner: CheckRunner
    connected: bool = False
    reports: list[CheckResult] = field(default_factory=list)  # what the runner's listeners got

    async def first_pass(self) -> None:
        """What `CheckRunner.run` does first, through its public methods."""
        for check in self.runner.checks:
            self.runner.fold(check, await self.runner.evaluate(check, Mode.PERIODIC))

    def stable(self, check: str, subject: str) -> CheckResult | None:
        found = [r for r in self.runner.snapshot() if (r.check, r.subject) == (check, subject)]
        return found[0] if found else None


def sim_node(state_dir: Path, profile: str = "gh200", with_events: bool = False) -> SimNode:
    hw = open_hardware(profile, NODE, state_dir)
    inventory = collect_inventory(hw)
    sources = event_sources(hw) if with_events else []
    runner = CheckRunner(
        hw, PROFILES[inventory.node_type], Thresholds(), all_checks(), sources, event_wait_s=0.05
    )
    node = SimNode(state_dir, hw, runner)
    runner.subscribe(lambda results, _full: node.reports.extend(results))
    return node


@pytest.fixture
def node(short_dir: Path) -> Iterator[SimNode]:
    n = sim_node(short_dir / "node")
    yield n
    close_hardware(n.hw)


@dataclass
class Served:
    node: SimNode
    service: HookService
    server: HookServer

    @property
    def path(self) -> Path:
        return self.server.path

    async def send(self, line: bytes) -> dict[str, Any]:
        """Send raw bytes, read the one reply line."""
        reader, writer = await asyncio.open_unix_connection(str(self.path))
        writer.write(line)
        await writer.drain()
        reply = await reader.readline()
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
        doc: dict[str, Any] = json.loads(reply)
        return doc

    async def ask(self, hook: str, job_id: str = "", node: str = NODE) -> dict[str, Any]:
        doc = {"v": 1, "hook": hook, "job_id": job_id, "user": "alice", "node": node}
        return await self.send(json.dumps(doc).encode() + b"\n")


async def serve(node: SimNode, path: Path, policy: HookPolicy | None = None) -> Served:
    service = HookService(node.runner, NODE, lambda: node.connected, policy or HookPolicy())
    return Served(node, service, await start_hook_server(service, path))


@pytest_asyncio.fixture
async def served(node: SimNode, short_dir: Path) -> AsyncIterator[Served]:
    """The hook server over `node` after its first pass: the stable state is in."""
    await node.first_pass()
    s = await serve(node, short_dir / "hook.sock")
    yield s
    await s.server.stop()


def names(items: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(i["check"], i["subject"]) for i in items}
