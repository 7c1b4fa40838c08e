"""Terminal rendering shared by vcctl and vcagent: check results as a table."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table

from vcbase.domain import CheckResult, CheckStatus

STATUS_STYLE = {
    CheckStatus.OK: "green",
    CheckStatus.WARN: "yellow",
    CheckStatus.FAIL: "bold red",
    CheckStatus.UNKNOWN: "magenta",
}


def status_text(status: CheckStatus | None) -> str:
    if status is None:
        return "-"
    return f"[{STATUS_STYLE[status]}]{status.value}[/]"


def check_table(results: Sequence[CheckResult], only_problems: bool = False) -> Table:
    """One row per (check, subject). With `only_problems`, ok rows are folded into a count."""
    table = Table(box=None, header_style="bold", pad_edge=False, title_justify="left")
    for column in ("CHECK", "SUBJECT", "STATUS", "ACTION", "MESSAGE"):
        table.add_column(column, no_wrap=column != "MESSAGE")
    shown = [r for r in results if not only_problems or r.status is not CheckStatus.OK]
    for r in shown:
        table.add_row(
            r.check,
            r.subject,
            status_text(r.status),
            r.action.value if r.action else "-",
            r.message,
        )
    hidden = len(results) - len(shown)
    if hidden:
        table.add_row(f"[dim]... and {hidden} ok[/]", "", "", "", "")
    return table
