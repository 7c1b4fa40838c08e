"""The embedded default store: SQLite (stdlib sqlite3) in WAL mode.

All statements run on one dedicated thread that owns the connection, so the event loop never
blocks on disk and SQLite never sees two threads. Writes are transactions; WAL with
synchronous=NORMAL survives a kill -9 of the coordinator (not a power cut of the last commits,
which a single-node default accepts; the etcd backend is for more).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from coordinator.store.base import Event
from vcbase.codec import (
    check_result_from_dict,
    check_result_to_dict,
    inventory_from_dict,
    inventory_to_dict,
)
from vcbase.domain import CheckResult, NodeRecord, NodeState

T = TypeVar("T")

# Each entry upgrades the schema by one version; PRAGMA user_version records how far we got.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE nodes (
        name TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        machine_id TEXT NOT NULL,
        boot_id TEXT NOT NULL,
        agent_version TEXT NOT NULL,
        registered_at TEXT NOT NULL,
        state_since TEXT NOT NULL,
        last_heartbeat TEXT,
        state_reason TEXT NOT NULL,
        inventory TEXT
    );
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        node TEXT NOT NULL,
        kind TEXT NOT NULL,
        message TEXT NOT NULL,
        data TEXT NOT NULL
    );
    CREATE INDEX events_by_node ON events (node, seq);
    """,
    """
    CREATE TABLE check_results (
        node TEXT NOT NULL,
        "check" TEXT NOT NULL,
        subject TEXT NOT NULL,
        result TEXT NOT NULL,
        PRIMARY KEY (node, "check", subject)
    );
    """,
)

_SELECT_NODES = (
    "SELECT name, state, machine_id, boot_id, agent_version, registered_at, state_since, "
    "last_heartbeat, state_reason, inventory FROM nodes"
)
_UPSERT_NODE = (
    "INSERT OR REPLACE INTO nodes (name, state, machine_id, boot_id, agent_version, "
    "registered_at, state_since, last_heartbeat, state_reason, inventory) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _ts(value: datetime) -> str:
    """UTC, fixed width: such strings sort in time order, which SQL comparisons rely on."""
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None


def _row_to_node(row: sqlite3.Row) -> NodeRecord:
    inv = row["inventory"]
    return NodeRecord(
        name=row["name"],
        state=NodeState(row["state"]),
        machine_id=row["machine_id"],
        boot_id=row["boot_id"],
        agent_version=row["agent_version"],
        registered_at=datetime.fromisoformat(row["registered_at"]),
        state_since=datetime.fromisoformat(row["state_since"]),
        last_heartbeat=_dt(row["last_heartbeat"]),
        state_reason=row["state_reason"],
        inventory=inventory_from_dict(json.loads(inv)) if inv else None,
    )


class SqliteStore:
    """Open with `await SqliteStore.open(path)`; close with `await store.close()`."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self._conn: sqlite3.Connection | None = None

    @classmethod
    async def open(cls, path: Path) -> SqliteStore:
        store = cls(path)
        try:
            await store._run(store._connect)
        except BaseException:
            store._executor.shutdown(wait=False)
            raise
        return store

    async def _run(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    def _connect(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self._path, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=5000")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            conn.close()
            raise RuntimeError(
                f"{self._path}: schema version {version} is newer than this vccoord "
                f"understands ({len(MIGRATIONS)}); upgrade vccoord"
            )
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            conn.executescript(f"BEGIN; {script}; PRAGMA user_version={number}; COMMIT;")
        self._conn = conn

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("store is closed")
        return self._conn

    async def get_node(self, name: str) -> NodeRecord | None:
        def q() -> NodeRecord | None:
            row = self._db.execute(_SELECT_NODES + " WHERE name = ?", (name,)).fetchone()
            return _row_to_node(row) if row else None

        return await self._run(q)

    async def list_nodes(self) -> list[NodeRecord]:
        def q() -> list[NodeRecord]:
            rows = self._db.execute(_SELECT_NODES + " ORDER BY name")
            return [_row_to_node(r) for r in rows]

        return await self._run(q)

    async def save_node(self, node: NodeRecord, events: Sequence[Event] = ()) -> None:
        inv = json.dumps(inventory_to_dict(node.inventory)) if node.inventory else None
        values = (
            node.name,
            node.state.value,
            node.machine_id,
            node.boot_id,
            node.agent_version,
            _ts(node.registered_at),
            _ts(node.state_since),
            _ts(node.last_heartbeat) if node.last_heartbeat else None,
            node.state_reason,
            inv,
        )

        def tx() -> None:
            db = self._db
            with db:  # BEGIN ... COMMIT, or ROLLBACK on error
                db.execute("BEGIN IMMEDIATE")
                db.execute(_UPSERT_NODE, values)
                self._insert_events(db, events)

        await self._run(tx)

    @staticmethod
    def _insert_events(db: sqlite3.Connection, events: Sequence[Event]) -> None:
        db.executemany(
            "INSERT INTO events (at, node, kind, message, data) VALUES (?, ?, ?, ?, ?)",
            [(_ts(e.at), e.node, e.kind, e.message, json.dumps(dict(e.data))) for e in events],
        )

    async def record_heartbeats(self, beats: Mapping[str, datetime]) -> None:
        # _ts strings compare in time order, which keeps the "never backwards" rule inside SQL.
        rows = [(_ts(at), name, _ts(at)) for name, at in beats.items()]

        def tx() -> None:
            db = self._db
            with db:
                db.execute("BEGIN IMMEDIATE")
                db.executemany(
                    "UPDATE nodes SET last_heartbeat = ? WHERE name = ? "
                    "AND (last_heartbeat IS NULL OR last_heartbeat < ?)",
                    rows,
                )

        if rows:
            await self._run(tx)

    async def list_events(self, node: str | None = None, limit: int = 100) -> list[Event]:
        def q() -> list[Event]:
            if node is None:
                cur = self._db.execute(
                    "SELECT * FROM events ORDER BY seq DESC LIMIT ?", (max(limit, 0),)
                )
            else:
                cur = self._db.execute(
                    "SELECT * FROM events WHERE node = ? ORDER BY seq DESC LIMIT ?",
                    (node, max(limit, 0)),
                )
            return [
                Event(
                    at=datetime.fromisoformat(r["at"]),
                    node=r["node"],
                    kind=r["kind"],
                    message=r["message"],
                    data=json.loads(r["data"]),
                    seq=r["seq"],
                )
                for r in reversed(cur.fetchall())
            ]

        return await self._run(q)

    async def save_check_results(
        self,
        node: str,
        results: Sequence[CheckResult],
        replace: bool,
        events: Sequence[Event] = (),
    ) -> None:
        rows = [(node, r.check, r.subject, json.dumps(check_result_to_dict(r))) for r in results]

        def tx() -> None:
            db = self._db
            with db:
                db.execute("BEGIN IMMEDIATE")
                if replace:
                    db.execute("DELETE FROM check_results WHERE node = ?", (node,))
                db.executemany(
                    'INSERT OR REPLACE INTO check_results (node, "check", subject, result) '
                    "VALUES (?, ?, ?, ?)",
                    rows,
                )
                self._insert_events(db, events)

        await self._run(tx)

    async def list_check_results(self, node: str) -> list[CheckResult]:
        def q() -> list[CheckResult]:
            cur = self._db.execute(
                'SELECT result FROM check_results WHERE node = ? ORDER BY "check", subject',
                (node,),
            )
            return [check_result_from_dict(json.loads(r["result"])) for r in cur]

        return await self._run(q)

    async def load_check_results(self) -> dict[str, list[CheckResult]]:
        def q() -> dict[str, list[CheckResult]]:
            out: dict[str, list[CheckResult]] = {}
            cur = self._db.execute(
                'SELECT node, result FROM check_results ORDER BY node, "check", subject'
            )
            for r in cur:
                out.setdefault(r["node"], []).append(
                    check_result_from_dict(json.loads(r["result"]))
                )
            return out

        return await self._run(q)

    async def close(self) -> None:
        def shut() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        await self._run(shut)
        self._executor.shutdown(wait=True)
