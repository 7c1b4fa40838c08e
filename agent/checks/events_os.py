"""Hardware events from the operating system: device removals (udev) and link changes (netlink).

`event_sources(hw)` gives the agent's runner one source of each kind that works on this node:
- `UdevRemovalSource` over a pyudev `Monitor` (real node) or a `SimUdevMonitor` (simulated
  node) - the same code over the same `poll(timeout) -> device | None` surface - emits
  HardwareEvent(kind="device_removed", subject=...) when a GPU (subsystem pci, subject gpuN by
  its bus id), a netdev (net, subject hsn0/eth0/ib0) or an InfiniBand HCA (infiniband, subject
  mlx5_0) that the node has is removed. Other devices are ignored.
- `LinkEventSource` over an `agent.checks.nic_netlink` port emits
  HardwareEvent(kind="link_changed", subject=<ifname>, data={"up": "0"|"1"}) when a hardware
  netdev's up/down state changes; repeats of the same state (RTM_NEWLINK also reports MTU and
  address changes) and virtual interfaces are dropped.
A source that cannot start (no libudev in a container, no netlink) is left out with one
warning log line: the periodic checks still see the hardware, only later.

The simulated udev log (<sim_dir>/events/udev.jsonl, see `agent.sim.events`) holds one record
per uevent: kind = the udev action ("remove", "add", ...), subject = the device's sys_name
(a PCI address such as 0000:03:00.0, hsn0, mlx5_0), data.subsystem = "pci" | "net" |
"infiniband". `agent.sim.faults_host.append_udev` writes one.
"""

from __future__ import annotations

import collections
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from agent.checks.base import EventSource, HardwareEvent
from agent.checks.nic_netlink import LinkPort, RtnetlinkPort, SimNetlinkPort
from agent.probes.gpu_amd import amd_gpus
from agent.probes.gpu_nvidia import nvidia_gpus
from agent.probes.nic import read_ib_ports, read_netdev, read_nics
from agent.profiles import PROFILES
from agent.sim.events import EventLogReader, event_log
from vcbase.logging import get_logger

if TYPE_CHECKING:
    from agent.hardware import NodeHardware

log = get_logger(__name__)

UDEV_SUBSYSTEMS = ("pci", "net", "infiniband")
_DRAIN_MAX = 256  # events taken from a monitor in one wait, so a storm cannot starve the caller


def _now() -> datetime:
    return datetime.now(UTC)


def normalize_bus_id(bus_id: str) -> str:
    """ "00000000:03:00.0" (NVML) and "0000:03:00.0" (sysfs) -> "0000:03:00.0", lower case."""
    domain, sep, rest = bus_id.strip().lower().partition(":")
    try:
        return f"{int(domain, 16):04x}{sep}{rest}" if sep else bus_id.lower()
    except ValueError:
        return bus_id.lower()


class UdevDevice(Protocol):
    @property
    def action(self) -> str | None: ...
    @property
    def subsystem(self) -> str | None: ...
    @property
    def sys_name(self) -> str: ...


class UdevMonitor(Protocol):
    def poll(self, timeout: float | None = None) -> UdevDevice | None: ...


@dataclass(frozen=True, slots=True)
class SimUdevDevice:
    action: str | None
    subsystem: str | None
    sys_name: str


class SimUdevMonitor:
    """pyudev's Monitor.poll over the simulated node's udev log (format: module docstring)."""

    def __init__(self, sim_dir: Path) -> None:
        self._reader = EventLogReader(event_log(sim_dir, "udev"))
        self._pending: collections.deque[SimUdevDevice] = collections.deque()

    def poll(self, timeout: float | None = None) -> SimUdevDevice | None:
        if not self._pending:
            events = self._reader.wait(timeout if timeout is not None else 1e9)
            self._pending.extend(
                SimUdevDevice(e.kind, e.data.get("subsystem"), e.subject) for e in events
            )
        return self._pending.popleft() if self._pending else None

    def close(self) -> None:
        self._reader.close()


class UdevRemovalSource:
    """device_removed events for the node's GPUs, NICs and HCAs (see the module docstring).

    `gpus` maps a normalized PCI bus id to its subject (gpu0...); `netdevs` and `hcas` are the
    names worth reporting.
    """

    name = "udev"

    def __init__(
        self,
        monitor: UdevMonitor,
        gpus: Mapping[str, str],
        netdevs: frozenset[str],
        hcas: frozenset[str],
        now: Callable[[], datetime] = _now,
    ) -> None:
        self._monitor: UdevMonitor | None = monitor
        self._gpus = dict(gpus)
        self._netdevs = netdevs
        self._hcas = hcas
        self._now = now

    def _subject(self, device: UdevDevice) -> str | None:
        if device.action != "remove":
            return None
        if device.subsystem == "pci":
            return self._gpus.get(normalize_bus_id(device.sys_name))
        if device.subsystem == "net" and device.sys_name in self._netdevs:
            return device.sys_name
        if device.subsystem == "infiniband" and device.sys_name in self._hcas:
            return device.sys_name
        return None

    def wait(self, timeout: float) -> list[HardwareEvent]:
        monitor = self._monitor
        if monitor is None:
            return []
        events: list[HardwareEvent] = []
        device = monitor.poll(timeout)
        while device is not None and len(events) < _DRAIN_MAX:
            subject = self._subject(device)
            if subject is not None:
                data = {"subsystem": device.subsystem or "", "device": device.sys_name}
                events.append(HardwareEvent("device_removed", subject, self._now(), data))
                log.info("device_removed", subject=subject, **data)
            device = monitor.poll(0)
        return events

    def close(self) -> None:
        if isinstance(self._monitor, SimUdevMonitor):
            self._monitor.close()
        self._monitor = None  # pyudev frees the libudev monitor with the object


def _hardware_links(root: Path) -> dict[str, bool]:
    """Up/down of every hardware netdev (one with a device link) under root."""
    links = {}
    for nic in read_nics(root):
        state = read_netdev(root, nic.name)
        if state is not None:
            links[nic.name] = state.link_up
    return links


class LinkEventSource:
    """link_changed events from a `LinkPort` for hardware netdevs, one per actual change.

    The last known state of each netdev starts from sysfs under `root` when the source is
    created, so the first message after a real change is reported and repeats are not.
    """

    name = "netlink"

    def __init__(self, port: LinkPort, root: Path, now: Callable[[], datetime] = _now) -> None:
        self._port = port
        self._root = root
        self._now = now
        self._last = _hardware_links(root)

    def _is_hardware(self, name: str) -> bool:
        return name in self._last or (self._root / "sys/class/net" / name / "device").exists()

    def wait(self, timeout: float) -> list[HardwareEvent]:
        events = []
        for message in self._port.read(timeout):
            name = message.name
            if name is None:
                try:
                    name = socket.if_indextoname(message.index)
                except OSError:
                    continue
            if name == "lo" or not self._is_hardware(name) or self._last.get(name) == message.up:
                continue
            self._last[name] = message.up
            up = "1" if message.up else "0"
            events.append(HardwareEvent("link_changed", name, self._now(), {"up": up}))
            log.info("link_changed", subject=name, up=up)
        return events

    def close(self) -> None:
        self._port.close()


def _gpu_subjects(hw: NodeHardware) -> dict[str, str]:
    gpus: dict[str, str] = {}
    try:
        found = (nvidia_gpus(hw.nvml) if hw.nvml else ()) + (
            amd_gpus(hw.amdsmi) if hw.amdsmi else ()
        )
    except Exception as exc:  # a GPU library error must not cost the NIC events
        log.warning("udev_gpu_map_unavailable", error=str(exc))
        return gpus
    for gpu in found:
        gpus[normalize_bus_id(gpu.pci_bus_id)] = f"gpu{gpu.index}"
    return gpus


def _real_udev_monitor() -> Any:
    import pyudev  # here, not at the top: a node without pyudev/libudev still runs

    context = pyudev.Context()
    # Without a udev daemon (containers) nothing re-broadcasts on the "udev" group: listen to
    # the kernel's uevents directly; removals carry what we need either way.
    source = "udev" if Path("/run/udev/control").exists() else "kernel"
    monitor = pyudev.Monitor.from_netlink(context, source=source)
    for subsystem in UDEV_SUBSYSTEMS:
        monitor.filter_by(subsystem)
    monitor.start()
    log.info("udev_monitor_started", source=source)
    return monitor


def event_sources(hw: NodeHardware) -> list[EventSource]:
    """The udev and netlink sources that work on this node; see the module docstring."""
    sources: list[EventSource] = []
    sim_dir = hw.root.parent if hw.simulated else None
    profile = PROFILES.get(hw.profile) if hw.profile else None
    try:
        netdevs = {nic.name for nic in read_nics(hw.root)}
        hcas = {hca for hca, _ in read_ib_ports(hw.root)}
    except OSError:
        netdevs, hcas = set(), set()
    if profile is not None:
        netdevs |= {nic.name for nic in profile.nics}
        hcas |= {nic.name for nic in profile.nics}
    try:
        monitor: UdevMonitor = (
            SimUdevMonitor(sim_dir) if sim_dir is not None else _real_udev_monitor()
        )
    except Exception as exc:  # ImportError, no libudev, netlink refused: fail soft
        log.warning("udev_unavailable", error=str(exc), error_type=type(exc).__name__)
    else:
        gpus = _gpu_subjects(hw)
        sources.append(UdevRemovalSource(monitor, gpus, frozenset(netdevs), frozenset(hcas)))
    try:
        port: LinkPort = SimNetlinkPort(sim_dir) if sim_dir is not None else RtnetlinkPort()
        sources.append(LinkEventSource(port, hw.root))
    except OSError as exc:
        log.warning("netlink_unavailable", error=str(exc))
    return sources
