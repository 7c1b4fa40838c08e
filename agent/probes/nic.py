"""Network interfaces from sysfs under a root directory (real "/" or the simulated node's tree).

Contract of `read_nics(root)`:
- walks <root>/sys/class/net/*, skipping `lo` and every interface without a `device` link
  (bridges, veths, tunnels, ifb: virtual, not hardware);
- kind: driver name starting with "cxi" (HPE Cassini, `cxi_ss1`) => Slingshot; ARPHRD type 32
  => InfiniBand (IPoIB); type 1 => Ethernet; other link types are skipped;
- address, operstate, carrier and speed are read per interface; an unreadable or negative speed
  (a down link answers EINVAL, virtio answers -1) reads 0;
- InfiniBand ports come from <root>/sys/class/infiniband/<hca>/ports/<n>/{state,phys_state,rate}:
  an IPoIB netdev takes its link state and rate from its HCA port; an IB port without a netdev
  is still reported, named "<hca>/<port>"; RoCE ports (link_layer Ethernet) are left to the
  Ethernet netdev that carries them.
Never raises for a missing optional file; returns interfaces sorted by name.

The health checks read more per NIC (`read_netdev`: operstate, carrier, speed and the link
restart counters; `read_aer`: the PCI device's AER totals; `read_cxi_link`: the Slingshot link
driver's <device>/port/0/link/{state,speed}; `read_ib_counter`: an HCA port's error counters).
These return None for what is absent instead of raising, so a check can say `unknown` per NIC.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from vcbase.domain import NicInfo, NicKind

ARPHRD_ETHER = 1
ARPHRD_INFINIBAND = 32

_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*Gb/sec")


@dataclass(frozen=True, slots=True)
class IbPort:
    hca: str
    port: int
    state: str
    phys_state: str
    rate_mbps: int
    link_layer: str

    @property
    def active(self) -> bool:
        return "ACTIVE" in self.state and "LinkUp" in self.phys_state


def _text(path: Path) -> str | None:
    """Stripped content of a sysfs attribute; None when absent or unreadable (EINVAL...)."""
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None


def _number(path: Path) -> int | None:
    raw = _text(path)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        return None


def parse_ib_rate(text: str) -> int:
    """Mb/s from an IB port's `rate` ("200 Gb/sec (4X HDR)"); 0 when unparsable."""
    match = _RATE.match(text)
    return round(float(match.group(1)) * 1000) if match else 0


def _driver(device: Path) -> str:
    link = device / "driver"
    return Path(os.path.realpath(link)).name if link.exists() else ""


def read_ib_ports(root: Path) -> dict[tuple[str, int], IbPort]:
    """Every port of every HCA under <root>/sys/class/infiniband, keyed by (hca, port)."""
    ports: dict[tuple[str, int], IbPort] = {}
    base = root / "sys/class/infiniband"
    if not base.is_dir():
        return ports
    for hca in sorted(base.iterdir()):
        ports_dir = hca / "ports"
        if not ports_dir.is_dir():
            continue
        for port_dir in ports_dir.iterdir():
            if not port_dir.name.isdigit():
                continue
            port = int(port_dir.name)
            ports[(hca.name, port)] = IbPort(
                hca=hca.name,
                port=port,
                state=_text(port_dir / "state") or "",
                phys_state=_text(port_dir / "phys_state") or "",
                rate_mbps=parse_ib_rate(_text(port_dir / "rate") or ""),
                link_layer=_text(port_dir / "link_layer") or "InfiniBand",
            )
    return ports


def _ib_port_of(netdev: Path, ports: dict[tuple[str, int], IbPort]) -> IbPort | None:
    """The HCA port behind an IPoIB netdev: device/infiniband/<hca>, port dev_port + 1."""
    hcas = netdev / "device/infiniband"
    if not hcas.is_dir():
        return None
    names = sorted(p.name for p in hcas.iterdir())
    if not names:
        return None
    port = (_number(netdev / "dev_port") or 0) + 1
    return ports.get((names[0], port))


def _link_up(netdev: Path) -> bool:
    operstate = _text(netdev / "operstate") or ""
    if operstate == "up":
        return True
    return operstate == "unknown" and _number(netdev / "carrier") == 1


def read_nics(root: Path) -> tuple[NicInfo, ...]:
    """Hardware network interfaces under `root` (see the module docstring). Blocking."""
    ports = read_ib_ports(root)
    claimed: set[tuple[str, int]] = set()
    nics: list[NicInfo] = []
    base = root / "sys/class/net"
    names = sorted(p.name for p in base.iterdir()) if base.is_dir() else []
    for name in names:
        netdev = base / name
        device = netdev / "device"
        if name == "lo" or not device.exists():
            continue
        link_type = _number(netdev / "type")
        driver = _driver(device)
        speed = max(_number(netdev / "speed") or 0, 0)
        link_up = _link_up(netdev)
        if driver.startswith("cxi"):
            kind = NicKind.SLINGSHOT
        elif link_type == ARPHRD_INFINIBAND:
            kind = NicKind.INFINIBAND
            port = _ib_port_of(netdev, ports)
            if port is not None:
                claimed.add((port.hca, port.port))
                speed, link_up = port.rate_mbps, port.active
        elif link_type == ARPHRD_ETHER:
            kind = NicKind.ETHERNET
        else:
            continue
        nics.append(
            NicInfo(
                name=name,
                kind=kind,
                address=_text(netdev / "address") or "",
                speed_mbps=speed,
                link_up=link_up,
                driver=driver,
            )
        )
    for key, port in sorted(ports.items()):
        if key in claimed or port.link_layer != "InfiniBand":
            continue
        hca_device = root / "sys/class/infiniband" / port.hca / "device"
        nics.append(
            NicInfo(
                name=f"{port.hca}/{port.port}",
                kind=NicKind.INFINIBAND,
                speed_mbps=port.rate_mbps,
                link_up=port.active,
                driver=_driver(hca_device),
            )
        )
    return tuple(sorted(nics, key=lambda nic: nic.name))


# --- link health: what the NIC health checks read ------------------------------------------------


@dataclass(frozen=True, slots=True)
class NetdevState:
    """Link facts of one netdev from <root>/sys/class/net/<name>. None: attribute absent or
    unreadable (an older kernel has no carrier_down_count; a down link answers EINVAL for
    speed and carrier)."""

    name: str
    operstate: str
    carrier: int | None
    speed_mbps: int | None  # None or negative in sysfs (unknown, link down) reads None
    carrier_changes: int | None
    carrier_down_count: int | None
    driver: str
    device: Path | None  # the resolved PCI (or virtio) device directory, None if virtual

    @property
    def link_up(self) -> bool:
        return self.operstate == "up" and self.carrier == 1

    @property
    def link_restarts(self) -> int | None:
        """Times the carrier went down since the netdev was created: carrier_down_count, or
        half of carrier_changes (rounded up) on kernels without it."""
        if self.carrier_down_count is not None:
            return self.carrier_down_count
        if self.carrier_changes is not None:
            return (self.carrier_changes + 1) // 2
        return None


def read_netdev(root: Path, name: str) -> NetdevState | None:
    """The link state of netdev `name` under `root`; None when there is no such netdev."""
    netdev = root / "sys/class/net" / name
    if not netdev.is_dir():
        return None
    device_link = netdev / "device"
    device = Path(os.path.realpath(device_link)) if device_link.exists() else None
    speed = _number(netdev / "speed")
    return NetdevState(
        name=name,
        operstate=_text(netdev / "operstate") or "",
        carrier=_number(netdev / "carrier"),
        speed_mbps=speed if speed is not None and speed >= 0 else None,
        carrier_changes=_number(netdev / "carrier_changes"),
        carrier_down_count=_number(netdev / "carrier_down_count"),
        driver=_driver(device_link) if device is not None else "",
        device=device,
    )


@dataclass(frozen=True, slots=True)
class AerCounts:
    """PCIe Advanced Error Reporting totals of one device since boot."""

    correctable: int
    nonfatal: int
    fatal: int

    @property
    def uncorrectable(self) -> int:
        return self.nonfatal + self.fatal


def parse_aer(text: str) -> int | None:
    """The total of one aer_dev_* file ("RxErr 0\\nBadTLP 2\\n...TOTAL_ERR_COR 2\\n").

    The kernel's TOTAL_ERR_* line when present, else the sum of the per-error lines; None when
    the text holds no `<name> <count>` line at all. Never raises.
    """
    values: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            values[parts[0]] = int(parts[1])
    totals = [v for k, v in values.items() if k.startswith("TOTAL_")]
    if totals:
        return totals[0]
    return sum(values.values()) if values else None


def read_aer(device: Path) -> AerCounts | None:
    """AER counters of a PCI device directory (aer_dev_correctable/_nonfatal/_fatal, Linux
    >= 4.20 with CONFIG_PCIEAER); None when the device has none of them or one is garbled."""
    found: list[int] = []
    for name in ("aer_dev_correctable", "aer_dev_nonfatal", "aer_dev_fatal"):
        raw = _text(device / name)
        total = parse_aer(raw) if raw is not None else None
        if total is None:
            return None
        found.append(total)
    return AerCounts(*found)


_CXI_SPEED = re.compile(r"(\d+)G$")


def parse_cxi_speed(text: str) -> int | None:
    """Mb/s from a Slingshot link's `speed` attribute ("bs200G", "ck400G"); None for "not up"
    or anything unrecognised."""
    match = _CXI_SPEED.search(text.strip())
    return int(match.group(1)) * 1000 if match else None


@dataclass(frozen=True, slots=True)
class CxiLink:
    """The Slingshot link driver's view of port 0 of a Cassini NIC, from
    <device>/port/0/link/{state,speed} ("up", "down", "starting"...; "bs200G" or "not up").
    Cassini NICs whose driver exposes no port directory have no CxiLink."""

    state: str
    speed_mbps: int | None


def read_cxi_link(device: Path) -> CxiLink | None:
    """The cxi link attributes under a Cassini PCI device; None where the driver has none."""
    link = device / "port/0/link"
    state = _text(link / "state")
    if state is None:
        return None
    return CxiLink(state=state, speed_mbps=parse_cxi_speed(_text(link / "speed") or ""))


def read_ib_counter(root: Path, hca: str, port: int, counter: str) -> int | None:
    """<root>/sys/class/infiniband/<hca>/ports/<port>/counters/<counter> (symbol_error,
    link_downed, ...); None when absent or not a number."""
    return _number(root / "sys/class/infiniband" / hca / "ports" / str(port) / "counters" / counter)
