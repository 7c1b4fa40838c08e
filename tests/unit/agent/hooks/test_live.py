"""The live part of a hook: its budget, late checks, one shared pass, the first-pass wait and
the `unknown` policy, with scripted checks on a simulated node."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import ClassVar

import pytest

from agent.checks.base import Check, CheckContext, Mode
from agent.checks.runner import CheckRunner
from agent.checks.thresholds import Thresholds
from agent.hardware import open_hardware
from agent.hooks.protocol import Hook, HookRequest
from agent.hooks.server import HookPolicy, HookService
from tests.waiting import eventually
from vcbase.domain import CheckAction, CheckResult, CheckStatus

PROLOG = HookRequest(Hook.PROLOG, "1")


class Live(Check):
    """Runs in the prolog; says `status`; blocks while `gate` is closed; counts its runs."""

    name: ClassVar[str] = "test.live"
    description: ClassVar[str] = "scripted, live in the prolog"
    modes: ClassVar[frozenset[Mode]] = frozenset({Mode.PERIODIC, Mode.PROLOG})

    def __init__(self, status: CheckStatus = CheckStatus.OK) -> None:
        self.status = status
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.runs = 0

    def run(self, ctx: CheckContext) -> list[CheckResult]:
        self.runs += 1
        self.entered.set()
        self.gate.wait(10)
        action = CheckAction.NONE if self.status is CheckStatus.OK else CheckAction.REBOOT
        return [self.result(ctx, "node", self.status, action, f"live says {self.status}")]


class Stable(Live):
    """Not re-run by hooks: only its periodic (stable) result counts."""

    name: ClassVar[str] = "test.stable"
    modes: ClassVar[frozenset[Mode]] = frozenset({Mode.PERIODIC})


def service(
    tmp_path: Path, *checks: Check, policy: HookPolicy | None = None
) -> tuple[HookService, CheckRunner]:
    hw = open_hardware("rome", "nid000001", tmp_path)
    runner = CheckRunner(hw, None, Thresholds(), list(checks))
    return HookService(runner, "nid000001", lambda: True, policy or HookPolicy()), runner


async def first_pass(runner: CheckRunner) -> None:
    for check in runner.checks:
        runner.fold(check, await runner.evaluate(check, Mode.PERIODIC))


def status_of(runner: CheckRunner, check: str) -> CheckStatus:
    (result,) = [r for r in runner.snapshot() if r.check == check]
    return result.status


@pytest.mark.asyncio
async def test_live_wins_over_the_stable_result(tmp_path: Path) -> None:
    live, stable = Live(), Stable()
    svc, runner = service(tmp_path, live, stable)
    await first_pass(runner)
    live.status = stable.status = CheckStatus.FAIL
    reply = await svc.answer(PROLOG)
    assert [f["check"] for f in reply["failing"]] == ["test.live"]
    assert reply["live"] == ["test.live"] and reply["checked"] == 2


@pytest.mark.asyncio
async def test_a_check_late_for_the_budget_keeps_its_stable_result_then_is_folded(
    tmp_path: Path,
) -> None:
    live = Live()
    svc, runner = service(tmp_path, live, policy=HookPolicy(live_budget_s=0.1))
    await first_pass(runner)
    live.gate.clear()
    live.status = CheckStatus.FAIL
    reply = await svc.answer(PROLOG)
    assert reply["ok"] is True and reply["stale"] == ["test.live"] and reply["live"] == []
    assert status_of(runner, "test.live") is CheckStatus.OK
    live.gate.set()  # the hung run ends: what it saw goes into the stable state
    await eventually(lambda: status_of(runner, "test.live") is CheckStatus.FAIL)


@pytest.mark.asyncio
async def test_concurrent_requests_share_one_live_pass(tmp_path: Path) -> None:
    live = Live()
    svc, runner = service(tmp_path, live)
    await first_pass(runner)
    runs = live.runs
    replies = await asyncio.gather(*(svc.answer(PROLOG) for _ in range(5)))
    assert live.runs == runs + 1
    assert all(r["ok"] for r in replies)


@pytest.mark.asyncio
async def test_a_request_waits_for_the_first_pass(tmp_path: Path) -> None:
    live, stable = Live(), Stable(CheckStatus.FAIL)
    svc, runner = service(tmp_path, live, stable)
    answer = asyncio.create_task(svc.answer(PROLOG))
    await asyncio.sleep(0)
    assert not answer.done()
    await first_pass(runner)  # what the runner's first pass folds, the answer includes
    reply = await answer
    assert [f["check"] for f in reply["failing"]] == ["test.stable"]


@pytest.mark.asyncio
async def test_without_a_first_pass_the_live_results_answer_alone_and_are_not_folded(
    tmp_path: Path,
) -> None:
    svc, runner = service(tmp_path, Live(), Stable(), policy=HookPolicy(live_budget_s=1.0))
    reply = await svc.answer(PROLOG)  # half the budget waiting, then the live checks
    assert reply["ok"] is True and reply["first_pass"] is False
    assert reply["checked"] == 1 and reply["live"] == ["test.live"]
    assert runner.snapshot() == []  # the first pass folds first, never over newer results


@pytest.mark.asyncio
async def test_a_late_check_without_a_stable_result_is_unknown(tmp_path: Path) -> None:
    live = Live()
    live.gate.clear()
    svc, runner = service(tmp_path, live, Stable(), policy=HookPolicy(live_budget_s=0.1))
    runner.fold(runner.checks[1], await runner.evaluate(runner.checks[1], Mode.PERIODIC))
    reply = await svc.answer(PROLOG)
    assert reply["ok"] is True and reply["stale"] == ["test.live"]
    (late,) = reply["warnings"]
    assert (late["check"], late["status"]) == ("test.live", "unknown")
    assert "still running" in late["message"]
    live.gate.set()
    await eventually(lambda: any(r.check == "test.live" for r in runner.snapshot()))


@pytest.mark.parametrize(("unknown_fails", "ok"), [(False, True), (True, False)])
@pytest.mark.asyncio
async def test_unknown_passes_or_fails_as_configured(
    tmp_path: Path, unknown_fails: bool, ok: bool
) -> None:
    live = Live(CheckStatus.UNKNOWN)
    svc, runner = service(tmp_path, live, policy=HookPolicy(unknown_fails=unknown_fails))
    await first_pass(runner)
    reply = await svc.answer(PROLOG)
    assert reply["ok"] is ok and reply["status"] == "unknown"
    listed = reply["warnings"] if ok else reply["failing"]
    assert [f["check"] for f in listed] == ["test.live"]
