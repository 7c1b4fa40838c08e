"""vccoord's configuration: a TOML file (optional), overridden by command-line flags."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pydantic

from coordinator.liveness import LivenessConfig
from vcbase.config import StrictModel

DEFAULT_CONFIG_PATH = Path("/etc/vcluster/coordinator.toml")


class CoordinatorConfig(StrictModel):
    listen: str = "127.0.0.1:7443"
    db: str = "/var/lib/vcluster/coordinator.db"
    heartbeat_interval: float = pydantic.Field(default=5.0, gt=0, le=3600)
    missed_heartbeats: int = pydantic.Field(default=3, ge=1, le=1000)
    # Seconds after start during which nobody is declared lost; default: twice the timeout.
    startup_grace: float | None = pydantic.Field(default=None, ge=0)
    log_level: str = "info"

    @pydantic.field_validator("listen")
    @classmethod
    def _check_listen(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError("expected HOST:PORT, e.g. 127.0.0.1:7443 or [::]:7443")
        return value

    def liveness(self) -> LivenessConfig:
        return LivenessConfig(
            heartbeat_interval=timedelta(seconds=self.heartbeat_interval),
            missed_heartbeats=self.missed_heartbeats,
            startup_grace=timedelta(seconds=self.startup_grace)
            if self.startup_grace is not None
            else None,
        )
