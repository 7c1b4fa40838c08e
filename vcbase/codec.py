"""Plain-data (JSON-able dict) forms of the domain types.

Used where the domain crosses into JSON: the SQLite store's columns and `vcctl -o json|yaml`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from vcbase.domain import (
    CheckAction,
    CheckResult,
    CheckStatus,
    GpuInfo,
    GpuVendor,
    Inventory,
    NicInfo,
    NicKind,
    NodeRecord,
)


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def inventory_to_dict(inv: Inventory) -> dict[str, Any]:
    return {
        "hostname": inv.hostname,
        "node_type": inv.node_type,
        "cpu_model": inv.cpu_model,
        "cpu_cores": inv.cpu_cores,
        "memory_bytes": inv.memory_bytes,
        "kernel": inv.kernel,
        "architecture": inv.architecture,
        "simulated": inv.simulated,
        "gpus": [
            {
                "index": g.index,
                "vendor": g.vendor.value,
                "model": g.model,
                "uuid": g.uuid,
                "pci_bus_id": g.pci_bus_id,
                "memory_bytes": g.memory_bytes,
                "driver_version": g.driver_version,
            }
            for g in inv.gpus
        ],
        "nics": [
            {
                "name": n.name,
                "kind": n.kind.value,
                "address": n.address,
                "speed_mbps": n.speed_mbps,
                "link_up": n.link_up,
                "driver": n.driver,
            }
            for n in inv.nics
        ],
    }


def inventory_from_dict(data: dict[str, Any]) -> Inventory:
    return Inventory(
        hostname=data["hostname"],
        node_type=data["node_type"],
        cpu_model=data["cpu_model"],
        cpu_cores=data["cpu_cores"],
        memory_bytes=data["memory_bytes"],
        kernel=data["kernel"],
        architecture=data["architecture"],
        simulated=data.get("simulated", False),
        gpus=tuple(
            GpuInfo(**{**g, "vendor": GpuVendor(g["vendor"])}) for g in data.get("gpus", [])
        ),
        nics=tuple(NicInfo(**{**n, "kind": NicKind(n["kind"])}) for n in data.get("nics", [])),
    )


def check_result_to_dict(result: CheckResult) -> dict[str, Any]:
    return {
        "check": result.check,
        "subject": result.subject,
        "status": result.status.value,
        "action": result.action.value,
        "message": result.message,
        "observed": dict(result.observed),
        "observed_at": iso(result.observed_at),
    }


def check_result_from_dict(data: dict[str, Any]) -> CheckResult:
    at = data.get("observed_at")
    return CheckResult(
        check=data["check"],
        subject=data["subject"],
        status=CheckStatus(data["status"]),
        action=CheckAction(data["action"]),
        message=data["message"],
        observed=dict(data.get("observed", {})),
        observed_at=datetime.fromisoformat(at) if at else None,
    )


def node_to_dict(node: NodeRecord) -> dict[str, Any]:
    return {
        "name": node.name,
        "state": node.state.value,
        "node_type": node.node_type,
        "connected": node.connected,
        "last_heartbeat": iso(node.last_heartbeat),
        "state_since": iso(node.state_since),
        "state_reason": node.state_reason,
        "health": node.health.value if node.health else None,
        "registered_at": iso(node.registered_at),
        "machine_id": node.machine_id,
        "boot_id": node.boot_id,
        "agent_version": node.agent_version,
        "peer": node.peer,
        "inventory": inventory_to_dict(node.inventory) if node.inventory else None,
        "checks": [check_result_to_dict(r) for r in node.checks],
    }
