"""`vcagent`: the node daemon's command line."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from agent.config import DEFAULT_CONFIG_PATH, AgentConfig
from vcbase.cli import EXIT_USAGE, fail
from vcbase.config import build_config, read_toml
from vcbase.errors import ValidationError
from vcbase.logging import configure_logging

app = typer.Typer(
    name="vcagent",
    help="The vcluster node agent: inventory, health, vService steps, Slurm hooks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ConfigOption = Annotated[
    Path | None, typer.Option(help=f"TOML config file [default: {DEFAULT_CONFIG_PATH}].")
]
StateDirOption = Annotated[str | None, typer.Option(help="State directory.")]
SimulateOption = Annotated[
    str | None, typer.Option(help="Simulate a node: gh200, a100, mi250x, mi300a, rome.")
]
NodeNameOption = Annotated[str | None, typer.Option(help="Node name [short hostname].")]


@app.callback()
def _root() -> None:
    """vcagent: the vcluster node agent."""


def load_config(config_path: Path | None, overrides: dict[str, Any]) -> AgentConfig:
    """The config file (explicit, or the default one if it exists) under the CLI flags."""
    path = config_path
    if path is None and DEFAULT_CONFIG_PATH.exists():
        path = DEFAULT_CONFIG_PATH
    try:
        values = read_toml(path) if path is not None else {}
        return build_config(AgentConfig, values, overrides, str(path or "command line"))
    except ValidationError as exc:
        fail(str(exc), EXIT_USAGE, "vcagent")


@app.command()
def run(
    coordinator: Annotated[str | None, typer.Option(help="Coordinator HOST:PORT.")] = None,
    node_name: NodeNameOption = None,
    state_dir: StateDirOption = None,
    simulate: SimulateOption = None,
    node_type: Annotated[str | None, typer.Option(help="Override the detected type.")] = None,
    config: ConfigOption = None,
    log_level: Annotated[str | None, typer.Option(help="debug, info, warning, error.")] = None,
) -> None:
    """Run the agent daemon: connect to the coordinator and stay connected."""
    cfg = load_config(
        config,
        {
            "coordinator": coordinator,
            "node_name": node_name,
            "state_dir": state_dir,
            "simulate": simulate,
            "node_type": node_type,
            "log_level": log_level,
        },
    )
    configure_logging("json", cfg.log_level)
    from agent.checks.catalog import all_checks

    known = {c.name for c in all_checks()}
    unknown = sorted(set(cfg.check_intervals) - known)
    if unknown:
        source = config or (DEFAULT_CONFIG_PATH if DEFAULT_CONFIG_PATH.exists() else None)
        fail(
            f"{source or 'command line'}: check_intervals: unknown checks {unknown}; "
            f"known: {', '.join(sorted(known))}",
            EXIT_USAGE,
            "vcagent",
        )
    from agent.daemon import run_agent  # grpc is imported only by the commands that need it

    asyncio.run(run_agent(cfg))


@app.command()
def inventory(
    node_name: NodeNameOption = None,
    state_dir: StateDirOption = None,
    simulate: SimulateOption = None,
    config: ConfigOption = None,
) -> None:
    """Print this node's inventory as JSON, as the agent would send it."""
    cfg = load_config(
        config, {"node_name": node_name, "state_dir": state_dir, "simulate": simulate}
    )
    configure_logging("console", "warning")
    from agent.hardware import collect_inventory, open_hardware
    from vcbase.codec import inventory_to_dict

    hw = open_hardware(cfg.simulate, cfg.name, cfg.state_path)
    typer.echo(json.dumps(inventory_to_dict(collect_inventory(hw, cfg.node_type)), indent=2))


OutputOption = Annotated[str, typer.Option("--output", "-o", help="table or json.")]


@app.command()
def check(
    mode: Annotated[str, typer.Option(help="prolog, epilog or full.")] = "full",
    output: OutputOption = "table",
    node_name: NodeNameOption = None,
    state_dir: StateDirOption = None,
    simulate: SimulateOption = None,
    config: ConfigOption = None,
) -> None:
    """Run the health checks once, here and now, and print their results.

    Exit status: 0 when nothing failed (ok, warn or unknown), 1 when a check failed, 2 for bad
    usage.
    """
    from agent.checks.base import Mode

    if mode not in {m.value for m in Mode} - {"periodic"}:
        fail(f"--mode: expected prolog, epilog or full, got {mode!r}", EXIT_USAGE, "vcagent")
    if output not in ("table", "json"):
        fail(f"--output: expected table or json, got {output!r}", EXIT_USAGE, "vcagent")
    cfg = load_config(
        config, {"node_name": node_name, "state_dir": state_dir, "simulate": simulate}
    )
    configure_logging("console", "warning")
    from agent.oneshot import run_checks_once

    results = asyncio.run(run_checks_once(cfg, Mode(mode)))
    from vcbase.domain import CheckStatus

    if output == "json":
        from vcbase.codec import check_result_to_dict

        typer.echo(json.dumps([check_result_to_dict(r) for r in results], indent=2))
    else:
        from rich.console import Console

        from vcbase.render import check_table

        Console().print(check_table(results))
    if any(r.status is CheckStatus.FAIL for r in results):
        raise typer.Exit(1)


sim_app = typer.Typer(help="Simulated nodes: list, inject and clear faults.", no_args_is_help=True)
app.add_typer(sim_app, name="sim")


@sim_app.command("faults")
def sim_faults() -> None:
    """List the faults a simulated node can take, and what the checks must say."""
    from rich.console import Console
    from rich.table import Table

    from agent.sim.faults import FAULTS

    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("FAULT", "NODE TYPES", "EVENT", "EXPECTED", "DESCRIPTION"):
        table.add_column(column)
    for f in sorted(FAULTS.values(), key=lambda f: f.name):
        e = f.expect
        table.add_row(
            f.name,
            ",".join(sorted(f.profiles)),
            "yes" if f.event_driven else "no",
            f"{e.check} {e.subject}: {e.status.value}/{e.action.value}",
            f.description,
        )
    Console().print(table)


@sim_app.command("inject")
def sim_inject(
    fault: Annotated[str, typer.Argument(help="The fault's name (see `vcagent sim faults`).")],
    device: Annotated[str | None, typer.Option(help="The target: gpu2, hsn1, /scratch.")] = None,
    state_dir: StateDirOption = None,
    config: ConfigOption = None,
) -> None:
    """Inject a fault into the simulated node of STATE_DIR (its agent may be running)."""
    cfg = load_config(config, {"state_dir": state_dir})
    from agent.sim import faults

    try:
        injected = faults.inject(cfg.state_path, fault, device)
    except ValidationError as exc:
        fail(str(exc), EXIT_USAGE, "vcagent")
    e = injected.expect
    typer.echo(f"injected {fault}: expect {e.check} {e.status.value}/{e.action.value}")


@sim_app.command("clear")
def sim_clear(
    fault: Annotated[
        str | None, typer.Argument(help="The fault to clear; all when omitted.")
    ] = None,
    device: Annotated[str | None, typer.Option(help="The target it was injected into.")] = None,
    state_dir: StateDirOption = None,
    config: ConfigOption = None,
) -> None:
    """Clear one injected fault, or all of them."""
    cfg = load_config(config, {"state_dir": state_dir})
    from agent.sim import faults

    try:
        cleared = faults.clear(cfg.state_path, fault, device)
    except ValidationError as exc:
        fail(str(exc), EXIT_USAGE, "vcagent")
    typer.echo("cleared: " + (", ".join(cleared) or "nothing"))


@app.command()
def status(
    state_dir: StateDirOption = None,
    config: ConfigOption = None,
    socket_path: Annotated[str | None, typer.Option("--socket", help="Local API socket.")] = None,
) -> None:
    """Ask the running agent on this node how it is (over its local unix socket)."""
    cfg = load_config(config, {"state_dir": state_dir, "local_socket": socket_path})
    configure_logging("console", "warning")
    from agent.local_client import get_status

    try:
        typer.echo(json.dumps(get_status(cfg.socket_path), indent=2))
    except ConnectionError as exc:
        fail(str(exc), program="vcagent")


def main() -> None:
    app()
