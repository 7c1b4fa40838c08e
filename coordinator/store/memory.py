"""In-memory store: the fake for unit tests, held to the same contract as the real backends."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime

from coordinator.store.base import Event
from vcbase.domain import NodeRecord


class MemoryStore:
    def __init__(self) -> None:
        self._nodes: dict[str, NodeRecord] = {}
        self._events: list[Event] = []

    async def get_node(self, name: str) -> NodeRecord | None:
        return self._nodes.get(name)

    async def list_nodes(self) -> list[NodeRecord]:
        return [self._nodes[n] for n in sorted(self._nodes)]

    async def save_node(self, node: NodeRecord, events: Sequence[Event] = ()) -> None:
        self._nodes[node.name] = dataclasses.replace(node, connected=False, peer="")
        for ev in events:
            self._events.append(dataclasses.replace(ev, seq=len(self._events) + 1))

    async def record_heartbeats(self, beats: Mapping[str, datetime]) -> None:
        for name, at in beats.items():
            node = self._nodes.get(name)
            if node is None:
                continue
            if node.last_heartbeat is None or at > node.last_heartbeat:
                self._nodes[name] = dataclasses.replace(node, last_heartbeat=at)

    async def list_events(self, node: str | None = None, limit: int = 100) -> list[Event]:
        selected = [e for e in self._events if node is None or e.node == node]
        return selected[-limit:] if limit > 0 else []

    async def close(self) -> None:
        return None
