"""The hook server over a simulated GH200 node: verdicts from the real checks, faults injected
through `agent.sim.faults`, the epilog's attribution, and bad requests at the edge."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import stat
from pathlib import Path

import pytest

import agent.hooks.server
from agent.checks.base import Mode
from agent.hooks import MAX_REQUEST
from agent.hooks.protocol import Hook, HookRequest
from agent.sim import faults
from tests.unit.agent.hooks.conftest import NODE, Served, SimNode, names, serve, sim_node
from tests.waiting import eventually
from vcbase.domain import CheckStatus

# The checks a GH200 node re-runs live (their `modes`); test_modes.py pins them per node type.
GH200_PROLOG = ["host.memory", "host.mounts", "nvidia.ecc", "nvidia.nvml", "nvidia.row_remap"]


@pytest.mark.asyncio
async def test_a_healthy_node_passes_the_prolog_and_the_job_is_remembered(served: Served) -> None:
    reply = await served.ask("prolog", job_id="100")
    assert reply["ok"] is True and reply["status"] == "ok"
    assert reply["failing"] == [] and reply["warnings"] == []
    assert reply["live"] == GH200_PROLOG and reply["stale"] == []
    assert reply["checked"] == len(served.node.runner.snapshot())
    assert reply["node"] == NODE and reply["coordinator"] is False
    assert len(served.service.ledger) == 1


@pytest.mark.parametrize(
    ("fault", "check", "subject", "hook"),
    [
        ("memory-missing", "host.memory", "memory", "prolog"),
        ("filesystem-read-only", "host.mounts", "/scratch", "prolog"),
        ("memory-missing", "host.memory", "memory", "healthcheck"),
        ("filesystem-read-only", "host.mounts", "/scratch", "epilog"),
    ],
)
@pytest.mark.asyncio
async def test_a_fault_fails_the_hook_naming_the_check_and_reaches_the_listeners(
    served: Served, fault: str, check: str, subject: str, hook: str
) -> None:
    faults.inject(served.node.state_dir, fault)
    reply = await served.ask(hook, job_id="101")
    assert reply["ok"] is False and reply["status"] == "fail"
    assert names(reply["failing"]) == {(check, subject)}
    (failing,) = reply["failing"]
    assert failing["status"] == "fail" and failing["message"]
    # folded into the runner: the coordinator hears of it through the runner's listeners
    assert any(r.check == check and r.status is CheckStatus.FAIL for r in served.node.reports)
    stable = served.node.stable(check, subject)
    assert stable is not None and stable.status is CheckStatus.FAIL
    faults.clear(served.node.state_dir, fault)
    assert (await served.ask(hook, job_id="102"))["ok"] is True


@pytest.mark.asyncio
async def test_the_stable_state_counts_for_checks_that_are_not_rerun(served: Served) -> None:
    # nvidia.nvlink is too slow for the prolog: its periodic result stands until it runs again
    faults.inject(served.node.state_dir, "nvlink-down")
    assert (await served.ask("prolog"))["ok"] is True
    (nvlink,) = [c for c in served.node.runner.checks if c.name == "nvidia.nvlink"]
    served.node.runner.fold(nvlink, await served.node.runner.evaluate(nvlink, Mode.PERIODIC))
    reply = await served.ask("prolog")
    assert reply["ok"] is False and names(reply["failing"]) == {("nvidia.nvlink", "gpu0")}


@pytest.mark.asyncio
async def test_the_epilog_reports_an_xid_that_arrived_during_the_job(short_dir: Path) -> None:
    node = sim_node(short_dir / "node", with_events=True)
    running = asyncio.create_task(node.runner.run())
    served = await serve(node, short_dir / "hook.sock")
    try:
        assert (await served.ask("prolog", job_id="200"))["ok"] is True
        faults.inject(node.state_dir, "xid-79", "gpu1")

        def xid_seen() -> bool:
            stable = node.stable("nvidia.xid", "gpu1")
            return stable is not None and stable.status is CheckStatus.FAIL

        await eventually(xid_seen)  # the event went through the runner's NVML event source
        reply = await served.ask("epilog", job_id="200")
        assert reply["ok"] is False
        assert ("nvidia.xid", "gpu1") in names(reply["failing"])
        job = reply["job"]
        assert job["job_id"] == "200" and job["known"] is True
        assert [(x["subject"], x["xid"]) for x in job["xids"]] == [("gpu1", 79)]
        assert "XID 79 (GPU has fallen off the bus) on gpu1" in job["summary"]
    finally:
        await served.server.stop()
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running


@pytest.mark.asyncio
async def test_the_epilog_reports_ecc_errors_counted_during_the_job(served: Served) -> None:
    assert (await served.ask("prolog", job_id="300"))["ok"] is True
    faults.inject(served.node.state_dir, "ecc-dbe")
    reply = await served.ask("epilog", job_id="300")
    assert reply["ok"] is False
    assert names(reply["failing"]) == {("nvidia.ecc", "gpu0")}
    assert reply["job"]["ecc"] == [
        {"check": "nvidia.ecc", "subject": "gpu0", "counter": "volatile_uncorrected", "delta": 1}
    ]
    assert reply["job"]["xids"] == []


@pytest.mark.asyncio
async def test_an_epilog_without_its_prolog_passes_and_says_so(served: Served) -> None:
    reply = await served.ask("epilog", job_id="404")
    assert reply["ok"] is True and reply["job"]["known"] is False


@pytest.mark.asyncio
async def test_the_healthcheck_leaves_the_ledger_alone_and_tells_the_coordinator_state(
    served: Served,
) -> None:
    served.node.connected = True
    reply = await served.ask("healthcheck", job_id="500")
    assert reply["ok"] is True and reply["coordinator"] is True
    assert len(served.service.ledger) == 0


@pytest.mark.asyncio
async def test_a_request_for_another_node_is_refused_naming_the_node(served: Served) -> None:
    reply = await served.ask("prolog", node="nid999999")
    assert reply["ok"] is False and reply["error"]["field"] == "node"
    assert NODE in reply["error"]["message"]


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b"\xff\xfe\n", "request"),
        (b"[]\n", "request"),
        (b'{"v":1,"hook":"postlog"}\n', "hook"),
        (b'{"v":1,"hook":"prolog","job_id":7}\n', "job_id"),
        (b'{"v":1,"hook":"prolog"', "request"),  # no newline, then EOF: a cut-off request
        (b"x" * (MAX_REQUEST + 100) + b"\n", "request"),
    ],
)
@pytest.mark.asyncio
async def test_a_bad_request_gets_an_error_reply_naming_the_field(
    served: Served, raw: bytes, field: str
) -> None:
    reader, writer = await asyncio.open_unix_connection(str(served.path))
    writer.write(raw)
    writer.write_eof()
    reply = await reader.readline()
    writer.close()
    doc = json.loads(reply)
    assert doc["ok"] is False and doc["error"]["field"] == field
    assert (await served.ask("prolog"))["ok"] is True  # and the server goes on


@pytest.mark.asyncio
async def test_a_silent_client_is_dropped_with_an_error(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(agent.hooks.server, "READ_TIMEOUT_S", 0.05)
    reader, writer = await asyncio.open_unix_connection(str(served.path))
    reply = await reader.readline()
    writer.close()
    assert b'"field":"request"' in reply and b"no request line" in reply


@pytest.mark.asyncio
async def test_a_bug_is_an_error_reply_not_a_dead_server(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(request: HookRequest) -> dict[str, object]:
        raise KeyError("oops")

    monkeypatch.setattr(served.service, "answer", broken)
    reply = await served.ask("prolog")
    assert reply["error"]["field"] == "agent" and "oops" in reply["error"]["message"]
    monkeypatch.undo()
    assert (await served.ask("prolog"))["ok"] is True


@pytest.mark.asyncio
async def test_the_socket_is_0600_replaces_a_stale_one_and_goes_away(
    node: SimNode, short_dir: Path
) -> None:
    path = short_dir / "sub" / "hook.sock"
    path.parent.mkdir()
    path.write_text("stale")
    await node.first_pass()
    served = await serve(node, path)
    assert stat.S_ISSOCK(path.stat().st_mode)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    reply = await served.service.answer(HookRequest(Hook.HEALTHCHECK))
    assert reply["hook"] == "healthcheck"
    await served.server.stop()
    assert not await asyncio.to_thread(os.path.exists, path)
