"""Time of a full check pass on a simulated GH200 node, beside an NHC-style bash baseline.

The agent pass runs every applicable check of the catalog (NVIDIA x4 GPUs, Slingshot x4, host)
in-process, through the same code as the daemon (`CheckRunner.run_pass(Mode.FULL)`). The
baseline is a bash script that reads the host facts LBNL NHC's basic checks read (cpuinfo,
meminfo, mounts, one process), started as a process each time as Slurm would start NHC.

Usage: .venv/bin/python bench/check_pass.py [--runs 200]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from agent.checks.base import Mode
from agent.checks.catalog import all_checks
from agent.checks.runner import CheckRunner
from agent.checks.thresholds import Thresholds
from agent.hardware import collect_inventory, open_hardware
from agent.profiles import PROFILES

NHC_LIKE = r"""
set -e
grep -c '^processor' /proc/cpuinfo >/dev/null
awk '/MemTotal/ {print $2}' /proc/meminfo >/dev/null
grep -q ' / ' /proc/mounts
test -w /tmp
pgrep -x init >/dev/null || pgrep -x systemd >/dev/null || true
"""


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def agent_pass_times(runs: int) -> tuple[list[float], int]:
    state = Path(tempfile.mkdtemp(prefix="vc-bench-"))
    hw = open_hardware("gh200", "gh-001", state)
    inv = collect_inventory(hw)
    runner = CheckRunner(hw, PROFILES[inv.node_type], Thresholds(), all_checks())
    await runner.run_pass(Mode.FULL)  # warm up
    times, results = [], 0
    for _ in range(runs):
        t0 = time.perf_counter()
        results = len(await runner.run_pass(Mode.FULL))
        times.append((time.perf_counter() - t0) * 1000)
    return times, results


def baseline_times(runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(["bash", "-c", NHC_LIKE], check=True)
        times.append((time.perf_counter() - t0) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    agent, results = asyncio.run(agent_pass_times(args.runs))
    base = baseline_times(args.runs)
    print(f"full check pass, simulated GH200, {args.runs} runs ({results} results per pass)")
    print(f"{'':<34}{'p50 ms':>10}{'p99 ms':>10}{'mean ms':>10}")
    for name, t in (
        ("vcagent full pass (in-process)", agent),
        ("bash NHC-like (4 host facts)", base),
    ):
        print(f"{name:<34}{pct(t, 0.5):>10.2f}{pct(t, 0.99):>10.2f}{statistics.mean(t):>10.2f}")
    print(f"{'ratio agent/baseline (p50)':<34}{pct(agent, 0.5) / pct(base, 0.5):>10.2f}")


if __name__ == "__main__":
    main()
