"""The coordinator's durable state, behind one port (`Store`) with several backends."""

from coordinator.store.base import Event, Store
from coordinator.store.memory import MemoryStore
from coordinator.store.sqlite import SqliteStore

__all__ = ["Event", "MemoryStore", "SqliteStore", "Store"]
