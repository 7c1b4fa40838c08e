"""Bad input at the command line: a clear one-line error, the right exit code, no traceback."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.procs import BIN, free_port, vcctl

pytestmark = pytest.mark.integration


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / argv[0]), *argv[1:]], capture_output=True, text=True, timeout=60, check=False
    )


def test_vcctl_unreachable_coordinator_is_one_line_and_nonzero() -> None:
    port = free_port()  # nothing listens there
    result = vcctl(port, "node", "ls")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert f"cannot reach the coordinator at 127.0.0.1:{port}" in lines[0]


def test_vcctl_reads_the_coordinator_from_the_environment() -> None:
    port = free_port()
    result = vcctl(None, "node", "ls", env={"VCLUSTER_COORDINATOR": f"127.0.0.1:{port}"})
    assert result.returncode == 1
    assert f"127.0.0.1:{port}" in result.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ("vcctl", "node", "ls", "--bogus"),
        ("vcctl", "node", "ls", "-o", "xml"),
        ("vcctl", "nodes"),
        ("vcagent", "run", "--bogus"),
        ("vccoord", "serve", "--bogus"),
    ],
)
def test_unknown_arguments_print_usage_and_exit_2(argv: tuple[str, ...]) -> None:
    result = run(*argv)
    assert result.returncode == 2
    assert "Usage:" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('coordinater = "127.0.0.1:1"\n', "coordinater: unknown key"),
        ('reconnect_max = "ten"\n', "reconnect_max: Input should be a valid number"),
        ("simulate = 3\n", "simulate:"),
        ('simulate = "h100"\n', "simulate:"),
        ('coordinator = "no-port"\n', "coordinator: Value error, expected HOST:PORT"),
        ("reconnect_initial = 5\nreconnect_max = 1\n", "reconnect_max must be at least"),
        ("this is not toml\n", "not valid TOML"),
        ('check_intervals = { "nvidia.eccc" = 30 }\n', "check_intervals: unknown checks"),
        ('check_intervals = { "nvidia.ecc" = -1 }\n', "check_intervals"),
        ('[checks.nvidia]\nxid_window_s = "long"\n', "checks.nvidia.xid_window_s"),
    ],
)
def test_agent_config_errors_name_the_key_and_exit_2(
    tmp_path: Path, toml: str, expected: str
) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(toml)
    result = run("vcagent", "run", "--config", str(config), "--state-dir", str(tmp_path / "s"))
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr
    assert str(config) in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "s").exists()  # nothing was started or written


def test_agent_missing_explicit_config_file_is_an_error(tmp_path: Path) -> None:
    result = run("vcagent", "run", "--config", str(tmp_path / "nope.toml"))
    assert result.returncode == 2
    assert "config file not found" in result.stderr


def test_coordinator_config_errors_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "coord.toml"
    config.write_text("missed_heartbeats = 0\n")
    result = run("vccoord", "serve", "--config", str(config), "--db", str(tmp_path / "x.db"))
    assert result.returncode == 2
    assert "missed_heartbeats" in result.stderr
    bad_listen = run("vccoord", "serve", "--listen", "nowhere", "--db", str(tmp_path / "x.db"))
    assert bad_listen.returncode == 2
    assert "listen" in bad_listen.stderr
    assert not (tmp_path / "x.db").exists()


def test_sim_inject_refuses_unknown_and_foreign_faults(tmp_path: Path) -> None:
    state = tmp_path / "gh"
    made = run("vcagent", "inventory", "--simulate", "gh200", "--state-dir", str(state))
    assert made.returncode == 0, made.stderr
    unknown = run("vcagent", "sim", "inject", "nope", "--state-dir", str(state))
    assert unknown.returncode == 2
    assert "unknown fault 'nope'; known:" in unknown.stderr
    foreign = run("vcagent", "sim", "inject", "amd-xgmi-down", "--state-dir", str(state))
    assert foreign.returncode == 2
    assert "does not apply to a gh200 node" in foreign.stderr
    nothing = run("vcagent", "sim", "inject", "xid-79", "--state-dir", str(tmp_path / "none"))
    assert nothing.returncode == 2
    assert "holds no simulated node" in nothing.stderr
    assert not (state / "sim" / "faults.json").exists()  # nothing was recorded as active


def test_check_exit_status_follows_the_verdict(tmp_path: Path) -> None:
    state = str(tmp_path / "rome")
    args = ("vcagent", "check", "--simulate", "rome", "--state-dir", state, "-o", "json")
    assert run(*args).returncode == 0
    injected = run("vcagent", "sim", "inject", "filesystem-read-only", "--state-dir", state)
    assert injected.returncode == 0, injected.stderr
    failing = run(*args)
    assert failing.returncode == 1
    assert '"check": "host.mounts"' in failing.stdout
    assert run("vcagent", "check", "--mode", "sometimes").returncode == 2
