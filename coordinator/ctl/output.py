"""How vcctl prints: tables for people, JSON and YAML for pipelines."""

from __future__ import annotations

import enum
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from vcbase.codec import node_to_dict
from vcbase.domain import NodeRecord, NodeState
from vcbase.render import check_table, status_text


class OutputFormat(enum.StrEnum):
    TABLE = "table"
    JSON = "json"
    YAML = "yaml"


STATE_STYLE = {
    NodeState.READY: "green",
    NodeState.REGISTERED: "cyan",
    NodeState.CONFIGURING: "cyan",
    NodeState.LOST: "bold red",
    NodeState.SET_ASIDE: "red",
    NodeState.DRAINING: "yellow",
    NodeState.DRAINED: "yellow",
    NodeState.REBOOTING: "magenta",
    NodeState.VALIDATING: "magenta",
}


def age(moment: datetime | None, now: datetime | None = None) -> str:
    """A short human age: 4s, 3m, 2h, 5d; '-' when unknown."""
    if moment is None:
        return "-"
    seconds = int(((now or datetime.now(UTC)) - moment).total_seconds())
    seconds = max(seconds, 0)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def dump(data: Any, fmt: OutputFormat) -> None:
    if fmt is OutputFormat.JSON:
        json.dump(data, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        yaml.safe_dump(data, sys.stdout, sort_keys=False)


def _gpus(node: NodeRecord) -> str:
    if node.inventory is None or not node.inventory.gpus:
        return "-"
    models = {
        g.model.removeprefix("NVIDIA ").removeprefix("AMD Instinct ") for g in node.inventory.gpus
    }
    return f"{len(node.inventory.gpus)}x {'/'.join(sorted(models))}"


def print_nodes(nodes: Sequence[NodeRecord], fmt: OutputFormat) -> None:
    if fmt is not OutputFormat.TABLE:
        dump([node_to_dict(n) for n in nodes], fmt)
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    # SEEN: time since the last heartbeat; SINCE: time in the current state.
    for column in ("NAME", "STATE", "HEALTH", "TYPE", "LINK", "SEEN", "SINCE", "GPUS"):
        table.add_column(column, no_wrap=True)
    for n in nodes:
        table.add_row(
            n.name,
            f"[{STATE_STYLE.get(n.state, '')}]{n.state.value}[/]",
            status_text(n.health),
            n.node_type or "-",
            "up" if n.connected else "down",
            age(n.last_heartbeat),
            age(n.state_since),
            _gpus(n),
        )
    Console().print(table)


def print_node(node: NodeRecord, fmt: OutputFormat, all_checks: bool = False) -> None:
    if fmt is not OutputFormat.TABLE:
        dump(node_to_dict(node), fmt)
        return
    console = Console()
    inv = node.inventory
    rows: list[tuple[str, str]] = [
        ("Name", node.name),
        (
            "State",
            f"[{STATE_STYLE.get(node.state, '')}]{node.state.value}[/] "
            f"for {age(node.state_since)} ({node.state_reason or '-'})",
        ),
        ("Health", status_text(node.health)),
        ("Connected", f"{'yes' if node.connected else 'no'} {node.peer}".rstrip()),
        ("Last heartbeat", f"{age(node.last_heartbeat)} ago"),
        ("Machine id", node.machine_id),
        ("Boot id", node.boot_id),
        ("Agent version", node.agent_version),
        ("Registered", node.registered_at.isoformat()),
    ]
    if inv is not None:
        rows += [
            ("Node type", inv.node_type + (" (simulated)" if inv.simulated else "")),
            ("Hostname", inv.hostname),
            ("CPU", f"{inv.cpu_cores}x {inv.cpu_model} ({inv.architecture})"),
            ("Memory", f"{inv.memory_bytes / 2**30:.0f} GiB"),
            ("Kernel", inv.kernel),
        ]
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows:
        table.add_row(key, value)
    console.print(table)
    if inv is not None and inv.gpus:
        gpus = Table(title="GPUs", title_justify="left", box=None, header_style="bold")
        for column in ("#", "MODEL", "UUID", "PCI", "MEMORY"):
            gpus.add_column(column)
        for g in inv.gpus:
            gpus.add_row(
                str(g.index), g.model, g.uuid, g.pci_bus_id, f"{g.memory_bytes / 2**30:.0f} GiB"
            )
        console.print(gpus)
    if inv is not None and inv.nics:
        nics = Table(title="NICs", title_justify="left", box=None, header_style="bold")
        for column in ("NAME", "KIND", "LINK", "SPEED", "ADDRESS"):
            nics.add_column(column)
        for n in inv.nics:
            nics.add_row(
                n.name,
                n.kind.value,
                "up" if n.link_up else "down",
                f"{n.speed_mbps // 1000} Gb/s" if n.speed_mbps else "-",
                n.address,
            )
        console.print(nics)
    if node.checks:
        checks = check_table(node.checks, only_problems=not all_checks)
        checks.title = "Checks"
        console.print(checks)
