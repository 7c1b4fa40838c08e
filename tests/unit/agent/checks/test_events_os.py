"""udev and netlink event sources: the pure netlink parser (examples and properties), both
sources over fakes, over the simulated node's logs, and over this machine."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st
from structlog.testing import capture_logs

from agent.checks import events_os
from agent.checks.events_os import (
    LinkEventSource,
    SimUdevDevice,
    SimUdevMonitor,
    UdevRemovalSource,
    event_sources,
    normalize_bus_id,
)
from agent.checks.nic_netlink import (
    IFF_LOWER_UP,
    IFF_RUNNING,
    IFF_UP,
    RTM_DELLINK,
    RTM_NEWLINK,
    LinkMessage,
    RtnetlinkPort,
    SimNetlinkPort,
    parse_link_messages,
)
from agent.hardware import NodeHardware, open_hardware
from agent.sim.faults_host import append_link, append_udev

NODE = "nid000042"
UP = IFF_UP | IFF_RUNNING | IFF_LOWER_UP
Logs = list[MutableMapping[str, Any]]


def _attr(kind: int, payload: bytes) -> bytes:
    body = struct.pack("=HH", 4 + len(payload), kind) + payload
    return body + b"\0" * (-len(body) % 4)


def _link(kind: int, index: int, flags: int, name: str | None = None, extra: bytes = b"") -> bytes:
    """One rtnetlink link message as the kernel sends it (ifinfomsg + attributes)."""
    attrs = extra + (_attr(3, name.encode() + b"\0") if name is not None else b"")
    body = struct.pack("=BxHiII", socket.AF_UNSPEC, 1, index, flags, 0xFFFFFFFF) + attrs
    return struct.pack("=IHHII", 16 + len(body), kind, 0, 0, 0) + body


def test_a_new_link_message_is_parsed() -> None:
    operstate = _attr(16, b"\x06")  # 5 bytes, padded to 8: the next attribute is aligned
    mtu = _attr(4, struct.pack("=I", 9000))
    data = _link(RTM_NEWLINK, 7, UP, "hsn0", extra=operstate + mtu)
    assert parse_link_messages(data) == [LinkMessage(7, UP, "hsn0")]


def test_several_messages_in_one_datagram_and_other_types_skipped() -> None:
    # An RTM_NEWROUTE of 21 bytes, padded to 24: the next message starts aligned.
    route = struct.pack("=IHHII", 21, 24, 0, 0, 0) + b"\0" * 5 + b"\0" * 3
    data = _link(RTM_NEWLINK, 2, IFF_UP, "eth0") + route + _link(RTM_DELLINK, 3, UP, "ib0")
    messages = parse_link_messages(data)
    assert [(m.name, m.up, m.deleted) for m in messages] == [
        ("eth0", False, False),
        ("ib0", False, True),
    ]


def test_nested_flag_bits_of_an_attribute_type_are_masked() -> None:
    name = struct.pack("=HH", 9, 3 | 0x8000) + b"hsn1\0" + b"\0" * 3
    (message,) = parse_link_messages(_link(RTM_NEWLINK, 4, UP, extra=name))
    assert message.name == "hsn1"


@pytest.mark.parametrize("cut", [1, 15, 16, 20, 31])
def test_a_truncated_datagram_yields_what_is_complete(cut: int) -> None:
    whole = _link(RTM_NEWLINK, 2, UP, "eth0")
    assert parse_link_messages(whole + whole[:cut]) == [LinkMessage(2, UP, "eth0")]


@given(st.binary(max_size=512))
def test_the_parser_never_raises(data: bytes) -> None:
    for message in parse_link_messages(data):
        assert isinstance(message.index, int) and isinstance(message.up, bool)


_names = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=15
)


@given(
    st.lists(
        st.tuples(
            st.sampled_from([RTM_NEWLINK, RTM_DELLINK]),
            st.integers(min_value=-(2**31), max_value=2**31 - 1),
            st.integers(min_value=0, max_value=2**32 - 1),
            st.none() | _names,
        ),
        max_size=8,
    )
)
def test_link_messages_roundtrip(specs: list[tuple[int, int, int, str | None]]) -> None:
    data = b"".join(_link(kind, index, flags, name) for kind, index, flags, name in specs)
    assert parse_link_messages(data) == [
        LinkMessage(index, flags, name, deleted=kind == RTM_DELLINK)
        for kind, index, flags, name in specs
    ]


@pytest.mark.parametrize(
    ("flags", "up"),
    [(UP, True), (IFF_UP | IFF_LOWER_UP, False), (IFF_RUNNING, False), (0, False)],
)
def test_up_means_administratively_up_and_running(flags: int, up: bool) -> None:
    assert LinkMessage(1, flags, "x").up is up


class _FakePort:
    def __init__(self, *batches: list[LinkMessage]) -> None:
        self.batches = list(batches)
        self.closed = False

    def read(self, timeout: float) -> list[LinkMessage]:
        return self.batches.pop(0) if self.batches else []

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def gh200(tmp_path: Path) -> NodeHardware:
    return open_hardware("gh200", NODE, tmp_path)


def test_link_events_are_changes_of_hardware_netdevs_only(gh200: NodeHardware) -> None:
    down = IFF_UP
    port = _FakePort(
        [LinkMessage(5, UP, "hsn0"), LinkMessage(5, down, "hsn0"), LinkMessage(5, down, "hsn0")],
        [LinkMessage(9, down, "veth1a2b"), LinkMessage(1, down, "lo"), LinkMessage(8, UP, "hsn0")],
    )
    source = LinkEventSource(port, gh200.root)
    first = source.wait(0.1)
    assert [(e.kind, e.subject, dict(e.data)) for e in first] == [
        ("link_changed", "hsn0", {"up": "0"})
    ]
    assert [dict(e.data) for e in source.wait(0.1)] == [{"up": "1"}]
    source.close()
    assert port.closed


def test_a_message_without_a_name_is_named_by_its_index(tmp_path: Path) -> None:
    hw = open_hardware(None, "ignored", tmp_path)
    hardware = [
        n for _, n in socket.if_nameindex() if (Path("/sys/class/net", n, "device")).exists()
    ]
    if not hardware:
        pytest.skip("this machine has no hardware netdev")
    index = socket.if_nametoindex(hardware[0])
    source = LinkEventSource(_FakePort([LinkMessage(index, 0, None)]), hw.root)
    (event,) = source.wait(0.1)
    assert (event.subject, event.data["up"]) == (hardware[0], "0")


class _FakeMonitor:
    def __init__(self, *devices: SimUdevDevice) -> None:
        self.devices = list(devices)
        self.timeouts: list[float | None] = []

    def poll(self, timeout: float | None = None) -> SimUdevDevice | None:
        self.timeouts.append(timeout)
        return self.devices.pop(0) if self.devices else None


def test_removals_of_the_nodes_devices_become_events() -> None:
    monitor = _FakeMonitor(
        SimUdevDevice("remove", "pci", "0000:41:00.0"),
        SimUdevDevice("remove", "pci", "0000:99:00.0"),  # not a GPU of ours
        SimUdevDevice("add", "net", "hsn0"),
        SimUdevDevice("remove", "net", "veth12"),
        SimUdevDevice("remove", "net", "hsn0"),
        SimUdevDevice("remove", "infiniband", "mlx5_0"),
    )
    gpus = {normalize_bus_id("00000000:41:00.0"): "gpu1"}
    source = UdevRemovalSource(monitor, gpus, frozenset({"hsn0"}), frozenset({"mlx5_0"}))
    events = source.wait(2.5)
    assert [(e.kind, e.subject, e.data["subsystem"]) for e in events] == [
        ("device_removed", "gpu1", "pci"),
        ("device_removed", "hsn0", "net"),
        ("device_removed", "mlx5_0", "infiniband"),
    ]
    assert monitor.timeouts[0] == 2.5 and set(monitor.timeouts[1:]) == {0}
    source.close()
    assert source.wait(0.1) == []


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("00000000:41:00.0", "0000:41:00.0"),
        ("0000:C1:00.1", "0000:c1:00.1"),
        ("00000009:01:00.0", "0009:01:00.0"),
        ("garbage", "garbage"),
    ],
)
def test_bus_ids_are_normalized(raw: str, normal: str) -> None:
    assert normalize_bus_id(raw) == normal


def test_the_sim_udev_monitor_replays_the_log_one_device_at_a_time(tmp_path: Path) -> None:
    monitor = SimUdevMonitor(tmp_path)
    assert monitor.poll(0) is None
    append_udev(tmp_path, "remove", "net", "hsn1")
    append_udev(tmp_path, "add", "net", "hsn1")
    assert monitor.poll(1.0) == SimUdevDevice("remove", "net", "hsn1")
    assert monitor.poll(0) == SimUdevDevice("add", "net", "hsn1")
    assert monitor.poll(0) is None


def test_simulated_node_sources_see_injected_events(tmp_path: Path) -> None:
    hw = open_hardware("a100", NODE, tmp_path)
    sources = {s.name: s for s in event_sources(hw)}
    assert set(sources) == {"udev", "netlink"}
    sim_dir = hw.root.parent
    append_udev(sim_dir, "remove", "pci", "0000:41:00.0")  # the bus id of the sim's gpu1
    append_link(sim_dir, "ib0", up=False)
    append_link(sim_dir, "ib0", up=False)
    (removed,) = sources["udev"].wait(1.0)
    assert (removed.kind, removed.subject) == ("device_removed", "gpu1")
    (changed,) = sources["netlink"].wait(1.0)
    assert (changed.kind, changed.subject, changed.data["up"]) == ("link_changed", "ib0", "0")
    for source in sources.values():
        source.close()


def test_the_sim_netlink_port_ignores_other_records(tmp_path: Path) -> None:
    port = SimNetlinkPort(tmp_path)
    append_udev(tmp_path, "remove", "net", "hsn0")  # another log: not seen
    append_link(tmp_path, "hsn0", up=True)
    assert port.read(1.0) == [LinkMessage(0, UP, "hsn0")]


@pytest.fixture
def logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Logs]:
    with capture_logs() as captured:
        monkeypatch.setattr(events_os, "log", structlog.get_logger(events_os.__name__))
        yield captured


def test_without_udev_the_node_still_gets_link_events(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, logs: Logs
) -> None:
    def no_udev() -> None:
        raise ImportError("libudev.so.1: cannot open shared object file")

    monkeypatch.setattr(events_os, "_real_udev_monitor", no_udev)
    sources = event_sources(open_hardware(None, "ignored", tmp_path))
    assert [s.name for s in sources] == ["netlink"]
    assert [e["event"] for e in logs].count("udev_unavailable") == 1
    for source in sources:
        source.close()


def test_this_machine(tmp_path: Path) -> None:
    sources = event_sources(open_hardware(None, "ignored", tmp_path))
    assert {s.name for s in sources} <= {"udev", "netlink"}
    for source in sources:
        assert isinstance(source.wait(0.01), list)
        source.close()


def test_the_rtnetlink_socket_opens_and_times_out() -> None:
    try:
        port = RtnetlinkPort()
    except OSError as exc:  # pragma: no cover - a sandbox without netlink
        pytest.skip(f"no netlink here: {exc}")
    try:
        assert isinstance(port.read(0.01), list)
    finally:
        port.close()
