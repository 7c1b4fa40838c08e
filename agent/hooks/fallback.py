"""The hooks' slow paths, imported only when taken: the agent-down fallback and the
healthcheck's drain. Standard library only, like `agent.hooks.client`.

Agent-down policy (`--fallback`, VCLUSTER_HOOK_FALLBACK; docs/hooks.md):
- `check` (default): run `vcagent check --mode full -o json` here, with a timeout, and use its
  verdict (exit 0 or 1). Full, not prolog: the agent's answer is its stable state of every check
  plus the fast ones re-run, and without an agent there is no stable state, so the stand-in is
  one pass of everything (~0.4 s, nearly all of it imports). No verdict (it cannot start, times
  out, or answers nonsense): exit 3.
- `fail`: exit 3 at once.
Either way the first stderr line says why the agent was not used and which path was taken.

Drain policy of the healthcheck hook (`--drain`, VCLUSTER_HOOK_DRAIN), as Slurm ignores the
HealthCheckProgram's exit status:
- `auto` (default): drain when a check failed and no coordinator will act on it (the agent says
  its coordinator session is down, or the agent itself is down). With a coordinator up, it
  drains through its Slurm driver, with its safety cap and node lifecycle.
- `always`: drain whenever the healthcheck does not pass (failed, or no verdict).
- `never`: only report.
A drain never overwrites a drain someone else set (the node is left alone if already DRAIN),
the reason always starts with "vcluster: ", and the hooks never resume a node.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping

from agent.hooks import DRAIN_PREFIX
from agent.hooks.client import EXIT_FAIL, EXIT_NO_VERDICT, EXIT_OK, describe

CHECK_ARGV = ("check", "--mode", "full", "--output", "json")
SCONTROL_TIMEOUT_S = 10.0  # x2 (show, update) + the fallback check: under Slurm's 60 s
REASON_CHARS = 200
Say = Callable[[str, str], None]


def vcagent_path(env: Mapping[str, str]) -> str:
    """VCLUSTER_VCAGENT, else the `vcagent` installed beside this hook (or beside the
    interpreter running it), else `vcagent` on PATH."""
    if env.get("VCLUSTER_VCAGENT"):
        return env["VCLUSTER_VCAGENT"]
    for directory in (
        os.path.dirname(os.path.abspath(sys.argv[0])),
        os.path.dirname(sys.executable),
    ):
        candidate = os.path.join(directory, "vcagent")
        if os.access(candidate, os.X_OK):
            return candidate
    return "vcagent"


def local_check(opts: Mapping[str, str], env: Mapping[str, str]) -> tuple[int, str]:
    """Run `vcagent check` here: (EXIT_OK, "") / (EXIT_FAIL, the failing checks) /
    (EXIT_NO_VERDICT, why)."""
    argv = [vcagent_path(env), *CHECK_ARGV]
    if opts["config"]:
        argv += ["--config", opts["config"]]
    try:
        proc = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=float(opts["check_timeout"]),
            env=dict(env),
            check=False,
        )
    except subprocess.TimeoutExpired:
        return EXIT_NO_VERDICT, f"`vcagent check` gave no verdict in {opts['check_timeout']}s"
    except OSError as exc:
        return EXIT_NO_VERDICT, f"cannot run {argv[0]}: {exc}"
    try:
        results = json.loads(proc.stdout)
        failing = [r for r in results if r["status"] == "fail"]
    except (ValueError, TypeError, KeyError):
        failing = None
    if proc.returncode not in (EXIT_OK, EXIT_FAIL) or failing is None:
        tail = " ".join(proc.stderr.split())[-300:]
        return EXIT_NO_VERDICT, f"`vcagent check` exited {proc.returncode}: {tail}"
    if proc.returncode == EXIT_FAIL or failing:
        return EXIT_FAIL, describe(failing) or "`vcagent check` exited 1"
    return EXIT_OK, ""


def fallback(hook: str, opts: Mapping[str, str], why: str, say: Say, env: Mapping[str, str]) -> int:
    """The agent did not answer (`why`): apply the fallback policy; the exit status."""
    if opts["fallback"] == "fail":
        say(hook, f"FAIL: no verdict: {why}; fallback=fail")
        if hook == "healthcheck" and opts["drain"] == "always":
            drain(opts, f"no verdict: {why}", say, env)
        return EXIT_NO_VERDICT
    say(hook, f"{why}; fallback=check: running `vcagent {' '.join(CHECK_ARGV)}`")
    status, text = local_check(opts, env)
    if status == EXIT_OK:
        say(hook, "fallback check: ok")
    elif status == EXIT_FAIL:
        say(hook, f"FAIL (fallback check): {text}")
        if hook == "healthcheck":
            drain_if_needed(opts, text, coordinator=False, say=say, env=env)
    else:
        say(hook, f"FAIL: no verdict: {text}")
        if hook == "healthcheck" and opts["drain"] == "always":
            drain(opts, f"no verdict: {text}", say, env)
    return status


def drain_if_needed(
    opts: Mapping[str, str], text: str, coordinator: bool, say: Say, env: Mapping[str, str]
) -> None:
    """After a failed healthcheck: drain per the policy (see the module docstring)."""
    if opts["drain"] == "always" or (opts["drain"] == "auto" and not coordinator):
        drain(opts, text, say, env)
    elif opts["drain"] == "auto":
        say("healthcheck", "not draining: the coordinator is connected and drains the node")


def _node_state(scontrol: str, node: str) -> str:
    """The State= of `node` (IDLE+DRAIN, ...); RuntimeError when scontrol cannot tell."""
    proc = subprocess.run(
        [scontrol, "-o", "show", "node", node],
        capture_output=True,
        text=True,
        timeout=SCONTROL_TIMEOUT_S,
        check=False,
    )
    for token in proc.stdout.split():
        if token.startswith("State="):
            return token.removeprefix("State=")
    error = " ".join(proc.stderr.split())
    raise RuntimeError(f"scontrol show node {node} exited {proc.returncode}: {error}")


def drain(opts: Mapping[str, str], text: str, say: Say, env: Mapping[str, str]) -> bool:
    """Drain the node with reason "vcluster: <text>" unless it is already drained or draining
    (someone else's reason is never overwritten). The node: --node or SLURMD_NODENAME, else the
    agent's node name from its reply, else the short hostname. True when it drained it."""
    node = opts["node"] or os.uname().nodename.split(".")[0]  # the agent's default name
    scontrol = shutil.which("scontrol", path=env.get("PATH")) or "/usr/bin/scontrol"
    reason = (DRAIN_PREFIX + " ".join(text.split()))[:REASON_CHARS]
    try:
        state = _node_state(scontrol, node)
        if "DRAIN" in state:
            say("healthcheck", f"not draining {node}: already {state} (its reason is kept)")
            return False
        proc = subprocess.run(
            [scontrol, "update", f"nodename={node}", "state=drain", f"reason={reason}"],
            capture_output=True,
            text=True,
            timeout=SCONTROL_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired, RuntimeError) as exc:
        say("healthcheck", f"cannot drain {node}: {exc}")
        return False
    if proc.returncode != 0:
        error = " ".join(proc.stderr.split())
        say("healthcheck", f"cannot drain {node}: scontrol exited {proc.returncode}: {error}")
        return False
    say("healthcheck", f"drained {node}: {reason}")
    return True
