"""Builders of domain objects for tests."""

from __future__ import annotations

from datetime import UTC, datetime

from vcbase.domain import (
    GpuInfo,
    GpuVendor,
    Hello,
    Inventory,
    NicInfo,
    NicKind,
    NodeRecord,
    NodeState,
)

T0 = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)


def inventory(node_type: str = "a100", gpus: int = 4) -> Inventory:
    return Inventory(
        hostname="nid001",
        node_type=node_type,
        cpu_model="AMD EPYC 7713 64-Core Processor",
        cpu_cores=128,
        memory_bytes=512 * 2**30,
        kernel="5.14.21",
        architecture="x86_64",
        gpus=tuple(
            GpuInfo(
                index=i,
                vendor=GpuVendor.NVIDIA,
                model="NVIDIA A100-SXM4-80GB",
                uuid=f"GPU-{i:08x}",
                pci_bus_id=f"00000000:{i + 1:02x}:00.0",
                memory_bytes=80 * 2**30,
                driver_version="550.54.15",
            )
            for i in range(gpus)
        ),
        nics=(
            NicInfo("hsn0", NicKind.SLINGSHOT, "02:00:00:00:00:01", 200_000, True, "cxi_ss1"),
            NicInfo("eth0", NicKind.ETHERNET, "02:00:00:00:00:02", 25_000, True, "mlx5_core"),
        ),
    )


def node(name: str = "nid001", state: NodeState = NodeState.READY, at: datetime = T0) -> NodeRecord:
    return NodeRecord(
        name=name,
        state=state,
        machine_id=f"machine-{name}",
        boot_id="boot-1",
        agent_version="0.1.0",
        registered_at=at,
        state_since=at,
        last_heartbeat=at,
        state_reason="test",
        inventory=inventory(),
    )


def hello(name: str = "nid001", machine: str | None = None, boot: str = "boot-1") -> Hello:
    return Hello(
        node_name=name,
        machine_id=machine or f"machine-{name}",
        boot_id=boot,
        agent_version="0.1.0",
        inventory=inventory(),
    )
