"""The hook process stays small: it imports no gRPC or protobuf (and, on its fast path, none of
the costlier standard modules). Checked with `python -X importtime` on the real executable
code, against the real hook server."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest

from tests.unit.agent.hooks.conftest import NODE, Served

# What the fast path must not import: gRPC/protobuf (the brief), and what would cost it
# milliseconds (socket pulls in enum and selectors, json pulls in re).
NEVER = ("grpc", "google", "vcluster", "pydantic", "structlog", "vcbase", "agent.checks")
NOT_ON_THE_FAST_PATH = ("json", "re", "socket", "typing", "enum", "asyncio", "subprocess")
HOOK = "from agent.hooks.client import main_prolog; raise SystemExit(main_prolog())"


async def imported(*argv: str) -> tuple[int, set[str], str]:
    """Run the prolog hook's code with -X importtime: (exit status, modules, stderr)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM", "VCLUSTER"))}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-X",
        "importtime",
        "-c",
        HOOK,
        *argv,
        stderr=asyncio.subprocess.PIPE,
        env={**env, "SLURMD_NODENAME": NODE, "SLURM_JOB_ID": "1"},
    )
    _, err = await proc.communicate()
    text = err.decode()
    modules = {
        line.rsplit("|", 1)[1].strip()
        for line in text.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    modules.discard("imported package")  # the header line
    return proc.returncode or 0, modules, text


def top(modules: set[str], names: tuple[str, ...]) -> set[str]:
    return {m for m in modules if any(m == n or m.startswith(n + ".") for n in names)}


@pytest.mark.asyncio
async def test_the_fast_path_imports_only_cheap_standard_modules(served: Served) -> None:
    rc, modules, err = await imported("--socket", str(served.path))
    assert rc == 0, err
    assert "agent.hooks.client" in modules
    assert top(modules, NEVER) == set()
    assert top(modules, NOT_ON_THE_FAST_PATH) == set()
    assert "agent.hooks.fallback" not in modules


@pytest.mark.asyncio
async def test_the_fallback_path_imports_no_grpc_either(served: Served) -> None:
    missing = served.path.with_name("absent.sock")
    rc, modules, err = await imported("--socket", str(missing), "--fallback", "fail")
    assert rc == 3, err
    assert "agent.hooks.fallback" in modules
    assert top(modules, NEVER) == set()
