"""In-memory store: the fake for unit tests, held to the same contract as the real backends."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime

from coordinator.store.base import Event
from vcbase.domain import CheckResult, NodeRecord


class MemoryStore:
    def __init__(self) -> None:
        self._nodes: dict[str, NodeRecord] = {}
        self._events: list[Event] = []
        self._results: dict[str, dict[tuple[str, str], CheckResult]] = {}

    async def get_node(self, name: str) -> NodeRecord | None:
        return self._nodes.get(name)

    async def list_nodes(self) -> list[NodeRecord]:
        return [self._nodes[n] for n in sorted(self._nodes)]

    async def save_node(self, node: NodeRecord, events: Sequence[Event] = ()) -> None:
        self._nodes[node.name] = dataclasses.replace(
            node, connected=False, peer="", health=None, checks=()
        )
        self._append(events)

    def _append(self, events: Sequence[Event]) -> None:
        for ev in events:
            self._events.append(dataclasses.replace(ev, seq=len(self._events) + 1))

    async def save_check_results(
        self,
        node: str,
        results: Sequence[CheckResult],
        replace: bool,
        events: Sequence[Event] = (),
    ) -> None:
        current = {} if replace else dict(self._results.get(node, {}))
        current.update({(r.check, r.subject): r for r in results})
        self._results[node] = current
        self._append(events)

    async def list_check_results(self, node: str) -> list[CheckResult]:
        current = self._results.get(node, {})
        return [current[k] for k in sorted(current)]

    async def load_check_results(self) -> dict[str, list[CheckResult]]:
        return {n: await self.list_check_results(n) for n in sorted(self._results)}

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
