"""Pure parsers of Slurm command output (22.05, checked against captured real output).

- `parse_sinfo_json`: `sinfo --json` (Slurm >= 21.08). 22.05 gives `state` (base, lower case) and
  `state_flags` (list); 23.02+ gives `state` as a list (base first, then flags): both are read.
  sinfo ignores `-n` with `--json`, so it always lists every node. With slurmctld down it exits 0
  with an `errors` list and no nodes: that is reported, not taken for an empty cluster.
- `parse_scontrol_nodes`: `scontrol -o show node` (one line per node; `State=IDLE+DRAIN+...`,
  `Reason=` last, to the end of the line, with a " [user@time]" stamp).
- `parse_squeue_jobs`: `squeue -h -t RUNNING,COMPLETING,SUSPENDED -o %A|%N`, one "id|hostlist"
  line per job; hostlists such as n[1-3,7] are expanded by `expand_hostlist`.
- `classify_failure`: what a failed command's stderr says about the cause.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any, Literal

from coordinator.drivers.reasons import is_ours, strip_stamp
from coordinator.drivers.scheduler import (
    DRAIN,
    REBOOT_ISSUED,
    REBOOT_REQUESTED,
    SchedulerNode,
    SchedulerState,
)

_BASE = {s.value.upper(): s for s in SchedulerState}
_BUSY = frozenset({SchedulerState.ALLOCATED, SchedulerState.MIXED, SchedulerState.COMPLETING})
_SUFFIXES = "*~#!%$@^-"  # sinfo's short state markers, in case a state string carries one
_KEY = re.compile(r"\s+(?=[A-Za-z][A-Za-z0-9_:]*=)")


class ParseError(ValueError):
    """The text is not what this Slurm command prints."""


def normalise(base: str, flags: Iterable[str]) -> SchedulerState:
    """One state from Slurm's base state and flags, by Slurm's own precedence.

    A reboot issued, or requested on a node with nothing running, is REBOOTING; else a DRAIN flag
    makes the node DRAINING while it runs jobs, DRAINED when not (even if DOWN, as sinfo says).
    """
    state = _BASE.get(base.strip().rstrip(_SUFFIXES).upper(), SchedulerState.UNKNOWN)
    flagset = frozenset(flags)
    busy = state in _BUSY
    if REBOOT_ISSUED in flagset or (REBOOT_REQUESTED in flagset and not busy):
        return SchedulerState.REBOOTING
    if DRAIN in flagset:
        return SchedulerState.DRAINING if busy else SchedulerState.DRAINED
    return state


def make_node(
    name: str, base: str, flags: Iterable[str], reason: str, prefix: str
) -> SchedulerNode:
    flagset = frozenset(f.strip().upper() for f in flags if f.strip())
    text = strip_stamp(reason)
    return SchedulerNode(
        name=name,
        state=normalise(base, flagset),
        flags=flagset,
        reason=text,
        reason_is_ours=bool(text) and is_ours(prefix, text),
    )


def sinfo_json_errors(text: str) -> list[str]:
    """The `errors` sinfo --json reported (empty when it read the nodes fine)."""
    return [_error_text(e) for e in _load(text).get("errors") or []]


def parse_sinfo_json(text: str, prefix: str) -> list[SchedulerNode]:
    """Every node of `sinfo --json` output, sorted by name, without jobs."""
    data = _load(text)
    nodes = data.get("nodes")
    if not isinstance(nodes, list):
        raise ParseError("sinfo --json: no 'nodes' list")
    found = []
    for raw in nodes:
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            raise ParseError(f"sinfo --json: node without a name: {str(raw)[:200]}")
        state = raw.get("state", "unknown")
        flags = [str(f) for f in raw.get("state_flags") or []]
        if isinstance(state, list):  # 23.02+: ["IDLE", "DRAIN", ...]
            state, flags = (str(state[0]) if state else "unknown"), [str(f) for f in state[1:]]
        found.append(
            make_node(raw["name"], str(state), flags, str(raw.get("reason") or ""), prefix)
        )
    return sorted(found, key=lambda n: n.name)


def parse_scontrol_nodes(text: str, prefix: str) -> list[SchedulerNode]:
    """Every node of `scontrol -o show node` output, sorted by name, without jobs."""
    found = []
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = scontrol_fields(line)
        if "NodeName" not in fields or "State" not in fields:
            raise ParseError(f"scontrol show node: no NodeName/State in {line[:200]!r}")
        base, *flags = fields["State"].split("+")
        found.append(make_node(fields["NodeName"], base, flags, fields.get("Reason", ""), prefix))
    return sorted(found, key=lambda n: n.name)


def scontrol_fields(line: str) -> dict[str, str]:
    """Key=value pairs of one `scontrol -o` line; values may hold spaces, Reason runs to the end."""
    head, sep, reason = line.strip().partition(" Reason=")
    fields: dict[str, str] = {}
    for token in _KEY.split(head):
        key, eq, value = token.partition("=")
        if eq:
            fields[key] = value.strip()
    if sep:
        fields["Reason"] = reason.strip()
    return fields


def parse_squeue_jobs(text: str) -> dict[str, tuple[int, ...]]:
    """Node name -> ids of its jobs (sorted), from "id|hostlist" lines."""
    jobs: dict[str, set[int]] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        job, sep, hosts = line.strip().partition("|")
        if not sep or not job.isdigit():
            raise ParseError(f"squeue: expected 'jobid|nodelist', got {line[:200]!r}")
        for host in expand_hostlist(hosts):
            jobs.setdefault(host, set()).add(int(job))
    return {n: tuple(sorted(ids)) for n, ids in jobs.items()}


def expand_hostlist(expr: str) -> list[str]:
    """Expand a Slurm hostlist ("n[1-3,07],gpu2" -> n1 n2 n3 n07 gpu2); zero padding is kept."""
    names: list[str] = []
    for part in _split_top(expr.strip()):
        m = re.fullmatch(r"([^\[\]]*)\[([^\[\]]+)\]([^\[\]]*)", part)
        if m is None:
            if "[" in part or "]" in part:
                raise ParseError(f"hostlist: cannot read {part!r}")
            names.append(part)
            continue
        head, ranges, tail = m.groups()
        for item in ranges.split(","):
            lo, dash, hi = item.partition("-")
            if not lo.isdigit() or (dash and not hi.isdigit()):
                raise ParseError(f"hostlist: bad range {item!r} in {part!r}")
            width = len(lo) if lo.startswith("0") else 0
            for i in range(int(lo), int(hi if dash else lo) + 1):
                names.append(f"{head}{i:0{width}d}{tail}")
    return names


def _split_top(expr: str) -> list[str]:
    """Split on commas outside brackets."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(expr):
        depth += {"[": 1, "]": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            parts.append(expr[start:i])
            start = i + 1
    parts.append(expr[start:])
    return [p for p in parts if p]


Failure = Literal["unavailable", "unknown_node", "failed"]

_UNAVAILABLE = re.compile(
    r"Unable to contact slurm controller|Socket timed out|Connection refused|connect failure"
    r"|Zero Bytes were transmitted|Transport endpoint|backup controller in standby"
    r"|Communication connection failure",
    re.IGNORECASE,
)
_UNKNOWN_NODE = re.compile(r"Invalid node name|Node \S+ not found", re.IGNORECASE)


def classify_failure(stdout: str, stderr: str) -> Failure:
    """Why a Slurm command failed: controller unreachable, unknown node, or anything else."""
    text = f"{stderr}\n{stdout}"
    if _UNAVAILABLE.search(text):
        return "unavailable"
    if _UNKNOWN_NODE.search(text):
        return "unknown_node"
    return "failed"


def _load(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError as e:
        raise ParseError(f"sinfo --json: not JSON: {e}") from e
    if not isinstance(data, dict):
        raise ParseError("sinfo --json: not a JSON object")
    return data


def _error_text(err: object) -> str:
    if isinstance(err, dict):
        return str(err.get("error") or err.get("description") or err)
    return str(err)
