"""The simulated-fault catalog and the `vcagent sim` operations on a simulated node.

`inject` and `clear` act on the node's simulated hardware from outside the agent (another
process), exactly as a real fault would: the running agent notices through its probes and event
sources. The faults that are active are listed in <state_dir>/sim/faults.json.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from agent.sim import faults_amd, faults_host, faults_nvidia
from agent.sim.fault import Fault, SimTarget
from agent.sim.tree import atomic_write
from vcbase.errors import ValidationError

FAULTS: dict[str, Fault] = {
    f.name: f for f in (*faults_nvidia.FAULTS, *faults_amd.FAULTS, *faults_host.FAULTS)
}
ACTIVE_FILE = "faults.json"
MARKER = "root/.vcluster-sim.json"


@dataclass(frozen=True)
class ActiveFault:
    name: str
    device: str | None


def _node(sim_dir: Path) -> tuple[str, str]:
    """(profile, node name) of the simulated node under `sim_dir`."""
    try:
        doc = json.loads((sim_dir / MARKER).read_text())
        return str(doc["profile"]), str(doc["node"])
    except (OSError, ValueError, KeyError):
        raise ValidationError(
            "state_dir", f"{sim_dir.parent} holds no simulated node (run vcagent --simulate first)"
        ) from None


def _fault(name: str, profile: str) -> Fault:
    fault = FAULTS.get(name)
    if fault is None:
        raise ValidationError(
            "fault", f"unknown fault {name!r}; known: {', '.join(sorted(FAULTS))}"
        )
    if profile not in fault.profiles:
        raise ValidationError(
            "fault",
            f"{name} does not apply to a {profile} node (it applies to "
            f"{', '.join(sorted(fault.profiles))})",
        )
    return fault


def active(state_dir: Path) -> list[ActiveFault]:
    path = state_dir / "sim" / ACTIVE_FILE
    if not path.exists():
        return []
    return [ActiveFault(d["name"], d.get("device")) for d in json.loads(path.read_text())]


def _save(state_dir: Path, faults: list[ActiveFault]) -> None:
    doc = [{"name": f.name, "device": f.device} for f in faults]
    atomic_write(state_dir / "sim" / ACTIVE_FILE, json.dumps(doc, indent=1) + "\n")


def inject(state_dir: Path, name: str, device: str | None = None) -> Fault:
    sim_dir = state_dir / "sim"
    profile, node = _node(sim_dir)
    fault = _fault(name, profile)
    fault.inject(SimTarget(sim_dir, profile, node, device))
    current = [f for f in active(state_dir) if f != ActiveFault(name, device)]
    _save(state_dir, [*current, ActiveFault(name, device)])
    return fault


def clear(state_dir: Path, name: str | None = None, device: str | None = None) -> list[str]:
    """Clear one fault (name, device), or every active one (name None). Returns what was
    cleared."""
    sim_dir = state_dir / "sim"
    profile, node = _node(sim_dir)
    targets = (
        active(state_dir) if name is None else [ActiveFault(_fault(name, profile).name, device)]
    )
    for f in targets:
        FAULTS[f.name].clear(SimTarget(sim_dir, profile, node, f.device))
    remaining = [f for f in active(state_dir) if f not in targets]
    _save(state_dir, remaining)
    return [f"{f.name}{'@' + f.device if f.device else ''}" for f in targets]
