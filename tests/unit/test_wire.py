"""Domain <-> protobuf conversion round-trips, and rejects values it cannot map."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from vcluster.v1 import types_pb2 as pb

from vcbase import wire
from vcbase.domain import (
    CheckAction,
    CheckResult,
    CheckStatus,
    GpuInfo,
    GpuVendor,
    Hello,
    Inventory,
    NicInfo,
    NicKind,
    NodeRecord,
    NodeState,
)

text = st.text(max_size=20)
u32 = st.integers(min_value=0, max_value=2**32 - 1)
u64 = st.integers(min_value=0, max_value=2**64 - 1)
moments = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)
gpus = st.builds(
    GpuInfo,
    index=u32,
    vendor=st.sampled_from(GpuVendor),
    model=text,
    uuid=text,
    pci_bus_id=text,
    memory_bytes=u64,
    driver_version=text,
)
nics = st.builds(
    NicInfo,
    name=text,
    kind=st.sampled_from(NicKind),
    address=text,
    speed_mbps=u64,
    link_up=st.booleans(),
    driver=text,
)
inventories = st.builds(
    Inventory,
    hostname=text,
    node_type=text,
    cpu_model=text,
    cpu_cores=u32,
    memory_bytes=u64,
    kernel=text,
    architecture=text,
    gpus=st.lists(gpus, max_size=8).map(tuple),
    nics=st.lists(nics, max_size=5).map(tuple),
    simulated=st.booleans(),
)


@given(inv=inventories)
def test_inventory_round_trips(inv: Inventory) -> None:
    assert wire.inventory_from_pb(wire.inventory_to_pb(inv)) == inv


@given(
    inv=st.none() | inventories,
    name=text,
    state=st.sampled_from(NodeState),
    t1=moments,
    t2=moments,
    hb=st.none() | moments,
    connected=st.booleans(),
)
def test_node_round_trips(
    inv: Inventory | None,
    name: str,
    state: NodeState,
    t1: datetime,
    t2: datetime,
    hb: datetime | None,
    connected: bool,
) -> None:
    node = NodeRecord(
        name=name,
        state=state,
        machine_id="m",
        boot_id="b",
        agent_version="v",
        registered_at=t1,
        state_since=t2,
        last_heartbeat=hb,
        state_reason="r",
        inventory=inv,
        connected=connected,
        peer="p",
    )
    assert wire.node_from_pb(wire.node_to_pb(node)) == node


@given(inv=st.none() | inventories, name=text)
def test_hello_round_trips(inv: Inventory | None, name: str) -> None:
    hello = Hello(name, "m", "b", "0.1.0", inv)
    assert wire.hello_from_pb(wire.hello_to_pb(hello)) == hello


@given(
    status=st.sampled_from(CheckStatus),
    action=st.sampled_from(CheckAction),
    observed=st.dictionaries(text, text, max_size=4),
    at=st.none() | moments,
)
def test_check_result_round_trips(
    status: CheckStatus, action: CheckAction, observed: dict[str, str], at: datetime | None
) -> None:
    result = CheckResult("nvidia.xid", "gpu0", status, action, "msg", observed, at)
    assert wire.check_result_from_pb(wire.check_result_to_pb(result)) == result


def test_timestamps_are_converted_to_utc() -> None:
    cest = datetime(2026, 7, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    ts = wire.timestamp_to_pb(cest)
    assert ts is not None
    assert wire.timestamp_from_pb(ts) == datetime(2026, 7, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("message", "field"),
    [
        (
            pb.Inventory(gpus=[pb.GpuInfo(vendor=pb.GpuInfo.VENDOR_UNSPECIFIED)]),
            "inventory.gpus[0].vendor",
        ),
        (pb.Inventory(nics=[pb.NicInfo(), pb.NicInfo(kind=9)]), "inventory.nics[0].kind"),  # type: ignore[arg-type]
    ],
)
def test_unmappable_enum_values_name_the_field(message: pb.Inventory, field: str) -> None:
    with pytest.raises(wire.WireError) as info:
        wire.inventory_from_pb(message)
    assert info.value.field == field


def test_unknown_node_state_is_refused() -> None:
    with pytest.raises(wire.WireError, match="unknown node state"):
        wire.node_from_pb(pb.Node(state=pb.NODE_STATE_UNSPECIFIED))
