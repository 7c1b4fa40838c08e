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
