"""NIC probe over hand-built sysfs trees (every kind and edge), and over this machine's /sys."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agent.probes.nic import parse_ib_rate, read_nics
from vcbase.domain import NicInfo, NicKind


def _link(link: Path, target: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(os.path.relpath(target, link.parent))


def _device(root: Path, bdf: str, driver: str) -> Path:
    device = root / "sys/devices/pci0000:00" / bdf
    device.mkdir(parents=True)
    drv = root / "sys/bus/pci/drivers" / driver
    drv.mkdir(parents=True, exist_ok=True)
    _link(device / "driver", drv)
    return device


def _netdev(root: Path, name: str, device: Path | None, **attrs: str) -> Path:
    netdev = root / "sys/class/net" / name
    netdev.mkdir(parents=True)
    defaults = {"type": "1", "address": "02:00:00:00:00:01", "operstate": "up", "carrier": "1"}
    for attr, value in (defaults | attrs).items():
        (netdev / attr).write_text(value + "\n")
    if device is not None:
        _link(netdev / "device", device)
    return netdev


def _ib_port(root: Path, hca: str, port: int, device: Path, **attrs: str) -> None:
    base = root / "sys/class/infiniband" / hca
    if not base.exists():
        base.mkdir(parents=True)
        _link(base / "device", device)
        (device / "infiniband" / hca).mkdir(parents=True)
    port_dir = base / "ports" / str(port)
    port_dir.mkdir(parents=True)
    defaults = {
        "state": "4: ACTIVE",
        "phys_state": "5: LinkUp",
        "rate": "200 Gb/sec (4X HDR)",
        "link_layer": "InfiniBand",
    }
    for attr, value in (defaults | attrs).items():
        (port_dir / attr).write_text(value + "\n")


def test_slingshot_by_cxi_driver_and_ethernet_by_type(tmp_path: Path) -> None:
    _netdev(tmp_path, "hsn0", _device(tmp_path, "0000:c2:00.0", "cxi_ss1"), speed="200000")
    _netdev(
        tmp_path, "eth0", _device(tmp_path, "0000:01:00.0", "igb"), speed="1000", address="aa:bb"
    )
    assert read_nics(tmp_path) == (
        NicInfo("eth0", NicKind.ETHERNET, "aa:bb", 1000, True, "igb"),
        NicInfo("hsn0", NicKind.SLINGSHOT, "02:00:00:00:00:01", 200_000, True, "cxi_ss1"),
    )


def test_loopback_virtual_and_foreign_link_types_are_skipped(tmp_path: Path) -> None:
    _netdev(tmp_path, "lo", _device(tmp_path, "lo-dev", "none"), type="772")
    _netdev(tmp_path, "br0", None)
    _netdev(tmp_path, "dangling", tmp_path / "sys/devices/gone")
    _netdev(tmp_path, "tun0", _device(tmp_path, "0000:02:00.0", "tun"), type="65534")
    assert read_nics(tmp_path) == ()


def test_no_sysfs_at_all_means_no_nics(tmp_path: Path) -> None:
    assert read_nics(tmp_path) == ()


@pytest.mark.parametrize("speed", ["-1", "", "fast"])
def test_meaningless_speed_reads_zero(tmp_path: Path, speed: str) -> None:
    _netdev(tmp_path, "eth0", _device(tmp_path, "0000:01:00.0", "virtio_net"), speed=speed)
    assert read_nics(tmp_path)[0].speed_mbps == 0


def test_unreadable_speed_reads_zero(tmp_path: Path) -> None:
    netdev = _netdev(tmp_path, "eth0", _device(tmp_path, "0000:01:00.0", "ice"))
    (netdev / "speed").mkdir()  # reading it fails with an OSError, like EINVAL on a down link
    assert read_nics(tmp_path)[0].speed_mbps == 0


@pytest.mark.parametrize(
    ("operstate", "carrier", "up"),
    [("up", "1", True), ("down", "1", False), ("unknown", "1", True), ("unknown", "0", False)],
)
def test_link_state(tmp_path: Path, operstate: str, carrier: str, up: bool) -> None:
    device = _device(tmp_path, "0000:01:00.0", "mlx5_core")
    _netdev(tmp_path, "eth0", device, operstate=operstate, carrier=carrier)
    assert read_nics(tmp_path)[0].link_up is up


def test_ipoib_netdev_takes_state_and_rate_from_its_hca_port(tmp_path: Path) -> None:
    device = _device(tmp_path, "0000:41:00.0", "mlx5_core")
    _ib_port(tmp_path, "mlx5_0", 1, device, rate="400 Gb/sec (4X NDR)")
    _netdev(tmp_path, "ib0", device, type="32", operstate="down", dev_port="0", speed="-1")
    (nic,) = read_nics(tmp_path)
    assert (nic.name, nic.kind, nic.speed_mbps, nic.link_up) == (
        "ib0",
        NicKind.INFINIBAND,
        400_000,
        True,
    )
    assert nic.driver == "mlx5_core"


def test_ib_port_without_netdev_is_reported_and_roce_is_not(tmp_path: Path) -> None:
    ib = _device(tmp_path, "0000:41:00.0", "mlx5_core")
    _ib_port(tmp_path, "mlx5_0", 1, ib, state="1: DOWN", phys_state="3: Disabled")
    roce = _device(tmp_path, "0000:81:00.0", "mlx5_core")
    _ib_port(tmp_path, "mlx5_1", 1, roce, link_layer="Ethernet")
    _netdev(tmp_path, "ens1", roce, speed="100000")
    assert read_nics(tmp_path) == (
        NicInfo("ens1", NicKind.ETHERNET, "02:00:00:00:00:01", 100_000, True, "mlx5_core"),
        NicInfo("mlx5_0/1", NicKind.INFINIBAND, "", 200_000, False, "mlx5_core"),
    )


@pytest.mark.parametrize(
    ("text", "mbps"),
    [
        ("200 Gb/sec (4X HDR)", 200_000),
        ("100 Gb/sec (4X EDR)", 100_000),
        ("2.5 Gb/sec (1X SDR)", 2_500),
        ("", 0),
        ("unknown", 0),
    ],
)
def test_ib_rate(text: str, mbps: int) -> None:
    assert parse_ib_rate(text) == mbps


def test_this_machines_sys() -> None:
    net = Path("/sys/class/net")
    expected = {
        p.name
        for p in net.iterdir()
        if p.name != "lo"
        and (p / "device").exists()
        and (p / "type").read_text().strip() in ("1", "32")
    }
    nics = read_nics(Path("/"))
    assert {n.name for n in nics} >= expected
    assert all(n.name != "lo" for n in nics)
    assert all(n.speed_mbps >= 0 for n in nics)
