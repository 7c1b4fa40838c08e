from __future__ import annotations

import pytest

from coordinator.lifecycle import state_after_hello
from vcbase.domain import NodeState


def test_a_new_node_is_registered() -> None:
    assert state_after_hello(None) is NodeState.REGISTERED


def test_a_lost_node_reenters_at_registered() -> None:
    assert state_after_hello(NodeState.LOST) is NodeState.REGISTERED


@pytest.mark.parametrize("state", sorted(set(NodeState) - {NodeState.LOST}))
def test_a_reconnect_keeps_any_other_state(state: NodeState) -> None:
    assert state_after_hello(state) is state
