"""Heartbeat liveness: when does a silent node become `lost`? A pure function of its inputs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from vcbase.domain import NodeState

# States the liveness rule leaves alone: a lost node is lost already; a set-aside node may be
# powered off for repair on purpose; a rebooting node is expected to vanish, and the remediation
# that rebooted it owns its deadline.
EXEMPT_STATES = frozenset({NodeState.LOST, NodeState.SET_ASIDE, NodeState.REBOOTING})


@dataclass(frozen=True, slots=True)
class LivenessConfig:
    """`heartbeat_interval` is what agents are told to use; after `missed_heartbeats` intervals
    without one, the node is lost. After a coordinator (re)start, nobody is declared lost until
    `startup_grace` has passed, so that a coordinator blip never turns the whole fleet lost.
    """

    heartbeat_interval: timedelta = timedelta(seconds=5)
    missed_heartbeats: int = 3
    startup_grace: timedelta | None = None  # None: twice the timeout

    def __post_init__(self) -> None:
        if self.heartbeat_interval <= timedelta(0):
            raise ValueError("heartbeat_interval: must be positive")
        if self.missed_heartbeats < 1:
            raise ValueError("missed_heartbeats: must be at least 1")
        if self.startup_grace is not None and self.startup_grace < timedelta(0):
            raise ValueError("startup_grace: must not be negative")

    @property
    def timeout(self) -> timedelta:
        return self.heartbeat_interval * self.missed_heartbeats

    @property
    def grace(self) -> timedelta:
        return self.startup_grace if self.startup_grace is not None else 2 * self.timeout

    @property
    def sweep_period(self) -> timedelta:
        """How often to evaluate the rule: often enough to declare within a quarter interval."""
        return min(self.heartbeat_interval / 4, timedelta(seconds=1))


def is_lost(
    last_seen: datetime | None,
    now: datetime,
    config: LivenessConfig,
    coordinator_started_at: datetime,
) -> bool:
    """True when a node last heard from at `last_seen` must be declared lost at `now`.

    - Never during the start-up grace period of this coordinator.
    - Otherwise, when `config.timeout` or more has passed since `last_seen` (a node never heard
      from counts from the coordinator's start).
    """
    if now - coordinator_started_at < config.grace:
        return False
    reference = last_seen if last_seen is not None else coordinator_started_at
    return now - reference >= config.timeout


def should_mark_lost(
    state: NodeState,
    last_seen: datetime | None,
    now: datetime,
    config: LivenessConfig,
    coordinator_started_at: datetime,
) -> bool:
    """The sweeper's decision for one node: silent too long, not already exempt.

    Whether its stream is open does not matter: a hung agent keeps its TCP connection but stops
    heartbeating, and is lost too.
    """
    if state in EXEMPT_STATES:
        return False
    return is_lost(last_seen, now, config, coordinator_started_at)
