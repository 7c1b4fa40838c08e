"""A real coordinator process and three real agent processes on loopback.

Short heartbeats (1 s, 3 misses) keep the test quick; the rule under test is the same.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from coordinator.ctl.client import AdminClient
from tests.procs import BIN, Proc, free_port, vcagent, vccoord, vcctl
from tests.waiting import wait_until
from vcbase.domain import NodeRecord, NodeState
from vcbase.errors import VclusterError

pytestmark = pytest.mark.integration

INTERVAL = 1.0
MISSES = 3
AGENTS = {"gh-001": "gh200", "a100-001": "a100", "rome-001": "rome"}


def coordinator(tmp: Path, port: int) -> Proc:
    return vccoord(
        tmp,
        port,
        "--heartbeat-interval",
        str(INTERVAL),
        "--missed-heartbeats",
        str(MISSES),
        "--startup-grace",
        "2",
    )


def agent(tmp: Path, port: int, name: str) -> Proc:
    config = tmp / f"{name}.toml"
    # Reconnect quickly in tests; the config file is the only place for these knobs.
    config.write_text("reconnect_initial = 0.1\nreconnect_max = 0.5\n")
    return vcagent(tmp, port, name, AGENTS[name], "--config", str(config))


def nodes(port: int) -> dict[str, NodeRecord]:
    try:
        with AdminClient(f"127.0.0.1:{port}") as client:
            return {n.name: n for n in client.list_nodes()}
    except VclusterError:
        return {}


def ls_json(port: int) -> list[dict[str, Any]]:
    result = vcctl(port, "node", "ls", "-o", "json")
    assert result.returncode == 0, result.stderr
    parsed: list[dict[str, Any]] = json.loads(result.stdout)
    return parsed


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[tuple[int, Proc, dict[str, Proc]]]:
    port = free_port()
    coord = coordinator(tmp_path, port).start()
    agents = {name: agent(tmp_path, port, name).start() for name in AGENTS}
    try:
        yield port, coord, agents
    finally:
        procs = [coord, *agents.values()]  # the test may have replaced some agents
        for p in procs:
            if p.alive():
                p.kill9()
        for p in procs:
            print(f"--- {p.name} log (tail) ---\n{p.log()[-3000:]}")


def all_connected(port: int, names: set[str]) -> dict[str, NodeRecord] | None:
    current = nodes(port)
    ok = set(current) == names and all(n.connected for n in current.values())
    return current if ok else None


def test_three_agents_register_die_return_and_survive_a_coordinator_restart(
    fleet: tuple[int, Proc, dict[str, Proc]], tmp_path: Path
) -> None:
    port, coord, agents = fleet
    names = set(AGENTS)
    wait_until(lambda: all_connected(port, names), 30, "three agents registered")

    listed = {row["name"]: row for row in ls_json(port)}
    assert set(listed) == names
    for name, row in listed.items():
        assert row["state"] == "registered"
        assert row["node_type"] == AGENTS[name]
        assert row["last_heartbeat"] is not None
    assert len(listed["gh-001"]["inventory"]["gpus"]) == 4
    assert listed["rome-001"]["inventory"]["gpus"] == []

    # kill -9 one agent: lost within MISSES intervals + 1 s, the others untouched.
    victim = agents["a100-001"]
    victim.kill9()
    killed_at = time.monotonic()
    deadline = MISSES * INTERVAL + 1.0
    wait_until(
        lambda: (
            nodes(port).get("a100-001", None) and nodes(port)["a100-001"].state is NodeState.LOST
        ),
        deadline,
        "a100-001 lost",
        interval=0.05,
    )
    assert time.monotonic() - killed_at <= deadline
    others = nodes(port)
    assert all(others[n].state is NodeState.REGISTERED for n in names - {"a100-001"})

    # Restarted, it comes back.
    agents["a100-001"] = agent(tmp_path, port, "a100-001").start()

    def returned() -> NodeRecord | None:
        n = nodes(port).get("a100-001")
        return n if n and n.connected and n.state is NodeState.REGISTERED else None

    back = wait_until(returned, 30, "a100-001 back")
    assert back.state_reason == "agent connected"

    # Restart the coordinator (kill -9): records and states survive, agents come back alone.
    before = {name: (n.state, n.machine_id, n.boot_id) for name, n in nodes(port).items()}
    coord.kill9()
    coord2 = coordinator(tmp_path, port)
    coord2.log_path = tmp_path / "vccoord-restarted.log"
    coord2.start()
    try:
        after = wait_until(lambda: nodes(port) or None, 30, "coordinator back")
        assert {name: (n.state, n.machine_id, n.boot_id) for name, n in after.items()} == before
        wait_until(lambda: all_connected(port, names), 30, "agents reconnected")
        # After the grace period, nobody was declared lost by the restart.
        time.sleep(2 + MISSES * INTERVAL)
        final = nodes(port)
        assert all(n.state is NodeState.REGISTERED and n.connected for n in final.values())
    finally:
        coord2.terminate()
    events = [e["event"] for e in coord2.log_events()]
    assert "coordinator_serving" in events
    assert "node_lost" not in events


def test_sigterm_stops_agent_and_coordinator_cleanly(tmp_path: Path) -> None:
    port = free_port()
    coord = coordinator(tmp_path, port).start()
    ag = agent(tmp_path, port, "rome-001").start()
    try:
        wait_until(lambda: all_connected(port, {"rome-001"}), 30, "agent registered")
        socket_path = tmp_path / "rome-001" / "agent.sock"
        assert socket_path.stat().st_mode & 0o777 == 0o600
        status = subprocess.run(
            [str(BIN / "vcagent"), "status", "--state-dir", str(tmp_path / "rome-001")],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        local = json.loads(status.stdout)
        assert (local["node_name"], local["connected"], local["state"]) == (
            "rome-001",
            True,
            "registered",
        )
        assert local["inventory"]["cpu_cores"] == 128
        assert ag.terminate() == 0
        assert not socket_path.exists()
        assert "agent_stopped" in [e["event"] for e in ag.log_events()]
        assert coord.terminate() == 0
        assert "coordinator_stopped" in [e["event"] for e in coord.log_events()]
    finally:
        for p in (coord, ag):
            if p.alive():
                p.kill9()
