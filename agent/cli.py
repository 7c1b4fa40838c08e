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
