"""The lost-node decision, as a pure function of (last seen, now, config, coordinator start)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coordinator.liveness import EXEMPT_STATES, LivenessConfig, is_lost, should_mark_lost
from tests.factories import T0
from vcbase.domain import NodeState

CFG = LivenessConfig(heartbeat_interval=timedelta(seconds=5), missed_heartbeats=3)
STARTED_LONG_AGO = T0 - timedelta(hours=1)


def s(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


def test_defaults_match_the_documented_ones() -> None:
    cfg = LivenessConfig()
    assert cfg.heartbeat_interval == s(5)
    assert cfg.missed_heartbeats == 3
    assert cfg.timeout == s(15)
    assert cfg.grace == s(30)


def test_lost_exactly_after_n_missed_intervals() -> None:
    assert not is_lost(T0, T0 + s(14.999), CFG, STARTED_LONG_AGO)
    assert is_lost(T0, T0 + s(15), CFG, STARTED_LONG_AGO)


def test_nobody_is_lost_during_the_startup_grace() -> None:
    started = T0
    last_seen = T0 - timedelta(days=2)  # silent long before this coordinator started
    assert not is_lost(last_seen, started + s(29.9), CFG, started)
    assert is_lost(last_seen, started + s(30), CFG, started)


def test_a_node_never_heard_from_counts_from_coordinator_start() -> None:
    cfg = LivenessConfig(heartbeat_interval=s(5), missed_heartbeats=3, startup_grace=s(0))
    assert not is_lost(None, T0 + s(14), cfg, T0)
    assert is_lost(None, T0 + s(15), cfg, T0)


def test_explicit_grace_overrides_the_default() -> None:
    cfg = LivenessConfig(heartbeat_interval=s(1), missed_heartbeats=2, startup_grace=s(60))
    assert not is_lost(T0 - s(100), T0 + s(59), cfg, T0)
    assert is_lost(T0 - s(100), T0 + s(60), cfg, T0)


@pytest.mark.parametrize("state", sorted(EXEMPT_STATES))
def test_exempt_states_are_never_marked_lost(state: NodeState) -> None:
    assert not should_mark_lost(state, T0, T0 + timedelta(days=1), CFG, STARTED_LONG_AGO)


@pytest.mark.parametrize("state", sorted(set(NodeState) - EXEMPT_STATES))
def test_other_states_are_marked_lost_when_silent(state: NodeState) -> None:
    assert should_mark_lost(state, T0, T0 + s(15), CFG, STARTED_LONG_AGO)
    assert not should_mark_lost(state, T0, T0 + s(1), CFG, STARTED_LONG_AGO)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"heartbeat_interval": s(0)}, "heartbeat_interval"),
        ({"missed_heartbeats": 0}, "missed_heartbeats"),
        ({"startup_grace": s(-1)}, "startup_grace"),
    ],
)
def test_bad_config_names_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        LivenessConfig(**kwargs)  # type: ignore[arg-type]


@given(
    interval=st.floats(min_value=0.05, max_value=60),
    misses=st.integers(min_value=1, max_value=10),
    grace=st.floats(min_value=0, max_value=600),
    since_start=st.floats(min_value=0, max_value=3600),
    silence=st.floats(min_value=0, max_value=3600),
)
def test_lost_iff_past_grace_and_silent_for_the_timeout(
    interval: float, misses: int, grace: float, since_start: float, silence: float
) -> None:
    cfg = LivenessConfig(
        heartbeat_interval=s(interval), missed_heartbeats=misses, startup_grace=s(grace)
    )
    started = T0
    now = started + s(since_start)
    last_seen = now - s(silence)
    expected = s(since_start) >= cfg.grace and s(silence) >= cfg.timeout
    assert is_lost(last_seen, now, cfg, started) is expected


@given(silence=st.floats(min_value=0, max_value=3600), extra=st.floats(min_value=0, max_value=60))
def test_once_lost_a_later_instant_is_lost_too(silence: float, extra: float) -> None:
    now = T0 + s(silence)
    if is_lost(T0, now, CFG, STARTED_LONG_AGO):
        assert is_lost(T0, now + s(extra), CFG, STARTED_LONG_AGO)
