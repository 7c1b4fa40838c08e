"""The hook client: options by hand, its JSON without the json module, and the fast path
against the real hook server over a simulated node."""

from __future__ import annotations

import asyncio
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.hooks import DEFAULT_SOCKET
from agent.hooks.client import (
    EXIT_FAIL,
    EXIT_OK,
    EXIT_USAGE,
    AgentUnavailable,
    UsageError,
    ask,
    describe,
    loads,
    options,
    request_line,
    run,
)
from agent.hooks.protocol import Hook, HookRequest, parse_request
from agent.sim import faults
from tests.unit.agent.hooks.conftest import NODE, Served


def test_defaults_then_environment_then_argv() -> None:
    opts = options([], {})
    assert opts["socket"] == DEFAULT_SOCKET and opts["fallback"] == "check"
    assert opts["drain"] == "auto" and opts["node"] == "" and opts["timeout"] == "10"
    env = {"VCLUSTER_HOOK_SOCKET": "/run/%n/h.sock", "SLURMD_NODENAME": "n3"}
    assert options([], env)["socket"] == "/run/n3/h.sock"
    opts = options(["--socket", "/a/%n.sock", "--node=n9", "--fallback=fail"], env)
    assert (opts["socket"], opts["node"], opts["fallback"]) == ("/a/n9.sock", "n9", "fail")
    assert options(["--config", "/etc/%n.toml"], env)["config"] == "/etc/n3.toml"
    assert options(["-h"], {}) == {"help": "1"}


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["--bogus"], {}, "unknown option '--bogus'"),
        (["--socket"], {}, "--socket needs a value"),
        (["--fallback", "pray"], {}, "--fallback: expected check or fail, got 'pray'"),
        ([], {"VCLUSTER_HOOK_DRAIN": "sometimes"}, "--drain: expected auto or always or never"),
        (["--timeout", "soon"], {}, "--timeout: expected seconds"),
        (["--check-timeout", "-1"], {}, "--check-timeout: expected seconds"),
        (["--socket", "/x/%n.sock"], {}, "--socket: %n needs SLURMD_NODENAME or --node"),
    ],
)
def test_bad_options_name_the_option(argv: list[str], env: dict[str, str], message: str) -> None:
    with pytest.raises(UsageError, match=message.replace("(", r"\(")):
        options(argv, env)


def test_a_usage_error_exits_2_with_one_stderr_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("prolog", ["--fallback", "pray"], {}) == EXIT_USAGE
    assert capsys.readouterr().err == (
        "vcagent-prolog: usage error: --fallback: expected check or fail, got 'pray' (see --help)\n"
    )


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=25,
)


@given(json_values)
def test_loads_reads_what_json_writes(value: object) -> None:
    assert loads(json.dumps(value)) == value
    assert loads(json.dumps(value, separators=(",", ":")) + "\n") == value


def _no_constants(name: str) -> object:
    raise ValueError(name)


@given(st.text(max_size=50) | st.sampled_from(["NaN", "[Infinity]", ' {"a": 1} x', "1 2"]))
def test_loads_rejects_what_json_rejects(text: str) -> None:
    try:  # loads is strict JSON: NaN and Infinity are not
        expected: object = json.loads(text, parse_constant=_no_constants)
    except ValueError:
        try:
            loads(text)
        except ValueError:
            return
        pytest.fail(f"loads accepted {text!r}, which json.loads rejects")
    else:
        if text.strip(" \t\r\n") == text.strip():  # json also skips other whitespace
            assert loads(text) == expected


@given(
    st.sampled_from(["prolog", "epilog", "healthcheck"]),
    st.text(max_size=30),
    st.text(max_size=30),
    st.text(max_size=30),
)
def test_request_line_is_what_the_server_parses(
    hook: str, job_id: str, user: str, node: str
) -> None:
    raw = request_line(hook, job_id, user, node)
    assert raw.endswith(b"\n") and raw.count(b"\n") == 1 and raw.isascii()
    assert json.loads(raw) == {
        "v": 1,
        "hook": hook,
        **{k: v for k, v in (("job_id", job_id), ("user", user), ("node", node)) if v},
    }
    if all(s.isprintable() for s in (job_id, user, node)):
        assert parse_request(raw) == HookRequest(Hook(hook), job_id, user, node)


def test_describe_makes_one_line() -> None:
    failing = [
        {"check": "a", "subject": "x", "status": "fail", "action": "reboot", "message": "m\nn"},
        {"check": "b", "subject": "y", "status": "fail", "action": "none", "message": "z" * 500},
        "junk",
    ]
    text = describe(failing)
    assert "\n" not in text and text.startswith("a x fail/reboot: m n; b y fail/none: zzz")
    assert len(text) < 300 and describe(None) == ""


@pytest.mark.asyncio
async def test_ask_gets_the_servers_reply(served: Served) -> None:
    raw = request_line("prolog", "7", "alice", NODE)
    reply = await asyncio.to_thread(ask, str(served.path), raw, 5.0)
    assert reply["ok"] is True and reply["hook"] == "prolog"


@pytest.mark.asyncio
async def test_a_refused_request_is_agent_unavailable(served: Served) -> None:
    raw = request_line("prolog", "7", "alice", "nid999999")
    with pytest.raises(AgentUnavailable, match=r"refused the request \(node: this agent runs"):
        await asyncio.to_thread(ask, str(served.path), raw, 5.0)


@pytest.mark.asyncio
async def test_run_passes_silently_and_fails_with_one_line_naming_the_check(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {"SLURM_JOB_ID": "11", "SLURMD_NODENAME": NODE}
    argv = ["--socket", str(served.path)]
    assert await asyncio.to_thread(run, "prolog", argv, env) == EXIT_OK
    assert capsys.readouterr().err == ""
    faults.inject(served.node.state_dir, "memory-missing")
    assert await asyncio.to_thread(run, "prolog", argv, env) == EXIT_FAIL
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("vcagent-prolog: FAIL job 11: host.memory memory fail/repair: ")
