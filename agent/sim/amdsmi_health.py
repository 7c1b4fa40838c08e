"""Health of the simulated AMD GPUs: RAS counters, retired pages, xGMI links, temperatures.

`gpus.json` (agent.sim.tree) says which devices exist and whether one fell off the bus; this
module holds what AMD SMI reports *about* each device, in <state_dir>/sim/amd.json:

    {"schema": 1, "devices": {"0": {"uncorrectable": 1, "links_down": [0, 1], ...}}}

A device absent from the file (or the whole file absent, the normal state of a fresh node) is
healthy: `HEALTHY`. `SimAmdSmi` reads the file on every call, so a fault injected by another
process shows on the next call; writes are atomic (`agent.sim.tree.atomic_write`).

The static side, the same on every node of a model, is computed, not stored:
- `xgmi_topology`: the peer behind each of a device's `LINK_SLOTS` xGMI link slots. MI250X:
  each GCD has 2 links to the other GCD of its package and 1 to each of the six GCDs of the
  other packages. MI300A: each APU has 2 links to each of its 3 peers (fully connected) and 2
  disabled slots. Other models: one link to each peer. Real boards differ in detail (MI250X
  nodes are not all-to-all); the sim keeps what a health check can observe: symmetric links,
  some slots disabled.
- `thermals_for`: idle temperatures and critical limits per model (plausible, not datasheet
  values); MI300A has no edge sensor, as on the real APU.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.sim.statefile import stat_cache
from agent.sim.tree import atomic_write

HEALTH_FILE = "amd.json"
LINK_SLOTS = 8  # AMDSMI_MAX_NUM_XGMI_LINKS


@dataclass(frozen=True, slots=True)
class BadPage:
    """One retired-page record: its address, size and AMDSMI_MEM_PAGE_STATUS_* status."""

    address: int
    size: int
    status: int


@dataclass(frozen=True, slots=True)
class AmdDeviceHealth:
    """What one device reports. Defaults are a healthy device."""

    correctable: int = 0
    uncorrectable: int = 0
    deferred: int = 0
    bad_pages: tuple[BadPage, ...] = ()
    xgmi_error: int = 0  # an AMDSMI_XGMI_STATUS_* value
    links_down: tuple[int, ...] = ()  # link slots that are down
    hotspot_c: int | None = None  # None: the model's idle temperature


HEALTHY = AmdDeviceHealth()


@dataclass(frozen=True, slots=True)
class AmdHealth:
    devices: Mapping[int, AmdDeviceHealth] = field(default_factory=dict)

    def device(self, index: int) -> AmdDeviceHealth:
        return self.devices.get(index, HEALTHY)


@dataclass(frozen=True, slots=True)
class Thermals:
    idle_hotspot_c: int
    hotspot_critical_c: int
    idle_edge_c: int | None  # None: the model has no edge sensor
    edge_critical_c: int | None


_THERMALS = {
    "AMD Instinct MI250X": Thermals(44, 105, 38, 100),
    "AMD Instinct MI300A": Thermals(47, 110, None, None),
}
_DEFAULT_THERMALS = Thermals(45, 105, 40, 100)


def thermals_for(model: str) -> Thermals:
    return _THERMALS.get(model, _DEFAULT_THERMALS)


def health_path(sim_dir: Path) -> Path:
    return sim_dir / HEALTH_FILE


def _device_doc(health: AmdDeviceHealth) -> dict[str, Any]:
    doc = dataclasses.asdict(health)
    return {k: v for k, v in doc.items() if v != getattr(HEALTHY, k)}


def write_health(sim_dir: Path, health: AmdHealth) -> None:
    """Atomically replace amd.json; healthy devices are left out."""
    devices = {str(i): _device_doc(d) for i, d in sorted(health.devices.items()) if d != HEALTHY}
    atomic_write(health_path(sim_dir), json.dumps({"schema": 1, "devices": devices}, indent=2))


def _parse_device(raw: Any) -> AmdDeviceHealth:
    if not isinstance(raw, dict):
        raise TypeError("not an object")
    unknown = set(raw) - {f.name for f in dataclasses.fields(AmdDeviceHealth)}
    if unknown:
        raise KeyError(f"unknown keys {sorted(unknown)}")
    pages = tuple(
        BadPage(int(p["address"]), int(p["size"]), int(p["status"]))
        for p in raw.get("bad_pages", ())
    )
    hotspot = raw.get("hotspot_c")
    return AmdDeviceHealth(
        correctable=int(raw.get("correctable", 0)),
        uncorrectable=int(raw.get("uncorrectable", 0)),
        deferred=int(raw.get("deferred", 0)),
        bad_pages=pages,
        xgmi_error=int(raw.get("xgmi_error", 0)),
        links_down=tuple(sorted({int(s) for s in raw.get("links_down", ())})),
        hotspot_c=None if hotspot is None else int(hotspot),
    )


@stat_cache(health_path)
def read_health(sim_dir: Path) -> AmdHealth:
    """Parse amd.json; an absent file is a healthy node. OSError when unreadable, ValueError
    naming the device when malformed."""
    path = health_path(sim_dir)
    try:
        doc: Any = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return AmdHealth()
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not JSON: {exc}") from exc
    devices = doc.get("devices") if isinstance(doc, dict) else None
    if not isinstance(devices, dict):
        raise ValueError(f"{path}: devices: not an object")
    parsed: dict[int, AmdDeviceHealth] = {}
    for key, raw in devices.items():
        try:
            parsed[int(key)] = _parse_device(raw)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}: devices[{key}]: {exc!r}") from exc
    return AmdHealth(parsed)


def update_device(
    sim_dir: Path, index: int, change: Callable[[AmdDeviceHealth], AmdDeviceHealth]
) -> AmdDeviceHealth:
    """Read, change one device, write back; returns the new state. Not locked: one injector at
    a time (faults are an operator's tool), readers always see a whole file."""
    health = read_health(sim_dir)
    new = change(health.device(index))
    write_health(sim_dir, AmdHealth({**health.devices, index: new}))
    return new


def xgmi_topology(model: str, count: int) -> tuple[tuple[int | None, ...], ...]:
    """For each device, the peer index behind each of its LINK_SLOTS slots (None: disabled)."""
    rows: list[list[int | None]] = []
    for dev in range(count):
        peers = [p for p in range(count) if p != dev]
        if model == "AMD Instinct MI250X":
            package_peer = dev ^ 1
            others = [p for p in peers if p != package_peer]
            slots: list[int | None] = [package_peer, package_peer, *others]
        elif model == "AMD Instinct MI300A":
            slots = [p for p in peers for _ in range(2)]
        else:
            slots = list(peers)
        slots = slots[:LINK_SLOTS]
        rows.append(slots + [None] * (LINK_SLOTS - len(slots)))
    return tuple(tuple(row) for row in rows)


def reciprocal_link(
    topology: tuple[tuple[int | None, ...], ...], device: int, slot: int
) -> tuple[int, int] | None:
    """(peer, peer's slot) at the other end of `device`'s link `slot`; None if it is disabled.

    The n-th link from a to b is the n-th link from b to a."""
    peer = topology[device][slot]
    if peer is None:
        return None
    nth = [s for s, p in enumerate(topology[device]) if p == peer].index(slot)
    return peer, [s for s, p in enumerate(topology[peer]) if p == device][nth]
