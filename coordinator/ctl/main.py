"""vcctl's commands."""

from __future__ import annotations

from typing import Annotated

import typer

from coordinator.ctl.client import AdminClient
from coordinator.ctl.output import OutputFormat, print_node, print_nodes
from vcbase.cli import fail
from vcbase.domain import NodeState
from vcbase.errors import VclusterError

DEFAULT_COORDINATOR = "127.0.0.1:7443"

app = typer.Typer(
    name="vcctl",
    help="Operate vcluster: nodes, vClusters, rollouts, remediation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
node_app = typer.Typer(help="Nodes: list, inspect.", no_args_is_help=True)
app.add_typer(node_app, name="node")

OutputOption = Annotated[OutputFormat, typer.Option("--output", "-o", help="table, json or yaml.")]


class Context:
    def __init__(self, coordinator: str) -> None:
        self.coordinator = coordinator

    def client(self) -> AdminClient:
        return AdminClient(self.coordinator)


@app.callback()
def _root(
    ctx: typer.Context,
    coordinator: Annotated[
        str,
        typer.Option(
            envvar="VCLUSTER_COORDINATOR", help="The coordinator's HOST:PORT.", show_envvar=True
        ),
    ] = DEFAULT_COORDINATOR,
) -> None:
    ctx.obj = Context(coordinator)


@node_app.command("ls")
def node_ls(
    ctx: typer.Context,
    output: OutputOption = OutputFormat.TABLE,
    state: Annotated[
        list[NodeState] | None, typer.Option(help="Only nodes in this state (repeatable).")
    ] = None,
) -> None:
    """List the nodes the coordinator knows."""
    try:
        with ctx.obj.client() as client:
            nodes = client.list_nodes(frozenset(state or ()))
    except VclusterError as exc:
        fail(str(exc), program="vcctl")
    print_nodes(nodes, output)


@node_app.command("show")
def node_show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The node's name.")],
    output: OutputOption = OutputFormat.TABLE,
    all_checks: Annotated[
        bool, typer.Option("--all-checks", help="List ok checks too, not only problems.")
    ] = False,
) -> None:
    """Show one node: state, health, identity, inventory, check results."""
    try:
        with ctx.obj.client() as client:
            node = client.get_node(name)
    except VclusterError as exc:
        fail(str(exc), program="vcctl")
    print_node(node, output, all_checks)


def main() -> None:
    app()
