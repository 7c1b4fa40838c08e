"""The hook keys of agent.toml: hook_socket, hook_unknown, hook_live_budget_s."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.cli import load_config
from agent.config import AgentConfig


def test_the_hook_socket_lives_in_the_state_dir_unless_set() -> None:
    assert AgentConfig().hook_socket_path == Path("/var/lib/vcluster/agent/hook.sock")
    assert AgentConfig(state_dir="/s").hook_socket_path == Path("/s/hook.sock")
    assert AgentConfig(hook_socket="/run/h.sock").hook_socket_path == Path("/run/h.sock")
    cfg = AgentConfig()
    assert (cfg.hook_unknown, cfg.hook_live_budget_s) == ("pass", 2.0)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('hook_unknown = "maybe"', "hook_unknown: Input should be 'pass' or 'fail'"),
        ("hook_live_budget_s = 0", "hook_live_budget_s: Input should be greater than 0"),
        ("hook_live_budget_s = 61", "hook_live_budget_s: Input should be less than or equal"),
    ],
)
def test_a_bad_hook_key_exits_2_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str, message: str
) -> None:
    f = tmp_path / "agent.toml"
    f.write_text(line + "\n")
    with pytest.raises(SystemExit) as info:
        load_config(f, {})
    assert info.value.code == 2
    assert message in capsys.readouterr().err
