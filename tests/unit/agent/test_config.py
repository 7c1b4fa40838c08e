from __future__ import annotations

import socket
from pathlib import Path

import pytest

from agent.cli import load_config
from agent.config import AgentConfig


def test_defaults() -> None:
    cfg = AgentConfig()
    assert cfg.coordinator == "127.0.0.1:7443"
    assert cfg.name == socket.gethostname().split(".")[0]
    assert cfg.socket_path == Path("/var/lib/vcluster/agent/agent.sock")


def test_flags_override_the_file_and_none_means_not_given(tmp_path: Path) -> None:
    f = tmp_path / "agent.toml"
    f.write_text('coordinator = "coord1:7443"\nnode_name = "nid001"\nsimulate = "gh200"\n')
    cfg = load_config(f, {"coordinator": "coord2:7443", "node_name": None})
    assert cfg.coordinator == "coord2:7443"
    assert cfg.node_name == "nid001"
    assert cfg.simulate == "gh200"


def test_a_bad_file_exits_2_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "agent.toml"
    f.write_text("node_name = 7\n")
    with pytest.raises(SystemExit) as info:
        load_config(f, {})
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert f"{f}: node_name: Input should be a valid string (got 7)" in err
