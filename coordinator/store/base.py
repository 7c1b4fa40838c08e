"""The store port.

Every backend (SQLite by default, an in-memory fake for unit tests, etcd later) passes the same
contract suite in tests/unit/coordinator/test_store_contract.py.

Contract:
- `save_node` writes the whole record and its events in one transaction: a reader sees both or
  neither. It is how a transition is persisted before it is acted on.
- `connected` and `peer` describe a live stream, not durable state: backends do not keep them, and
  every node they return has `connected=False` and `peer=""`.
- `record_heartbeats` sets `last_heartbeat` of the named nodes in one transaction; names the store
  does not know are ignored (the node may have been deleted meanwhile). It never moves
  `last_heartbeat` backwards.
- Events are numbered by the store in commit order (`seq`, starting at 1) and are never rewritten.
- Check results are kept per (node, check, subject), the latest only. `save_check_results` with
  `replace=True` makes the given results the node's whole set (a full snapshot); with
  `replace=False` it upserts them (a delta). Its events are written in the same transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from vcbase.domain import CheckResult, NodeRecord


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened to a node: a transition, a registration, a rejection."""

    at: datetime
    node: str
    kind: str  # snake_case, e.g. node_registered, node_lost, node_returned
    message: str
    data: Mapping[str, str] = field(default_factory=dict)
    seq: int = 0  # assigned by the store


class Store(Protocol):
    async def get_node(self, name: str) -> NodeRecord | None: ...

    async def list_nodes(self) -> list[NodeRecord]:
        """All nodes, sorted by name."""
        ...

    async def save_node(self, node: NodeRecord, events: Sequence[Event] = ()) -> None: ...

    async def record_heartbeats(self, beats: Mapping[str, datetime]) -> None: ...

    async def list_events(self, node: str | None = None, limit: int = 100) -> list[Event]:
        """The newest `limit` events (of `node`, or of all nodes), oldest first."""
        ...

    async def save_check_results(
        self,
        node: str,
        results: Sequence[CheckResult],
        replace: bool,
        events: Sequence[Event] = (),
    ) -> None: ...

    async def list_check_results(self, node: str) -> list[CheckResult]:
        """The node's latest results, sorted by (check, subject)."""
        ...

    async def load_check_results(self) -> dict[str, list[CheckResult]]:
        """Every node's latest results (for a coordinator start), each sorted."""
        ...

    async def close(self) -> None: ...
