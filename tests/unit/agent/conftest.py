"""Fixtures shared by the agent hardware tests."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

import agent.hardware
import agent.probes.gpu_amd
import agent.probes.gpu_nvidia
import agent.sim.tree

_LOGGING_MODULES = (agent.hardware, agent.probes.gpu_amd, agent.probes.gpu_nvidia, agent.sim.tree)


@pytest.fixture
def logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[MutableMapping[str, Any]]]:
    """Log events emitted by the hardware modules during the test, as dicts.

    The modules bind their loggers at import; whatever logging configuration another test left
    behind, each module's `log` is swapped for a fresh lazy logger so capture always works.
    """
    with capture_logs() as captured:
        for module in _LOGGING_MODULES:
            monkeypatch.setattr(module, "log", structlog.get_logger(module.__name__))
        yield captured
