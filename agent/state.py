"""What the running agent knows about itself, shared by its link and its local API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from vcbase.domain import Inventory, NodeState


@dataclass
class AgentState:
    node_name: str
    coordinator: str
    agent_version: str
    machine_id: str = ""
    boot_id: str = ""
    inventory: Inventory | None = None
    connected: bool = False
    node_state: NodeState | None = None  # as the coordinator last told us
    last_heartbeat_sent: datetime | None = None
    coordinator_id: str = ""
