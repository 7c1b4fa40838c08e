"""Health end to end: simulated faults injected into running agents, seen through vcctl.

For every node type, a healthy simulated node reports every applicable check ok. Then every
fault of the catalog that applies to the type is injected with the documented command
(`vcagent sim inject`), the documented verdict must show in the coordinator (within 1 s for
event-driven faults), and `vcagent sim clear` must bring the check back to ok.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.checks.catalog import all_checks
from agent.sim.faults import FAULTS
from coordinator.ctl.client import AdminClient
from tests.procs import BIN, Proc, free_port, vcagent, vccoord
from tests.waiting import wait_until
from vcbase.domain import CheckResult, CheckStatus, NodeRecord
from vcbase.errors import VclusterError

pytestmark = pytest.mark.integration

PROFILES = ("gh200", "a100", "mi250x", "mi300a", "rome")
PERIODIC_S = 0.3  # every check's interval in this test, so periodic faults show quickly


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    tmp = tmp_path_factory.mktemp("health")
    port = free_port()
    config = tmp / "agent.toml"
    intervals = ", ".join(f'"{c.name}" = {PERIODIC_S}' for c in all_checks())
    config.write_text(
        f"reconnect_initial = 0.1\nreconnect_max = 0.5\ncheck_intervals = {{ {intervals} }}\n"
    )
    procs: list[Proc] = [vccoord(tmp, port).start()]
    procs += [vcagent(tmp, port, f"{p}-001", p, "--config", str(config)).start() for p in PROFILES]
    try:
        yield port, tmp
    finally:
        for p in procs:
            if p.alive():
                p.terminate()
        for p in procs:
            print(f"--- {p.name} ---\n{p.log()[-4000:]}")


def node(port: int, name: str) -> NodeRecord | None:
    try:
        with AdminClient(f"127.0.0.1:{port}") as client:
            return client.get_node(name)
    except VclusterError:
        return None


def find(n: NodeRecord | None, check: str, subject: str) -> CheckResult | None:
    if n is None:
        return None
    return next((c for c in n.checks if c.check == check and c.subject == subject), None)


def sim(tmp: Path, name: str, *args: str) -> str:
    result = subprocess.run(
        [str(BIN / "vcagent"), "sim", *args, "--state-dir", str(tmp / name)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def healthy(port: int, name: str) -> NodeRecord | None:
    n = node(port, name)
    if n is None or not n.checks or n.health is not CheckStatus.OK:
        return None
    return n


@pytest.mark.parametrize("profile", PROFILES)
def test_every_fault_shows_as_documented_and_clears(fleet: tuple[int, Path], profile: str) -> None:
    port, tmp = fleet
    name = f"{profile}-001"
    n = wait_until(lambda: healthy(port, name), 60, f"{name} healthy")
    assert all(c.status is CheckStatus.OK for c in n.checks), n.checks

    faults = sorted(
        (f for f in FAULTS.values() if profile in f.profiles),
        key=lambda f: (f.expect.check.endswith(".xid"), f.name),  # XID history outlives clear
    )
    assert faults, f"no fault applies to {profile}"
    for fault in faults:
        e = fault.expect
        sim(tmp, name, "inject", fault.name)
        injected_at = time.monotonic()
        deadline = 1.0 if fault.event_driven else 10.0

        def shown(check: str = e.check, subject: str = e.subject) -> CheckResult | None:
            r = find(node(port, name), check, subject)
            return r if r is not None and r.status is not CheckStatus.OK else None

        seen = wait_until(shown, deadline, f"{fault.name} on {name}", interval=0.02)
        elapsed = time.monotonic() - injected_at
        assert (seen.status, seen.action) == (e.status, e.action), (fault.name, seen)
        assert seen.message, fault.name
        if fault.event_driven:
            assert elapsed <= 1.0, f"{fault.name} took {elapsed:.2f}s to show"
        sim(tmp, name, "clear", fault.name)
        if not e.check.endswith(".xid"):

            def cleared(check: str = e.check, subject: str = e.subject) -> bool:
                r = find(node(port, name), check, subject)
                return r is not None and r.status is CheckStatus.OK

            wait_until(cleared, 15, f"{fault.name} cleared on {name}")


@pytest.mark.parametrize(
    "fault", sorted(f.name for f in FAULTS.values() if f.event_driven and "gh200" in f.profiles)
)
def test_event_driven_faults_show_within_a_second_with_default_intervals(
    tmp_path: Path, fault: str
) -> None:
    """Default periodic intervals (a minute): only the event path can be this fast."""
    port = free_port()
    coord = vccoord(tmp_path, port).start()
    agent = vcagent(tmp_path, port, "gh-001", "gh200").start()
    try:
        wait_until(lambda: healthy(port, "gh-001"), 60, "gh-001 healthy")
        e = FAULTS[fault].expect
        sim(tmp_path, "gh-001", "inject", fault)
        injected_at = time.monotonic()

        def shown() -> CheckResult | None:
            r = find(node(port, "gh-001"), e.check, e.subject)
            return r if r is not None and r.status is not CheckStatus.OK else None

        seen = wait_until(shown, 1.0, f"{fault} shown", interval=0.01)
        assert time.monotonic() - injected_at <= 1.0
        assert (seen.status, seen.action) == (e.status, e.action)
    finally:
        for p in (agent, coord):
            if p.alive():
                p.terminate()
