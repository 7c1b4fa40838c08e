"""The event sets of `SimNvml`: XIDs read from the simulated node's NVML event log.

Fault injection appends `xid` events ({"subject": "gpuN", "data": {"xid": "79"}}) to
<state_dir>/sim/events/nvml.jsonl (`agent.sim.events`). An event set, like NVML's, sees only
what happens after it was created, and only for the devices and event types registered on it.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from agent.sim.events import EventLogReader, event_log
from agent.sim.nvml_health import NvmlConstants, gpu_index
from agent.sim.tree import SimGpu
from vcbase.logging import get_logger

log = get_logger(__name__)

SUPPORTED_EVENTS = (
    NvmlConstants.nvmlEventTypeSingleBitEccError
    | NvmlConstants.nvmlEventTypeDoubleBitEccError
    | NvmlConstants.nvmlEventTypeXidCriticalError
)


_NO_INSTANCE = 0xFFFFFFFF  # gpuInstanceId/computeInstanceId of an event outside MIG


@dataclass(frozen=True, slots=True)
class SimEventData:
    device: object  # the sim's device handle
    eventType: int
    eventData: int
    gpuInstanceId: int = _NO_INSTANCE
    computeInstanceId: int = _NO_INSTANCE


@dataclass(frozen=True, slots=True)
class SimXid:
    """One XID for a registered device: its index and uuid when the event was read."""

    index: int
    uuid: str
    xid: int


class SimEventSet:
    """What nvmlEventSetCreate returns in the sim. Not thread-safe, like NVML's event sets."""

    def __init__(self, sim_dir: Path) -> None:
        self._reader = EventLogReader(event_log(sim_dir, "nvml"))
        self._registered: dict[str, int] = {}  # uuid -> event type mask
        self._pending: deque[SimXid] = deque()
        self.freed = False

    def free(self) -> None:
        self.freed = True
        self._reader.close()

    def register(self, uuid: str, event_types: int) -> None:
        self._registered[uuid] = self._registered.get(uuid, 0) | event_types

    def next(self, timeout_s: float, devices: Callable[[], Sequence[SimGpu]]) -> SimXid | None:
        """The next XID of a registered device, waiting up to `timeout_s`; None on timeout.
        `devices` gives the node's current devices (to map "gpuN" to a uuid)."""
        deadline = time.monotonic() + max(timeout_s, 0.0)
        while not self._pending:
            remaining = deadline - time.monotonic()
            for event in self._reader.wait(max(remaining, 0.0)):
                if event.kind == "xid":
                    self._accept(event.subject, event.data.get("xid"), devices())
            if not self._pending and remaining <= 0:
                return None
        return self._pending.popleft()

    def _accept(self, subject: str, xid: str | None, devices: Sequence[SimGpu]) -> None:
        try:
            index = gpu_index(subject)
            code = int(xid or "")
        except ValueError:
            log.warning("sim_nvml_event_malformed", subject=subject, xid=xid)
            return
        if index >= len(devices):
            return
        uuid = devices[index].uuid
        if self._registered.get(uuid, 0) & NvmlConstants.nvmlEventTypeXidCriticalError:
            self._pending.append(SimXid(index, uuid, code))
