"""Latency of the Slurm prolog hook, as slurmd sees it, beside an NHC-style bash baseline.

Each run starts the installed `vcagent-prolog` as a fresh process (as slurmd does) with
SLURMD_NODENAME and SLURM_JOB_ID set, against a running agent of a simulated GH200 node (with
a coordinator), and waits for its exit: interpreter start, imports, the socket round trip and
the agent's answer (the stable state plus the live re-run of the prolog checks). Two agents:
idle (default intervals) and under check load (every check every 0.2 s). In the same loop, one
run each of the baseline, the bash script of bench/check_pass.py that reads the host facts
LBNL NHC's basic checks read, and of `python -c pass` (the interpreter's floor).

The hook modules are byte-compiled first, as an installed package has them (this machine sets
PYTHONDONTWRITEBYTECODE, which would make every run compile the client from source).

Usage: .venv/bin/python bench/hook_latency.py [--runs 200]
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from agent.checks.catalog import all_checks
from bench.check_pass import NHC_LIKE, pct

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
NODE = "bench01"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def hook_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(
        SLURMD_NODENAME=NODE,
        SLURM_JOB_ID="1",
        SLURM_JOB_USER="bench",
        VCLUSTER_HOOK_SOCKET=str(tmp / "%n" / "hook.sock"),
        VCLUSTER_HOOK_FALLBACK="fail",  # a run that misses the agent must not count as fast
    )
    return env


@contextmanager
def agent(tmp: Path, port: int, loaded: bool) -> Iterator[Path]:
    """A running agent of a simulated GH200; yields its log file."""
    config = tmp / "agent.toml"
    intervals = ", ".join(f'"{c.name}" = 0.2' for c in all_checks()) if loaded else ""
    config.write_text(f"check_intervals = {{ {intervals} }}\n")
    log = tmp / f"agent-{'loaded' if loaded else 'idle'}.log"
    argv = [str(BIN / "vcagent"), "run", "--coordinator", f"127.0.0.1:{port}"]
    argv += ["--node-name", NODE, "--state-dir", str(tmp / NODE), "--simulate", "gh200"]
    with log.open("wb") as out:
        proc = subprocess.Popen([*argv, "--config", str(config)], stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 60
        probe = [str(BIN / "vcagent-prolog")]
        while subprocess.run(probe, env=hook_env(tmp), stderr=subprocess.DEVNULL).returncode:
            if time.monotonic() > deadline:
                raise SystemExit(f"the agent did not answer; see {log}")
            time.sleep(0.2)
        time.sleep(1.0)  # let the first pass and the session settle
        yield log
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def timed(argv: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL)
    elapsed = (time.perf_counter() - t0) * 1000
    if done.returncode != 0:
        raise SystemExit(f"{argv[0]} exited {done.returncode}")
    return elapsed


def measure(tmp: Path, log: Path, runs: int) -> dict[str, list[float]]:
    env = hook_env(tmp)
    times: dict[str, list[float]] = {"hook": [], "bash": [], "python": []}
    for _ in range(runs):
        times["hook"].append(timed([str(BIN / "vcagent-prolog")], env))
        times["bash"].append(timed(["bash", "-c", NHC_LIKE], env))
        times["python"].append(timed([sys.executable, "-c", "pass"], env))
    answered = [
        json.loads(line) for line in log.read_text().splitlines() if "hook_answered" in line
    ]
    times["agent"] = [float(e["elapsed_ms"]) for e in answered[-runs:]]
    return times


def row(name: str, t: list[float]) -> str:
    return f"{name:<40}{pct(t, 0.5):>10.2f}{pct(t, 0.99):>10.2f}{statistics.mean(t):>10.2f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    for path in (ROOT / "agent" / "__init__.py", ROOT / "agent" / "hooks"):
        if path.is_dir():
            compileall.compile_dir(str(path), quiet=1)
        else:
            compileall.compile_file(str(path), quiet=1)
    tmp = Path(tempfile.mkdtemp(prefix="vc-hookbench-"))
    port = free_port()
    coord_log = (tmp / "vccoord.log").open("wb")
    coord = subprocess.Popen(
        [str(BIN / "vccoord"), "serve", "--listen", f"127.0.0.1:{port}", "--db", str(tmp / "c.db")],
        stdout=coord_log,
        stderr=coord_log,
    )
    try:
        with agent(tmp, port, loaded=False) as log:
            idle = measure(tmp, log, args.runs)
        with agent(tmp, port, loaded=True) as log:
            loaded = measure(tmp, log, args.runs)
    finally:
        coord.send_signal(signal.SIGTERM)
        coord.wait(30)
        coord_log.close()
    print(f"prolog hook, simulated GH200, {args.runs} runs each, one process per run")
    print(f"{'':<40}{'p50 ms':>10}{'p99 ms':>10}{'mean ms':>10}")
    for label, t in (("idle agent", idle), ("agent under check load", loaded)):
        print(label)
        print(row("  vcagent-prolog", t["hook"]))
        print(row("    of which the agent's answer", t["agent"]))
        print(row("  bash NHC-like (4 host facts)", t["bash"]))
        print(row("  python -c pass (interpreter floor)", t["python"]))
        hook, base, floor = (pct(t[k], 0.5) for k in ("hook", "bash", "python"))
        print(f"{'  ratio hook/baseline (p50)':<40}{hook / base:>10.2f}")
        print(f"{'  ratio hook/interpreter floor (p50)':<40}{hook / floor:>10.2f}")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
