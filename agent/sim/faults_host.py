"""Injectable NIC and host faults of the simulated node (see `agent.sim.fault` for the shape).

Each fault rewrites files of the simulated tree (<sim_dir>/root) the way the real kernel would
show the failure, and appends the event a real node would emit (netlink link change, udev
removal) to the simulated event logs, so a running agent's event sources see it. `clear`
writes the healthy state back; counters go back to their boot values, which the checks take
as a counter reset (as after the reboot or driver reload that a repair ends with).

Targets (SimTarget.device): a netdev for the cxi faults and nic-removed (default hsn0), an HCA
for ib-port-down (default mlx5_0), a mountpoint for filesystem-read-only (default the profile's
first required mount), a memory controller for edac-uncorrectable (default mc0), a process
name for process-missing (default slurmd). A device the node does not have is a ValueError
naming the valid ones.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from agent.profiles import PROFILES, NicSpec, Profile
from agent.sim.events import append_event, event_log
from agent.sim.fault import Expectation, Fault, SimTarget
from agent.sim.tree import (
    HEALTHY_IB_PORT,
    HEALTHY_LINK,
    atomic_write,
    cxi_speed_text,
    meminfo_text,
    mounts_text,
    process_pids,
)
from vcbase.domain import CheckAction, CheckStatus, NicKind

FLAPS = 20  # link restarts the cxi-flapping fault adds: above the default fail threshold (10)
_ALL = frozenset(PROFILES)


def append_udev(sim_dir: Path, action: str, subsystem: str, sys_name: str) -> None:
    """One uevent in the simulated udev log (format: `agent.checks.events_os`)."""
    append_event(event_log(sim_dir, "udev"), action, sys_name, subsystem=subsystem)


def append_link(sim_dir: Path, ifname: str, up: bool) -> None:
    """One link change in the simulated netlink log."""
    append_event(event_log(sim_dir, "netlink"), "link_changed", ifname, up="1" if up else "0")


def _root(target: SimTarget) -> Path:
    return target.sim_dir / "root"


def _profile(target: SimTarget) -> Profile:
    return PROFILES[target.profile]


def _write(directory: Path, attrs: dict[str, str]) -> None:
    for name, value in attrs.items():
        atomic_write(directory / name, value + "\n")


def _nic(target: SimTarget, default: str, kinds: tuple[NicKind, ...]) -> NicSpec:
    name = target.device or default
    nics = [n for n in _profile(target).nics if n.kind in kinds]
    for nic in nics:
        if nic.name == name:
            return nic
    valid = ", ".join(n.name for n in nics) or "none"
    raise ValueError(f"device {name!r}: not a NIC of this fault on {target.profile}: {valid}")


def _netdev(target: SimTarget, nic: NicSpec) -> Path:
    return _root(target) / "sys/class/net" / nic.name


def _cxi_link(target: SimTarget, nic: NicSpec) -> Path:
    return (_netdev(target, nic) / "device").resolve() / "port/0/link"


def _healthy_cxi(target: SimTarget, nic: NicSpec) -> None:
    _write(_netdev(target, nic), HEALTHY_LINK | {"speed": str(nic.speed_mbps)})
    link = _cxi_link(target, nic)
    _write(link, {"state": "up", "speed": cxi_speed_text(nic.speed_mbps), "up_count": "1"})
    _write(link / "counters", {"link_up": "1", "link_down": "0"})


# --- cxi-link-down / cxi-flapping ---------------------------------------------------------------


def _link_down(target: SimTarget) -> None:
    nic = _nic(target, "hsn0", (NicKind.SLINGSHOT,))
    down = {"operstate": "down", "carrier": "0", "speed": "-1", "carrier_changes": "3"}
    _write(_netdev(target, nic), down | {"carrier_down_count": "2"})
    _write(_cxi_link(target, nic), {"state": "down", "speed": "not up"})
    _write(_cxi_link(target, nic) / "counters", {"link_down": "1"})
    append_link(target.sim_dir, nic.name, up=False)


def _link_up(target: SimTarget) -> None:
    nic = _nic(target, "hsn0", (NicKind.SLINGSHOT,))
    _healthy_cxi(target, nic)
    append_link(target.sim_dir, nic.name, up=True)


def _flap(target: SimTarget) -> None:
    nic = _nic(target, "hsn0", (NicKind.SLINGSHOT,))
    counts = {"carrier_changes": str(2 + 2 * FLAPS), "carrier_up_count": str(1 + FLAPS)}
    _write(_netdev(target, nic), counts | {"carrier_down_count": str(1 + FLAPS)})
    _write(_cxi_link(target, nic), {"up_count": str(1 + FLAPS)})
    _write(
        _cxi_link(target, nic) / "counters", {"link_up": str(1 + FLAPS), "link_down": str(FLAPS)}
    )
    append_link(target.sim_dir, nic.name, up=False)
    append_link(target.sim_dir, nic.name, up=True)


# --- ib-port-down --------------------------------------------------------------------------------


def _ib_port(target: SimTarget) -> tuple[NicSpec, Path, str | None]:
    """The HCA, its port 1 directory and the IPoIB netdev on it (None if it has none)."""
    nic = _nic(target, "mlx5_0", (NicKind.INFINIBAND,))
    port = _root(target) / "sys/class/infiniband" / nic.name / "ports/1"
    net = _root(target) / "sys/class/net"
    ipoib = [p.name for p in net.iterdir() if (p / "device/infiniband" / nic.name).is_dir()]
    return nic, port, (sorted(ipoib)[0] if ipoib else None)


def _ib_down(target: SimTarget) -> None:
    _nic_spec, port, ipoib = _ib_port(target)
    _write(port, {"state": "1: DOWN", "phys_state": "2: Polling", "counters/link_downed": "1"})
    if ipoib is not None:
        _write(_root(target) / "sys/class/net" / ipoib, {"operstate": "down", "carrier": "0"})
        append_link(target.sim_dir, ipoib, up=False)


def _ib_up(target: SimTarget) -> None:
    _nic_spec, port, ipoib = _ib_port(target)
    _write(port, HEALTHY_IB_PORT | {"counters/link_downed": "0"})
    if ipoib is not None:
        _write(_root(target) / "sys/class/net" / ipoib, HEALTHY_LINK)
        append_link(target.sim_dir, ipoib, up=True)


# --- nic-removed ---------------------------------------------------------------------------------


def _stash(target: SimTarget, nic: NicSpec) -> Path:
    return target.sim_dir / "removed" / nic.name


def _remove_nic(target: SimTarget) -> None:
    nic = _nic(target, "hsn0", (NicKind.SLINGSHOT, NicKind.ETHERNET))
    netdev, stash = _netdev(target, nic), _stash(target, nic)
    if netdev.is_dir():
        shutil.rmtree(stash, ignore_errors=True)
        stash.parent.mkdir(parents=True, exist_ok=True)
        netdev.rename(stash)
    append_udev(target.sim_dir, "remove", "net", nic.name)


def _restore_nic(target: SimTarget) -> None:
    nic = _nic(target, "hsn0", (NicKind.SLINGSHOT, NicKind.ETHERNET))
    netdev, stash = _netdev(target, nic), _stash(target, nic)
    if stash.is_dir() and not netdev.exists():
        stash.rename(netdev)
    shutil.rmtree(stash, ignore_errors=True)
    append_udev(target.sim_dir, "add", "net", nic.name)


# --- host: memory, mounts, EDAC, processes --------------------------------------------------------


def _memory_missing(target: SimTarget) -> None:
    profile = _profile(target)
    atomic_write(
        _root(target) / "proc/meminfo", meminfo_text(profile, profile.memory_bytes * 7 // 8)
    )


def _memory_back(target: SimTarget) -> None:
    atomic_write(_root(target) / "proc/meminfo", meminfo_text(_profile(target)))


def _mountpoint(target: SimTarget) -> str:
    mounts = _profile(target).required_mounts
    name = target.device or (mounts[0] if mounts else "")
    if name not in mounts:
        raise ValueError(f"device {name!r}: not a required mount on {target.profile}: {mounts}")
    return name


def _read_only(target: SimTarget) -> None:
    text = mounts_text(_profile(target), read_only=frozenset({_mountpoint(target)}))
    atomic_write(_root(target) / "proc/mounts", text)


def _read_write(target: SimTarget) -> None:
    _mountpoint(target)
    atomic_write(_root(target) / "proc/mounts", mounts_text(_profile(target)))


def _controller(target: SimTarget) -> Path:
    name = target.device or "mc0"
    path = _root(target) / "sys/devices/system/edac/mc" / name
    if not name.startswith("mc") or not path.is_dir():
        raise ValueError(f"device {name!r}: no such memory controller on {target.profile}")
    return path


def _edac_ue(target: SimTarget) -> None:
    _write(_controller(target), {"ue_count": "1", "ce_count": "12"})


def _edac_clean(target: SimTarget) -> None:
    _write(_controller(target), {"ue_count": "0", "ce_count": "0"})


def _process(target: SimTarget) -> Path:
    name = target.device or "slurmd"
    pids = process_pids(_profile(target))
    if name not in pids:
        raise ValueError(f"device {name!r}: not a process of the node: {sorted(pids)}")
    return _root(target) / "proc" / str(pids[name])


def _kill(target: SimTarget) -> None:
    shutil.rmtree(_process(target), ignore_errors=True)


def _start(target: SimTarget) -> None:
    proc = _process(target)
    proc.mkdir(parents=True, exist_ok=True)
    atomic_write(proc / "comm", (target.device or "slurmd") + "\n")


def _expect(check: str, status: CheckStatus, action: CheckAction, subject: str) -> Expectation:
    return Expectation(check=check, status=status, action=action, subject=subject)


_FAIL = CheckStatus.FAIL

FAULTS: tuple[Fault, ...] = (
    Fault(
        name="cxi-link-down",
        description="Slingshot link down: operstate down, carrier 0, cxi link state down",
        profiles=_ALL,
        expect=_expect("nic.cxi", _FAIL, CheckAction.REBOOT, "hsn0"),
        event_driven=True,
        inject=_link_down,
        clear=_link_up,
    ),
    Fault(
        name="cxi-flapping",
        description=f"Slingshot link restarted {FLAPS} times (carrier_down_count jumps)",
        profiles=_ALL,
        expect=_expect("nic.cxi", _FAIL, CheckAction.REPAIR, "hsn0"),
        event_driven=True,
        inject=_flap,
        clear=_link_up,
    ),
    Fault(
        name="ib-port-down",
        description="InfiniBand HCA port 1 DOWN / Polling (no link partner), IPoIB down",
        profiles=frozenset(p.name for p in PROFILES.values() if p.nic_count(NicKind.INFINIBAND)),
        expect=_expect("nic.ib", _FAIL, CheckAction.REBOOT, "mlx5_0/1"),
        event_driven=True,
        inject=_ib_down,
        clear=_ib_up,
    ),
    Fault(
        name="nic-removed",
        description="A NIC disappeared from /sys/class/net (udev remove)",
        profiles=_ALL,
        expect=_expect("nic.cxi", _FAIL, CheckAction.REBOOT, "hsn0"),
        event_driven=True,
        inject=_remove_nic,
        clear=_restore_nic,
    ),
    Fault(
        name="memory-missing",
        description="MemTotal at 7/8 of the node type's memory (one DIMM of eight gone)",
        profiles=_ALL,
        expect=_expect("host.memory", _FAIL, CheckAction.REPAIR, "memory"),
        event_driven=False,
        inject=_memory_missing,
        clear=_memory_back,
    ),
    Fault(
        name="filesystem-read-only",
        description="A required mount turned read-only in /proc/mounts",
        profiles=_ALL,
        expect=_expect("host.mounts", _FAIL, CheckAction.REBOOT, "/scratch"),
        event_driven=False,
        inject=_read_only,
        clear=_read_write,
    ),
    Fault(
        name="edac-uncorrectable",
        description="An uncorrected memory error counted by EDAC memory controller mc0",
        profiles=_ALL,
        expect=_expect("host.mce", _FAIL, CheckAction.REPAIR, "mc0"),
        event_driven=False,
        inject=_edac_ue,
        clear=_edac_clean,
    ),
    Fault(
        name="process-missing",
        description="A required daemon (slurmd) is not running",
        profiles=_ALL,
        expect=_expect("host.processes", _FAIL, CheckAction.NONE, "slurmd"),
        event_driven=False,
        inject=_kill,
        clear=_start,
    ),
)
