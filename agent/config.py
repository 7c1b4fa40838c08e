"""vcagent's configuration: a TOML file (default /etc/vcluster/agent.toml), under CLI flags.

Every key of the file is a field below; an unknown key or a value of the wrong type is an error
that names the key (exit 2). See docs/configuration.md for the reference table.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Literal

import pydantic

from agent.checks.thresholds import Thresholds
from vcbase.config import StrictModel

DEFAULT_CONFIG_PATH = Path("/etc/vcluster/agent.toml")
SimulateProfile = Literal["gh200", "a100", "mi250x", "mi300a", "rome"]


class AgentConfig(StrictModel):
    coordinator: str = "127.0.0.1:7443"
    # Defaults to the short hostname.
    node_name: str | None = None
    state_dir: str = "/var/lib/vcluster/agent"
    # Run a simulated node of this profile instead of probing the real hardware.
    simulate: SimulateProfile | None = None
    # Override the node-type profile detected from the hardware.
    node_type: str | None = None
    # The local API's unix socket; defaults to <state_dir>/agent.sock.
    local_socket: str | None = None
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # Reconnect backoff (seconds): exponential from `reconnect_initial` to `reconnect_max`,
    # with full jitter.
    reconnect_initial: float = pydantic.Field(default=0.5, gt=0, le=60)
    reconnect_max: float = pydantic.Field(default=10.0, gt=0, le=600)
    # Health-check thresholds, one table per area ([checks.nvidia], [checks.nic], ...).
    checks: Thresholds = Thresholds()
    # Periodic interval overrides in seconds, by check name: {"nvidia.ecc" = 30}.
    check_intervals: dict[str, float] = pydantic.Field(default_factory=dict)
    # The Slurm hooks' unix socket (docs/hooks.md); defaults to <state_dir>/hook.sock.
    hook_socket: str | None = None
    # What an `unknown` check result does to a prolog/epilog/healthcheck: "pass" (it is
    # reported as a warning) or "fail".
    hook_unknown: Literal["pass", "fail"] = "pass"
    # Seconds the live part of a hook may take; a check still running then keeps its stable
    # result (a hung mount must not hold a job's start for the check's own timeout).
    hook_live_budget_s: float = pydantic.Field(default=2.0, gt=0, le=60)

    @pydantic.field_validator("coordinator")
    @classmethod
    def _check_coordinator(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) <= 65535:
            raise ValueError("expected HOST:PORT, e.g. coord1.example.org:7443")
        return value

    @pydantic.model_validator(mode="after")
    def _check_backoff(self) -> AgentConfig:
        if self.reconnect_max < self.reconnect_initial:
            raise ValueError("reconnect_max must be at least reconnect_initial")
        bad = sorted(k for k, v in self.check_intervals.items() if not 0 < v <= 86400)
        if bad:
            raise ValueError(f"check_intervals: {bad} must be in (0, 86400] seconds")
        return self

    @property
    def name(self) -> str:
        return self.node_name or socket.gethostname().split(".")[0]

    @property
    def state_path(self) -> Path:
        return Path(self.state_dir)

    @property
    def socket_path(self) -> Path:
        return Path(self.local_socket) if self.local_socket else self.state_path / "agent.sock"

    @property
    def hook_socket_path(self) -> Path:
        return Path(self.hook_socket) if self.hook_socket else self.state_path / "hook.sock"
