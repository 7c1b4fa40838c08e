"""Drivers: the coordinator's adapters to the world outside it (scheduler; power, inventory, ...).

Each driver is a `typing.Protocol` port with a real adapter and an in-memory fake, both held to
one contract suite. Import the port's types from here; the adapters from their modules.
"""

from coordinator.drivers.command import (
    CommandError,
    CommandFailedError,
    CommandTimeoutError,
    SchedulerUnavailableError,
)
from coordinator.drivers.fake_scheduler import FakeScheduler
from coordinator.drivers.scheduler import (
    DEFAULT_PREFIX,
    DrainOutcome,
    ForeignDrainError,
    NextState,
    RebootInProgressError,
    Scheduler,
    SchedulerNode,
    SchedulerState,
    UnknownNodeError,
)
from coordinator.drivers.slurm import SlurmScheduler

__all__ = [
    "DEFAULT_PREFIX",
    "CommandError",
    "CommandFailedError",
    "CommandTimeoutError",
    "DrainOutcome",
    "FakeScheduler",
    "ForeignDrainError",
    "NextState",
    "RebootInProgressError",
    "Scheduler",
    "SchedulerNode",
    "SchedulerState",
    "SchedulerUnavailableError",
    "SlurmScheduler",
    "UnknownNodeError",
]
