"""Idle footprint of vcagent beside prometheus-node-exporter, measured in the same run.

Starts a coordinator and one simulated GH200 agent (default check intervals), and
prometheus-node-exporter (Debian package) on loopback; lets both settle, then samples each
process tree for DURATION seconds: resident memory (RSS, MB), CPU share of one core (%), and
wakeups per second (voluntary + involuntary context switches of all threads). USS (unique set
size) is printed beside RSS: RSS also counts the pages of shared libraries (libpython, gRPC's
core) that every Python process on the node shares.

Usage: .venv/bin/python bench/footprint.py [--duration 60]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from coordinator.ctl.client import AdminClient
from tests.procs import Proc, free_port, vcagent, vccoord
from tests.waiting import wait_until
from vcbase.errors import VclusterError


@dataclass
class Sample:
    cpu_s: float
    ctx: int
    rss: int
    uss: int  # unique set size: the memory only this process holds (no shared library pages)


def thread_ctx_switches(pid: int) -> int:
    """Context switches of every thread: a thread's wakeups show only in its own
    /proc/PID/task/TID/status (psutil's per-process figure is the main thread's)."""
    total = 0
    for status in Path(f"/proc/{pid}/task").glob("*/status"):
        try:
            for line in status.read_text().splitlines():
                if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                    total += int(line.split()[1])
        except OSError:
            continue  # the thread ended between listing and reading
    return total


def sample(pid: int) -> Sample:
    procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    cpu, ctx, rss, uss = 0.0, 0, 0, 0
    for p in procs:
        t = p.cpu_times()
        cpu += t.user + t.system
        ctx += thread_ctx_switches(p.pid)
        mem = p.memory_full_info()
        rss += mem.rss
        uss += mem.uss
    return Sample(cpu, ctx, rss, uss)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--settle", type=float, default=10.0)
    args = parser.parse_args()
    exporter = shutil.which("prometheus-node-exporter")
    if exporter is None:
        raise SystemExit("apt-get install prometheus-node-exporter first (the baseline)")
    tmp = Path(tempfile.mkdtemp(prefix="vc-footprint-"))
    port = free_port()
    coord = vccoord(tmp, port).start()
    agent = vcagent(tmp, port, "gh-001", "gh200").start()
    baseline = Proc(
        "node-exporter",
        [exporter, f"--web.listen-address=127.0.0.1:{free_port()}"],
        tmp / "exporter.log",
    ).start()
    try:

        def registered() -> bool:
            try:
                with AdminClient(f"127.0.0.1:{port}") as c:
                    n = c.get_node("gh-001")
                    return n.connected and bool(n.checks)
            except VclusterError:
                return False

        wait_until(registered, 60, "agent registered with its checks")
        time.sleep(args.settle)
        rows = {}
        # Measure both over the same window: sample both, sleep once, sample both.
        a0, b0, t0 = sample(agent.pid), sample(baseline.pid), time.monotonic()
        time.sleep(args.duration)
        a1, b1, t1 = sample(agent.pid), sample(baseline.pid), time.monotonic()
        wall = t1 - t0
        for name, s0, s1 in (("vcagent (sim gh200)", a0, a1), ("node-exporter", b0, b1)):
            rows[name] = (
                s1.rss / 1e6,
                s1.uss / 1e6,
                100 * (s1.cpu_s - s0.cpu_s) / wall,
                (s1.ctx - s0.ctx) / wall,
            )
        print(f"idle footprint over {wall:.0f} s (after {args.settle:.0f} s settling)")
        print(f"{'process':<22}{'RSS MB':>10}{'USS MB':>10}{'CPU %':>10}{'wakeups/s':>12}")
        for name, (rss, uss, cpu, wake) in rows.items():
            print(f"{name:<22}{rss:>10.1f}{uss:>10.1f}{cpu:>10.3f}{wake:>12.1f}")
        (ar, au, ac, aw), (br, bu, bc, bw) = rows["vcagent (sim gh200)"], rows["node-exporter"]
        nan = float("nan")
        print(
            f"{'ratio agent/exporter':<22}{ar / br:>10.2f}{au / bu:>10.2f}"
            f"{(ac / bc if bc else nan):>10.2f}{(aw / bw if bw else nan):>12.2f}"
        )
        print("targets: RSS <= 50 MB, CPU <= 0.15 % of a core")
    finally:
        for p in (agent, coord, baseline):
            if p.alive():
                p.terminate()
        subprocess.run(["rm", "-rf", str(tmp)], check=False)


if __name__ == "__main__":
    main()
