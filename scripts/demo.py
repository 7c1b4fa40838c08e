"""`make demo`: a coordinator on SQLite and six simulated nodes of every Alps node type, all real
processes on loopback; a hardware fault injected into a simulated node, detected by its health
checks and cleared; an agent killed and brought back; the coordinator restarted; the fleet shown
with vcctl at each step.

Everything lives in a fresh temporary directory, removed at the end (kept with --keep).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.rule import Rule

from coordinator.ctl.client import AdminClient
from tests.procs import BIN, Proc, free_port, vcagent, vccoord
from tests.waiting import wait_until
from vcbase.domain import CheckStatus, NodeRecord, NodeState
from vcbase.errors import VclusterError

FLEET = {
    "nid001": "gh200",
    "nid002": "gh200",
    "nid003": "a100",
    "nid004": "mi250x",
    "nid005": "mi300a",
    "nid006": "rome",
}
INTERVAL, MISSES = 1.0, 3
console = Console()


def step(title: str) -> None:
    console.print()
    console.print(Rule(f"[bold]{title}", align="left"))


def vcctl(port: int, *args: str) -> None:
    console.print(f"[dim]$ vcctl {' '.join(args)}[/]")
    sys.stdout.flush()
    subprocess.run(
        [str(BIN / "vcctl"), "--coordinator", f"127.0.0.1:{port}", *args],
        check=True,
        timeout=60,
    )


def sim(*args: str) -> None:
    console.print(f"[dim]$ vcagent sim {' '.join(args)}[/]")
    sys.stdout.flush()
    subprocess.run([str(BIN / "vcagent"), "sim", *args], check=True, timeout=60)


def health(port: int, name: str) -> CheckStatus | None:
    n = nodes(port).get(name)
    return n.health if n else None


def nodes(port: int) -> dict[str, NodeRecord]:
    try:
        with AdminClient(f"127.0.0.1:{port}") as client:
            return {n.name: n for n in client.list_nodes()}
    except VclusterError:
        return {}


def agent(tmp: Path, port: int, name: str) -> Proc:
    config = tmp / f"{name}.toml"
    config.write_text("reconnect_initial = 0.2\nreconnect_max = 2.0\n")
    return vcagent(tmp, port, name, FLEET[name], "--config", str(config))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keep", action="store_true", help="keep the run directory")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="vcluster-demo-"))
    port = free_port()
    procs: list[Proc] = []
    try:
        step("1. Start a coordinator (SQLite store, 1 s heartbeats, lost after 3 misses)")
        coord = vccoord(
            tmp,
            port,
            "--heartbeat-interval",
            str(INTERVAL),
            "--missed-heartbeats",
            str(MISSES),
            "--startup-grace",
            "3",
        ).start()
        procs.append(coord)
        wait_until(lambda: nodes(port) == {} and coord.alive() and _serving(coord), 30, "vccoord")
        console.print(f"vccoord listening on 127.0.0.1:{port}, database {tmp / 'coord.db'}")

        step("2. Start six simulated nodes: 2x GH200, A100, MI250x, MI300A, Rome")
        agents = {name: agent(tmp, port, name).start() for name in FLEET}
        procs.extend(agents.values())
        wait_until(
            lambda: (
                len([n for n in nodes(port).values() if n.connected and n.health]) == len(FLEET)
            ),
            60,
            "all agents registered with their first health report",
        )
        vcctl(port, "node", "ls")

        step("3. Inspect one node: an MI250x shows its 4 packages as 8 GCDs")
        vcctl(port, "node", "show", "nid004")

        step("4. Fault: Slingshot NIC hsn1 of nid002 loses its link (injected into the sim)")
        t0 = time.monotonic()  # the inject command's own start-up (~0.5 s) counts too
        sim("inject", "cxi-link-down", "--device", "hsn1", "--state-dir", str(tmp / "nid002"))
        wait_until(lambda: health(port, "nid002") is CheckStatus.FAIL, 30, "nid002 unhealthy")
        console.print(
            f"nid002 health [bold red]fail[/] {time.monotonic() - t0:.2f} s after "
            "`vcagent sim inject` started (netlink event -> nic.cxi check -> coordinator)"
        )
        vcctl(port, "node", "show", "nid002")

        step("5. Heal: the link comes back")
        sim("clear", "cxi-link-down", "--device", "hsn1", "--state-dir", str(tmp / "nid002"))
        wait_until(lambda: health(port, "nid002") is CheckStatus.OK, 30, "nid002 healthy")
        vcctl(port, "node", "ls")

        step("6. Fault: the agent of nid003 is killed with SIGKILL")
        agents["nid003"].kill9()
        t0 = time.monotonic()
        wait_until(
            lambda: (n := nodes(port).get("nid003")) is not None and n.state is NodeState.LOST,
            30,
            "nid003 lost",
        )
        console.print(
            f"nid003 declared [bold red]lost[/] {time.monotonic() - t0:.1f} s after the kill "
            f"(rule: {MISSES} missed {INTERVAL:.0f} s heartbeats)"
        )
        vcctl(port, "node", "ls")

        step("7. Heal: the agent is restarted (systemd's Restart=on-failure would do this)")
        agents["nid003"] = agent(tmp, port, "nid003").start()
        procs.append(agents["nid003"])
        wait_until(
            lambda: (
                (n := nodes(port).get("nid003")) is not None
                and n.connected
                and n.state is NodeState.REGISTERED
            ),
            30,
            "nid003 back",
        )
        vcctl(port, "node", "ls")

        step("8. Coordinator restart: state survives, agents reconnect by themselves")
        coord.kill9()
        coord = vccoord(tmp, port, "--heartbeat-interval", str(INTERVAL)).start()
        procs.append(coord)
        wait_until(
            lambda: len([n for n in nodes(port).values() if n.connected]) == len(FLEET),
            60,
            "agents reconnected",
        )
        vcctl(port, "node", "ls")
        console.print()
        where = f"logs of every process are in {tmp}" if args.keep else "run with --keep for logs"
        console.print(f"[bold green]Demo complete.[/] ({where})")
        return 0
    finally:
        for p in procs:
            if p.alive():
                p.terminate()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


def _serving(coord: Proc) -> bool:
    return any(e.get("event") == "coordinator_serving" for e in coord.log_events())


if __name__ == "__main__":
    raise SystemExit(main())
