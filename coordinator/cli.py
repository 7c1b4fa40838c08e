"""`vccoord`: the coordinator daemon's command line."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer

from coordinator.config import DEFAULT_CONFIG_PATH, CoordinatorConfig
from vcbase.cli import EXIT_USAGE, fail
from vcbase.config import build_config, read_toml
from vcbase.errors import ValidationError
from vcbase.logging import configure_logging

app = typer.Typer(
    name="vccoord",
    help="The vcluster coordinator: desired state, node registry, remediation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """vccoord: the vcluster coordinator."""


def load_config(config_path: Path | None, overrides: dict[str, Any]) -> CoordinatorConfig:
    """The config file (explicit, or the default one if it exists) under the CLI flags."""
    path = config_path
    if path is None and DEFAULT_CONFIG_PATH.exists():
        path = DEFAULT_CONFIG_PATH
    values = read_toml(path) if path is not None else {}
    return build_config(CoordinatorConfig, values, overrides, str(path or "command line"))


@app.command()
def serve(
    listen: Annotated[str | None, typer.Option(help="HOST:PORT to serve gRPC on.")] = None,
    db: Annotated[str | None, typer.Option(help="Path of the SQLite database.")] = None,
    config: Annotated[
        Path | None, typer.Option(help=f"TOML config file [default: {DEFAULT_CONFIG_PATH}].")
    ] = None,
    heartbeat_interval: Annotated[
        float | None, typer.Option(help="Seconds between agent heartbeats [5].")
    ] = None,
    missed_heartbeats: Annotated[
        int | None, typer.Option(help="Missed heartbeats before a node is lost [3].")
    ] = None,
    startup_grace: Annotated[
        float | None,
        typer.Option(help="Seconds after start before anyone is declared lost [2x timeout]."),
    ] = None,
    log_level: Annotated[str | None, typer.Option(help="debug, info, warning, error.")] = None,
) -> None:
    """Serve the agent gateway and the admin API."""
    try:
        cfg = load_config(
            config,
            {
                "listen": listen,
                "db": db,
                "heartbeat_interval": heartbeat_interval,
                "missed_heartbeats": missed_heartbeats,
                "startup_grace": startup_grace,
                "log_level": log_level,
            },
        )
        configure_logging("json", cfg.log_level)
    except (ValidationError, ValueError) as exc:
        fail(str(exc), EXIT_USAGE, "vccoord")
    from coordinator.server import serve as run_server  # grpc is imported only to serve

    try:
        asyncio.run(run_server(cfg))
    except OSError as exc:
        fail(str(exc), program="vccoord")


def main() -> None:
    app()
