"""The hooks' slow paths: no agent (fallback check / fail, always stated) and the
healthcheck's drain (policy, prefix, never over someone else's drain). `vcagent check` and
`scontrol` are stand-in scripts here; tests/integration/test_hooks.py runs the real vcagent."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

import pytest

from agent.hooks.client import EXIT_FAIL, EXIT_NO_VERDICT, EXIT_OK, run
from agent.sim import faults
from tests.unit.agent.hooks.conftest import NODE, Served

FAILING = (
    '[{"check": "host.memory", "subject": "memory", "status": "fail", "action": "repair",'
    ' "message": "MemTotal low"}]'
)


def script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def fake_vcagent(tmp_path: Path, stdout: str, code: int, delay: float = 0) -> dict[str, str]:
    """Env that makes the fallback run a stand-in for `vcagent check`; it logs its argv."""
    log = tmp_path / "vcagent.argv"
    body = f'echo "$@" >> {log}\nsleep {delay}\ncat <<"EOF"\n{stdout}\nEOF\nexit {code}\n'
    return {"VCLUSTER_VCAGENT": str(script(tmp_path / "vcagent", body))}


def err_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().err.splitlines()


def test_fallback_fail_exits_3_and_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "none.sock"
    rc = run("prolog", ["--socket", str(missing), "--fallback", "fail"], {})
    assert rc == EXIT_NO_VERDICT
    assert err_lines(capsys) == [
        f"vcagent-prolog: FAIL: no verdict: no agent socket at {missing}; fallback=fail"
    ]


@pytest.mark.parametrize(
    ("stdout", "code", "rc", "last"),
    [
        ("[]", 0, EXIT_OK, "vcagent-epilog: fallback check: ok"),
        (FAILING, 1, EXIT_FAIL, "FAIL (fallback check): host.memory memory fail/repair"),
        ("garbage", 1, EXIT_NO_VERDICT, "FAIL: no verdict: `vcagent check` exited 1"),
        ("[]", 2, EXIT_NO_VERDICT, "FAIL: no verdict: `vcagent check` exited 2"),
    ],
)
def test_fallback_check_uses_vcagent_checks_verdict(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    stdout: str,
    code: int,
    rc: int,
    last: str,
) -> None:
    env = fake_vcagent(tmp_path, stdout, code)
    argv = ["--socket", str(tmp_path / "none.sock"), "--config", "/etc/%n.toml", "--node", "n4"]
    assert run("epilog", argv, env) == rc
    first, second = err_lines(capsys)
    assert first.endswith("; fallback=check: running `vcagent check --mode full --output json`")
    assert last in second
    argv_seen = (tmp_path / "vcagent.argv").read_text().split()
    assert argv_seen == ["check", "--mode", "full", "--output", "json", "--config", "/etc/n4.toml"]


def test_a_fallback_check_that_hangs_is_no_verdict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = fake_vcagent(tmp_path, "[]", 0, delay=30)
    argv = ["--socket", str(tmp_path / "none.sock"), "--check-timeout", "0.3"]
    assert run("prolog", argv, env) == EXIT_NO_VERDICT
    assert "gave no verdict in 0.3s" in err_lines(capsys)[-1]


def test_a_stale_socket_takes_the_fallback(
    short_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = short_dir / "stale.sock"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))  # bound, never listening: what a killed agent leaves behind
    assert run("prolog", ["--socket", str(path), "--fallback", "fail"], {}) == EXIT_NO_VERDICT
    assert "nobody listens on" in err_lines(capsys)[0]


@pytest.mark.asyncio
async def test_an_agent_that_does_not_answer_in_time_takes_the_fallback(
    short_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = short_dir / "mute.sock"

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    server = await asyncio.start_unix_server(hold, str(path))
    try:
        argv = ["--socket", str(path), "--timeout", "0.2", "--fallback", "fail"]
        assert await asyncio.to_thread(run, "prolog", argv, {}) == EXIT_NO_VERDICT
    finally:
        server.close()
    assert "no reply from the agent" in err_lines(capsys)[0]


@pytest.mark.asyncio
async def test_a_request_the_agent_refuses_takes_the_fallback(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--socket", str(served.path), "--node", "nid999999", "--fallback", "fail"]
    assert await asyncio.to_thread(run, "prolog", argv, {}) == EXIT_NO_VERDICT
    assert "the agent refused the request (node: this agent runs" in err_lines(capsys)[0]


# -- the healthcheck's drain ------------------------------------------------------------------


def fake_scontrol(tmp_path: Path, state: str) -> dict[str, str]:
    """Env with a stand-in `scontrol` first on PATH: it answers `show node` with `state` and
    logs every call."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "scontrol.calls"
    body = (
        f'printf "%s\\n" "$*" >> {log}\n'
        f'if [ "$1" = "-o" ]; then echo "NodeName=$4 Arch=x86_64 State={state} Reason=x"; fi\n'
    )
    script(bin_dir / "scontrol", body)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


def calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "scontrol.calls"
    return log.read_text().splitlines() if log.exists() else []


@pytest.mark.parametrize(
    ("hook", "connected", "drain", "state", "drained", "said"),
    [
        ("healthcheck", False, "auto", "IDLE", True, f"drained {NODE}: vcluster: host.memory"),
        ("healthcheck", True, "auto", "IDLE", False, "not draining: the coordinator is connected"),
        ("healthcheck", True, "always", "MIXED", True, f"drained {NODE}: vcluster: "),
        ("healthcheck", False, "auto", "IDLE+DRAIN", False, "already IDLE+DRAIN (its reason"),
        ("healthcheck", False, "never", "IDLE", False, "FAIL job 9: host.memory memory"),
        ("prolog", False, "always", "IDLE", False, "FAIL job 9: host.memory memory"),
    ],
)
@pytest.mark.asyncio
async def test_a_failed_healthcheck_drains_as_the_policy_says(
    served: Served,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    hook: str,
    connected: bool,
    drain: str,
    state: str,
    drained: bool,
    said: str,
) -> None:
    served.node.connected = connected
    faults.inject(served.node.state_dir, "memory-missing")
    env = {**fake_scontrol(tmp_path, state), "SLURMD_NODENAME": NODE, "SLURM_JOB_ID": "9"}
    argv = ["--socket", str(served.path), "--drain", drain]
    assert await asyncio.to_thread(run, hook, argv, env) == EXIT_FAIL
    assert said in capsys.readouterr().err.splitlines()[-1]
    updates = [c for c in calls(tmp_path) if c.startswith("update")]
    if drained:
        (update,) = updates
        assert update.startswith(f"update nodename={NODE} state=drain reason=vcluster: host.memory")
    else:
        assert updates == []


@pytest.mark.asyncio
async def test_without_a_node_name_the_agents_own_is_drained(
    served: Served, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """slurmd gives HealthCheckProgram no SLURMD_NODENAME: the agent's reply names the node."""
    faults.inject(served.node.state_dir, "memory-missing")
    env = fake_scontrol(tmp_path, "IDLE")
    argv = ["--socket", str(served.path), "--drain", "always"]
    assert await asyncio.to_thread(run, "healthcheck", argv, env) == EXIT_FAIL
    assert (
        capsys.readouterr().err.splitlines()[-1].startswith(f"vcagent-healthcheck: drained {NODE}")
    )
    assert calls(tmp_path)[-1].startswith(f"update nodename={NODE} state=drain")


def test_an_agent_down_healthcheck_drains_when_the_fallback_check_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {
        **fake_vcagent(tmp_path, FAILING, 1),
        **fake_scontrol(tmp_path, "IDLE"),
        "SLURMD_NODENAME": "n2",
    }
    assert run("healthcheck", ["--socket", str(tmp_path / "none.sock")], env) == EXIT_FAIL
    lines = capsys.readouterr().err.splitlines()
    assert "fallback=check" in lines[0] and lines[-1].startswith("vcagent-healthcheck: drained n2")
    assert [c.split()[0] for c in calls(tmp_path)] == ["-o", "update"]
