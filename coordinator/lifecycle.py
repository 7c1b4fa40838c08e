"""Pure transitions of the node lifecycle that registration and liveness drive.

The full machine (drain, reboot, validate, set aside, reintegrate) is in docs/architecture.md;
the remediation work adds its transitions beside these.
"""

from __future__ import annotations

from vcbase.domain import NodeState


def state_after_hello(current: NodeState | None) -> NodeState:
    """The state a node is in once its agent has said hello.

    - A node we never saw is `registered`.
    - A `lost` node re-enters the lifecycle at `registered`: whatever it was doing was
      interrupted, and configuration converges it again. Remediation states never become lost
      (see liveness.EXEMPT_STATES), so no remediation is forgotten this way.
    - Any other state is kept: a reconnect (agent restart, coordinator restart, network blip) is
      not a lifecycle event.
    """
    if current is None or current is NodeState.LOST:
        return NodeState.REGISTERED
    return current
