"""Conversion between the generated protobuf types and the domain types.

This module and the gRPC edges (servicers, stubs) are the only places that import `vcluster.v1`;
tests/unit/test_wire_boundary.py keeps it that way.
"""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp
from vcluster.v1 import agent_gateway_pb2 as gw
from vcluster.v1 import types_pb2 as pb

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

_GPU_VENDOR_TO_PB = {
    GpuVendor.NVIDIA: pb.GpuInfo.VENDOR_NVIDIA,
    GpuVendor.AMD: pb.GpuInfo.VENDOR_AMD,
}
_GPU_VENDOR_FROM_PB = {v: k for k, v in _GPU_VENDOR_TO_PB.items()}
_NIC_KIND_TO_PB = {
    NicKind.SLINGSHOT: pb.NicInfo.KIND_SLINGSHOT,
    NicKind.INFINIBAND: pb.NicInfo.KIND_INFINIBAND,
    NicKind.ETHERNET: pb.NicInfo.KIND_ETHERNET,
}
_NIC_KIND_FROM_PB = {v: k for k, v in _NIC_KIND_TO_PB.items()}
_STATE_TO_PB = {
    NodeState.REGISTERED: pb.NODE_STATE_REGISTERED,
    NodeState.CONFIGURING: pb.NODE_STATE_CONFIGURING,
    NodeState.READY: pb.NODE_STATE_READY,
    NodeState.DRAINING: pb.NODE_STATE_DRAINING,
    NodeState.DRAINED: pb.NODE_STATE_DRAINED,
    NodeState.REBOOTING: pb.NODE_STATE_REBOOTING,
    NodeState.VALIDATING: pb.NODE_STATE_VALIDATING,
    NodeState.SET_ASIDE: pb.NODE_STATE_SET_ASIDE,
    NodeState.LOST: pb.NODE_STATE_LOST,
}
_STATE_FROM_PB = {v: k for k, v in _STATE_TO_PB.items()}
_STATUS_TO_PB = {
    CheckStatus.OK: pb.CheckResult.STATUS_OK,
    CheckStatus.WARN: pb.CheckResult.STATUS_WARN,
    CheckStatus.FAIL: pb.CheckResult.STATUS_FAIL,
    CheckStatus.UNKNOWN: pb.CheckResult.STATUS_UNKNOWN,
}
_STATUS_FROM_PB = {v: k for k, v in _STATUS_TO_PB.items()}
_ACTION_TO_PB = {
    CheckAction.NONE: pb.CheckResult.ACTION_NONE,
    CheckAction.REBOOT: pb.CheckResult.ACTION_REBOOT,
    CheckAction.REPAIR: pb.CheckResult.ACTION_REPAIR,
}
_ACTION_FROM_PB = {v: k for k, v in _ACTION_TO_PB.items()}


class WireError(ValueError):
    """A message from the wire does not map onto the domain (unknown enum value, ...)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


def timestamp_to_pb(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    ts = Timestamp()
    ts.FromDatetime(value.astimezone(UTC))
    return ts


def timestamp_from_pb(msg: Timestamp, present: bool = True) -> datetime | None:
    if not present:
        return None
    return msg.ToDatetime(tzinfo=UTC)


def state_to_pb(state: NodeState) -> pb.NodeState.ValueType:
    return _STATE_TO_PB[state]


def state_from_pb(value: int, field: str = "state") -> NodeState:
    try:
        return _STATE_FROM_PB[value]  # type: ignore[index]
    except KeyError:
        raise WireError(field, f"unknown node state {value}") from None


def gpu_to_pb(gpu: GpuInfo) -> pb.GpuInfo:
    return pb.GpuInfo(
        index=gpu.index,
        vendor=_GPU_VENDOR_TO_PB[gpu.vendor],
        model=gpu.model,
        uuid=gpu.uuid,
        pci_bus_id=gpu.pci_bus_id,
        memory_bytes=gpu.memory_bytes,
        driver_version=gpu.driver_version,
    )


def gpu_from_pb(msg: pb.GpuInfo, field: str = "gpu") -> GpuInfo:
    vendor = _GPU_VENDOR_FROM_PB.get(msg.vendor)
    if vendor is None:
        raise WireError(f"{field}.vendor", f"unknown GPU vendor {msg.vendor}")
    return GpuInfo(
        index=msg.index,
        vendor=vendor,
        model=msg.model,
        uuid=msg.uuid,
        pci_bus_id=msg.pci_bus_id,
        memory_bytes=msg.memory_bytes,
        driver_version=msg.driver_version,
    )


def nic_to_pb(nic: NicInfo) -> pb.NicInfo:
    return pb.NicInfo(
        name=nic.name,
        kind=_NIC_KIND_TO_PB[nic.kind],
        address=nic.address,
        speed_mbps=nic.speed_mbps,
        link_up=nic.link_up,
        driver=nic.driver,
    )


def nic_from_pb(msg: pb.NicInfo, field: str = "nic") -> NicInfo:
    kind = _NIC_KIND_FROM_PB.get(msg.kind)
    if kind is None:
        raise WireError(f"{field}.kind", f"unknown NIC kind {msg.kind}")
    return NicInfo(
        name=msg.name,
        kind=kind,
        address=msg.address,
        speed_mbps=msg.speed_mbps,
        link_up=msg.link_up,
        driver=msg.driver,
    )


def inventory_to_pb(inv: Inventory) -> pb.Inventory:
    return pb.Inventory(
        hostname=inv.hostname,
        node_type=inv.node_type,
        cpu_model=inv.cpu_model,
        cpu_cores=inv.cpu_cores,
        memory_bytes=inv.memory_bytes,
        kernel=inv.kernel,
        architecture=inv.architecture,
        gpus=[gpu_to_pb(g) for g in inv.gpus],
        nics=[nic_to_pb(n) for n in inv.nics],
        simulated=inv.simulated,
    )


def inventory_from_pb(msg: pb.Inventory, field: str = "inventory") -> Inventory:
    return Inventory(
        hostname=msg.hostname,
        node_type=msg.node_type,
        cpu_model=msg.cpu_model,
        cpu_cores=msg.cpu_cores,
        memory_bytes=msg.memory_bytes,
        kernel=msg.kernel,
        architecture=msg.architecture,
        gpus=tuple(gpu_from_pb(g, f"{field}.gpus[{i}]") for i, g in enumerate(msg.gpus)),
        nics=tuple(nic_from_pb(n, f"{field}.nics[{i}]") for i, n in enumerate(msg.nics)),
        simulated=msg.simulated,
    )


def check_result_to_pb(result: CheckResult) -> pb.CheckResult:
    msg = pb.CheckResult(
        check=result.check,
        subject=result.subject,
        status=_STATUS_TO_PB[result.status],
        action=_ACTION_TO_PB[result.action],
        message=result.message,
        observed=result.observed,
    )
    ts = timestamp_to_pb(result.observed_at)
    if ts is not None:
        msg.observed_at.CopyFrom(ts)
    return msg


def check_result_from_pb(msg: pb.CheckResult, field: str = "result") -> CheckResult:
    status = _STATUS_FROM_PB.get(msg.status)
    if status is None:
        raise WireError(f"{field}.status", f"unknown check status {msg.status}")
    action = _ACTION_FROM_PB.get(msg.action)
    if action is None:
        raise WireError(f"{field}.action", f"unknown check action {msg.action}")
    return CheckResult(
        check=msg.check,
        subject=msg.subject,
        status=status,
        action=action,
        message=msg.message,
        observed=dict(msg.observed),
        observed_at=timestamp_from_pb(msg.observed_at, msg.HasField("observed_at")),
    )


def hello_to_pb(hello: Hello) -> gw.Hello:
    msg = gw.Hello(
        node_name=hello.node_name,
        machine_id=hello.machine_id,
        boot_id=hello.boot_id,
        agent_version=hello.agent_version,
    )
    if hello.inventory is not None:
        msg.inventory.CopyFrom(inventory_to_pb(hello.inventory))
    return msg


def hello_from_pb(msg: gw.Hello) -> Hello:
    return Hello(
        node_name=msg.node_name,
        machine_id=msg.machine_id,
        boot_id=msg.boot_id,
        agent_version=msg.agent_version,
        inventory=inventory_from_pb(msg.inventory, "hello.inventory")
        if msg.HasField("inventory")
        else None,
    )


def node_to_pb(node: NodeRecord) -> pb.Node:
    msg = pb.Node(
        name=node.name,
        state=state_to_pb(node.state),
        machine_id=node.machine_id,
        boot_id=node.boot_id,
        agent_version=node.agent_version,
        connected=node.connected,
        state_reason=node.state_reason,
        peer=node.peer,
    )
    for name, value in (
        ("registered_at", node.registered_at),
        ("last_heartbeat", node.last_heartbeat),
        ("state_since", node.state_since),
    ):
        ts = timestamp_to_pb(value)
        if ts is not None:
            getattr(msg, name).CopyFrom(ts)
    if node.inventory is not None:
        msg.inventory.CopyFrom(inventory_to_pb(node.inventory))
    if node.health is not None:
        msg.health = _STATUS_TO_PB[node.health]
    msg.checks.extend(check_result_to_pb(r) for r in node.checks)
    return msg


def node_from_pb(msg: pb.Node) -> NodeRecord:
    registered_at = timestamp_from_pb(msg.registered_at, msg.HasField("registered_at"))
    state_since = timestamp_from_pb(msg.state_since, msg.HasField("state_since"))
    epoch = datetime.fromtimestamp(0, UTC)
    return NodeRecord(
        name=msg.name,
        state=state_from_pb(msg.state, "node.state"),
        machine_id=msg.machine_id,
        boot_id=msg.boot_id,
        agent_version=msg.agent_version,
        registered_at=registered_at or epoch,
        state_since=state_since or epoch,
        last_heartbeat=timestamp_from_pb(msg.last_heartbeat, msg.HasField("last_heartbeat")),
        state_reason=msg.state_reason,
        inventory=inventory_from_pb(msg.inventory, "node.inventory")
        if msg.HasField("inventory")
        else None,
        connected=msg.connected,
        peer=msg.peer,
        health=_STATUS_FROM_PB.get(msg.health),
        checks=tuple(
            check_result_from_pb(r, f"node.checks[{i}]") for i, r in enumerate(msg.checks)
        ),
    )
