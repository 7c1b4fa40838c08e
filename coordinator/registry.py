"""The node registry: who is connected, who was last heard from when, and their durable records.

The registry is the single writer of node records in this coordinator. It keeps every record in
memory (the store is the durable copy) and overlays the live facts a store does not keep: which
stream is open, from where, and the latest heartbeat. Heartbeats are written to the store in
batches (`flush_heartbeats`), not one transaction each: at 10,000 nodes and 5 s that would be
2,000 transactions a second for a fact that only matters to the liveness rule.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from coordinator.lifecycle import state_after_hello
from coordinator.liveness import LivenessConfig, should_mark_lost
from coordinator.store.base import Event, Store
from vcbase.domain import CheckResult, CheckStatus, Hello, NodeRecord, NodeState, worst_status
from vcbase.errors import ConflictError, NotFoundError, ValidationError
from vcbase.logging import get_logger

log = get_logger("coordinator.registry")

# Node names become Slurm node names and hostnames: RFC 1123 labels.
NODE_NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_session_ids = itertools.count(1)


def utcnow() -> datetime:
    return datetime.now(UTC)


def validate_hello(hello: Hello) -> None:
    """Reject a hello that cannot identify a node. Raises ValidationError naming the field."""
    if not hello.node_name:
        raise ValidationError("hello.node_name", "is required")
    if not NODE_NAME_RE.match(hello.node_name):
        raise ValidationError(
            "hello.node_name",
            f"{hello.node_name!r} is not a valid node name "
            "(lowercase letters, digits and '-', at most 63, starting and ending alphanumeric)",
        )
    if not hello.machine_id:
        raise ValidationError("hello.machine_id", "is required")
    if not hello.boot_id:
        raise ValidationError("hello.boot_id", "is required")


@dataclass(eq=False)
class Session:
    """One open agent stream."""

    node: str
    machine_id: str
    peer: str
    id: int = field(default_factory=lambda: next(_session_ids))
    closed: asyncio.Event = field(default_factory=asyncio.Event)


class Registry:
    def __init__(
        self,
        store: Store,
        liveness: LivenessConfig,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self._liveness = liveness
        self._clock = clock
        self._nodes: dict[str, NodeRecord] = {}
        self._sessions: dict[str, Session] = {}
        self._last_seen: dict[str, datetime] = {}
        self._dirty: dict[str, datetime] = {}
        self._health: dict[str, dict[tuple[str, str], CheckResult]] = {}
        self._lock = asyncio.Lock()
        self.started_at = clock()

    @property
    def liveness(self) -> LivenessConfig:
        return self._liveness

    async def load(self) -> None:
        """Read every node from the store; the start-up grace period counts from here."""
        self.started_at = self._clock()
        for node in await self._store.list_nodes():
            self._nodes[node.name] = node
            if node.last_heartbeat is not None:
                self._last_seen[node.name] = node.last_heartbeat
        for name, results in (await self._store.load_check_results()).items():
            self._health[name] = {(r.check, r.subject): r for r in results}
        log.info("registry_loaded", nodes=len(self._nodes))

    def _view(self, node: NodeRecord, with_checks: bool = False) -> NodeRecord:
        session = self._sessions.get(node.name)
        health = self._health.get(node.name, {})
        return dataclasses.replace(
            node,
            connected=session is not None,
            peer=session.peer if session else "",
            last_heartbeat=self._last_seen.get(node.name, node.last_heartbeat),
            health=worst_status(health.values()),
            checks=tuple(health[k] for k in sorted(health)) if with_checks else (),
        )

    def list_nodes(self, states: frozenset[NodeState] = frozenset()) -> list[NodeRecord]:
        return [
            self._view(self._nodes[name])
            for name in sorted(self._nodes)
            if not states or self._nodes[name].state in states
        ]

    def get_node(self, name: str) -> NodeRecord:
        node = self._nodes.get(name)
        if node is None:
            raise NotFoundError(f"node {name!r} is not registered")
        return self._view(node, with_checks=True)

    async def register(self, hello: Hello, peer: str) -> tuple[NodeRecord, Session]:
        """Admit an agent's stream. Nothing is stored when it is rejected.

        Raises ValidationError for a malformed hello, and ConflictError when the name is held by
        a connected agent on another machine. The same machine reconnecting replaces its old
        session (whose stream may not have noticed yet that it is dead).
        """
        validate_hello(hello)
        async with self._lock:
            name = hello.node_name
            live = self._sessions.get(name)
            if live is not None and live.machine_id != hello.machine_id:
                raise ConflictError(
                    f"node name {name!r} is held by a connected agent on another machine "
                    f"(machine id {live.machine_id}, from {live.peer})"
                )
            now = self._clock()
            current = self._nodes.get(name)
            node, events = self._registration(current, hello, now)
            await self._store.save_node(node, events)
            if live is not None:
                live.closed.set()
                log.info("session_superseded", node=name, old_peer=live.peer, peer=peer)
            session = Session(node=name, machine_id=hello.machine_id, peer=peer)
            self._nodes[name] = node
            self._sessions[name] = session
            self._last_seen[name] = now
            for ev in events:
                log.info(ev.kind, node=name, **ev.data)
            return self._view(node), session

    def _registration(
        self, current: NodeRecord | None, hello: Hello, now: datetime
    ) -> tuple[NodeRecord, list[Event]]:
        state = state_after_hello(current.state if current else None)
        data = {"boot_id": hello.boot_id, "agent_version": hello.agent_version}
        events: list[Event] = []
        if current is None:
            events.append(Event(now, hello.node_name, "node_registered", "first hello", data))
        else:
            if current.machine_id != hello.machine_id:
                events.append(
                    Event(
                        now,
                        hello.node_name,
                        "machine_changed",
                        f"machine id {current.machine_id} -> {hello.machine_id}",
                        {"old": current.machine_id, "new": hello.machine_id},
                    )
                )
            if current.boot_id != hello.boot_id:
                events.append(Event(now, hello.node_name, "node_rebooted", "new boot id", data))
            if current.state is not state:
                events.append(
                    Event(
                        now,
                        hello.node_name,
                        "node_returned",
                        f"{current.state} -> {state}: agent reconnected",
                        data,
                    )
                )
        changed_state = current is None or current.state is not state
        reason = "agent connected" if current is None or changed_state else current.state_reason
        node = NodeRecord(
            name=hello.node_name,
            state=state,
            machine_id=hello.machine_id,
            boot_id=hello.boot_id,
            agent_version=hello.agent_version,
            registered_at=current.registered_at if current else now,
            state_since=now if current is None or changed_state else current.state_since,
            last_heartbeat=now,
            state_reason=reason,
            inventory=hello.inventory or (current.inventory if current else None),
        )
        return node, events

    def heartbeat(self, session: Session) -> None:
        """Note a heartbeat; ignored from a session that has been replaced."""
        if self._sessions.get(session.node) is not session:
            return
        now = self._clock()
        self._last_seen[session.node] = now
        self._dirty[session.node] = now

    async def record_health(
        self, session: Session, results: list[CheckResult], full_snapshot: bool
    ) -> None:
        """Take a health report from an agent's stream: a delta, or a full snapshot that replaces
        the node's results. Changes of verdict become node events (the node's timeline)."""
        if self._sessions.get(session.node) is not session:
            return
        name = session.node
        previous = self._health.get(name, {})
        now = self._clock()
        events = []
        for r in results:
            before = previous.get((r.check, r.subject))
            was = (before.status, before.action) if before else (CheckStatus.OK, None)
            if (r.status, r.action) != was and not (before is None and r.status is CheckStatus.OK):
                events.append(
                    Event(
                        now,
                        name,
                        "check_changed",
                        f"{r.check} {r.subject}: {was[0]} -> {r.status} ({r.action}): {r.message}",
                        {
                            "check": r.check,
                            "subject": r.subject,
                            "status": r.status.value,
                            "action": r.action.value,
                        },
                    )
                )
        await self._store.save_check_results(name, results, full_snapshot, events)
        current = {} if full_snapshot else dict(previous)
        current.update({(r.check, r.subject): r for r in results})
        self._health[name] = current
        for ev in events:
            log.info("check_changed", node=name, **ev.data)

    async def disconnect(self, session: Session, reason: str) -> None:
        """Forget a stream that ended. The node stays in its state until the liveness rule
        (or its return) moves it: a dropped stream alone is not a lost node."""
        if self._sessions.get(session.node) is not session:
            return
        del self._sessions[session.node]
        session.closed.set()
        log.info("agent_disconnected", node=session.node, peer=session.peer, reason=reason)

    async def flush_heartbeats(self) -> int:
        """Write the heartbeats seen since the last flush; returns how many."""
        if not self._dirty:
            return 0
        batch, self._dirty = self._dirty, {}
        try:
            await self._store.record_heartbeats(batch)
        except BaseException:
            for name, at in batch.items():  # keep them for the next flush
                self._dirty.setdefault(name, at)
            raise
        for name, at in batch.items():
            node = self._nodes.get(name)
            if node is not None:
                self._nodes[name] = dataclasses.replace(node, last_heartbeat=at)
        return len(batch)

    async def sweep(self) -> list[str]:
        """Apply the liveness rule to every node; returns the names newly declared lost."""
        lost: list[str] = []
        async with self._lock:
            now = self._clock()
            for name, node in list(self._nodes.items()):
                last_seen = self._last_seen.get(name, node.last_heartbeat)
                if not should_mark_lost(
                    node.state, last_seen, now, self._liveness, self.started_at
                ):
                    continue
                silent = (now - last_seen).total_seconds() if last_seen else None
                reason = (
                    f"no heartbeat for {silent:.1f}s" if silent is not None else "never heard from"
                )
                updated = dataclasses.replace(
                    node,
                    state=NodeState.LOST,
                    state_since=now,
                    state_reason=reason,
                    last_heartbeat=last_seen,
                )
                event = Event(now, name, "node_lost", f"{node.state} -> lost: {reason}")
                await self._store.save_node(updated, [event])
                self._nodes[name] = updated
                lost.append(name)
                log.warning("node_lost", node=name, previous=node.state.value, reason=reason)
        return lost
