"""Event logs of the simulated node: how injected faults reach a running agent's event sources.

A simulated event source (NVML events, udev, netlink) reads an append-only JSON-lines file under
<state_dir>/sim/events/; fault injection (another process) appends to it. Each reader starts at
the end of the file as it was when the reader was created, like a real event subscription that
sees only what happens after it subscribed. A waiting reader sleeps in inotify on the events
directory, so an idle simulated node costs no wakeups, as an idle real one does not.
"""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.checks.base import HardwareEvent
from agent.sim.inotify import DirWatch

EVENTS_DIR = "events"
POLL_S = 0.02  # how often a waiting reader looks at its file: well under the 1 s budget


def event_log(sim_dir: Path, source: str) -> Path:
    """The event file of one source ("nvml", "udev", "netlink") under <state_dir>/sim."""
    return sim_dir / EVENTS_DIR / f"{source}.jsonl"


def append_event(path: Path, kind: str, subject: str, **data: Any) -> None:
    """Append one event; one write() of one line with O_APPEND, so concurrent writers and a
    reader never see half a line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(
        {
            "kind": kind,
            "subject": subject,
            "at": datetime.now(UTC).isoformat(),
            "data": {k: str(v) for k, v in data.items()},
        }
    )
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


class EventLogReader:
    """Reads events appended to `path` after the reader was created. Blocking `wait`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = path.stat().st_size if path.exists() else 0
        self._partial = b""
        self._watch = DirWatch.open(path.parent)

    def read_new(self) -> list[HardwareEvent]:
        try:
            with self.path.open("rb") as fh:
                fh.seek(self._offset)
                chunk = fh.read()
        except FileNotFoundError:
            return []
        self._offset += len(chunk)
        data = self._partial + chunk
        *lines, self._partial = data.split(b"\n")
        events = []
        for raw in lines:
            if not raw.strip():
                continue
            doc = json.loads(raw)
            events.append(
                HardwareEvent(
                    kind=doc["kind"],
                    subject=doc["subject"],
                    at=datetime.fromisoformat(doc["at"]),
                    data=doc.get("data", {}),
                )
            )
        return events

    def wait(self, timeout: float) -> list[HardwareEvent]:
        """Block until events arrive or `timeout` passes. Sleeps in inotify (no wakeups while
        nothing happens); polls every POLL_S where inotify is unavailable."""
        deadline = time.monotonic() + timeout
        while True:
            events = self.read_new()
            left = deadline - time.monotonic()
            if events or left <= 0:
                return events
            if self._watch is not None:
                self._watch.wait(left)
            else:
                time.sleep(min(POLL_S, left))

    def close(self) -> None:
        if self._watch is not None:
            self._watch.close()
            self._watch = None
