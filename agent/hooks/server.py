"""The hook socket inside the running agent: answers the Slurm hooks from the runner's state.

One connection, one request line, one reply line (`agent.hooks.protocol`). Per hook:
- prolog / healthcheck: the stable (debounced) results the periodic and event-driven checks
  keep current, with the fast checks (`Mode.PROLOG` in their `modes`) re-run live; live wins.
  The prolog also records the job's start in the ledger for its epilog.
- epilog: the same with the `Mode.EPILOG` checks re-run live, plus the job's attribution
  (`agent.hooks.postjob`): the XIDs seen since its prolog and the ECC counters that grew.

Live results are folded into the runner like any run of a check, so that a change reaches the
coordinator through the runner's listeners. The live part has a budget (`live_budget_s`): a
check still running at the deadline (a hung mount) keeps its stable result (or, without one,
is `unknown`) and is named in `stale`; its run is folded when it ends. Concurrent requests of
one mode share one live pass. While the agent starts, a request waits for the runner's first
pass (see `HookService.answer`).
A request never crashes the server: a bad one gets an error reply naming the field, a bug an
error reply naming `agent`, logged with its traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.checks.base import Check, Mode
from agent.checks.nvidia_xid import XidCheck
from agent.checks.runner import CheckRunner
from agent.hooks import MAX_REQUEST
from agent.hooks.postjob import JobLedger, JobStart, ecc_counters, ecc_deltas, job_doc, xids_during
from agent.hooks.protocol import (
    Hook,
    HookRequest,
    ProtocolError,
    encode,
    error_doc,
    judge,
    merge,
    parse_request,
    reply_doc,
)
from vcbase.domain import CheckAction, CheckResult, CheckStatus
from vcbase.logging import get_logger

log = get_logger("agent.hooks")

READ_TIMEOUT_S = 5.0  # a client that connects and says nothing is dropped after this
_MODES = {Hook.PROLOG: Mode.PROLOG, Hook.HEALTHCHECK: Mode.PROLOG, Hook.EPILOG: Mode.EPILOG}


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class HookPolicy:
    unknown_fails: bool = False  # an `unknown` result fails the hook (default: it warns)
    live_budget_s: float = 2.0  # the live part's deadline, first-pass wait included


@dataclass(frozen=True, slots=True)
class LivePass:
    results: dict[str, list[CheckResult]]  # by check name: the checks that answered in time
    late: tuple[str, ...]  # the checks still running at the deadline


class HookService:
    """Answers hook requests from `runner`. `connected` says whether the agent's coordinator
    session is up (the healthcheck hook drains by itself only when it is not)."""

    def __init__(
        self,
        runner: CheckRunner,
        node_name: str,
        connected: Callable[[], bool],
        policy: HookPolicy = HookPolicy(),
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._runner = runner
        self._node = node_name
        self._connected = connected
        self._policy = policy
        self._clock = clock
        self.ledger = JobLedger()
        self._inflight: dict[tuple[Mode, bool], asyncio.Task[LivePass]] = {}
        self._late: set[asyncio.Task[list[CheckResult]]] = set()
        xid = [c for c in runner.checks if isinstance(c, XidCheck)]
        self._xid = xid[0] if xid else None
        self._results_in = asyncio.Event()  # the runner has folded results: its first pass
        if runner.snapshot():
            self._results_in.set()
        runner.subscribe(lambda _results, _full: self._results_in.set())

    async def answer(self, request: HookRequest) -> dict[str, Any]:
        """The reply document for a valid request. ProtocolError("node") when the request is
        for another node (a hook talking to the wrong agent's socket).

        While the agent starts, the request waits for the runner's first pass for up to half
        the budget; if it is still not in, the live results answer alone (`first_pass`: false)
        and are not folded, so that the first pass cannot fold older results over them."""
        t0 = time.perf_counter()
        if request.node and request.node != self._node:
            raise ProtocolError("node", f"this agent runs node {self._node!r}")
        budget = self._policy.live_budget_s
        deadline = asyncio.get_running_loop().time() + budget
        first_pass = await self._first_pass(deadline - budget / 2)
        live = await self._live(_MODES[request.hook], deadline, fold=first_pass)
        stable = self._runner.snapshot() if first_pass else []
        results = merge(stable, {**self._missing(live.late, stable), **live.results})
        extra: dict[str, Any] = {}
        now = self._clock()
        if request.hook is Hook.PROLOG and request.job_id:
            self.ledger.start(JobStart(request.job_id, now, ecc_counters(results)))
        if request.hook is Hook.EPILOG:
            extra["job"] = self._job(request.job_id, results, now)
        verdict = judge(results, self._policy.unknown_fails)
        return reply_doc(
            request.hook,
            verdict,
            node=self._node,
            coordinator=self._connected(),
            first_pass=first_pass,
            live=sorted(live.results),
            stale=list(live.late),
            elapsed_ms=round((time.perf_counter() - t0) * 1000, 3),
            **extra,
        )

    def _missing(
        self, late: Sequence[str], stable: Sequence[CheckResult]
    ) -> dict[str, list[CheckResult]]:
        """An `unknown` result for each late check that has no stable result to stand in."""
        have = {r.check for r in stable}
        text = f"no result: still running after the hook's {self._policy.live_budget_s:g}s"
        return {
            name: [CheckResult(name, "node", CheckStatus.UNKNOWN, CheckAction.NONE, text, {}, None)]
            for name in late
            if name not in have
        }

    def _job(self, job_id: str, results: list[CheckResult], now: datetime) -> dict[str, Any]:
        start = self.ledger.finish(job_id) if job_id else None
        if start is None:
            return job_doc(job_id, None, [], [])
        history = self._xid.seen_since(start.started_at) if self._xid else {}
        xids = xids_during(history, start.started_at, now)
        return job_doc(job_id, start, xids, ecc_deltas(start.counters, ecc_counters(results)))

    async def _first_pass(self, until: float) -> bool:
        """Whether the runner's first pass is in, waiting for it up to `until` (loop time).
        The runner folds all of the first pass in one go, with no await in between, so when
        the listener's wake-up runs, all of it is in. (Before it, this service folds nothing:
        the first listener call is the runner's.)"""
        if not self._runner.checks or self._results_in.is_set():
            return True
        timeout = max(0.0, until - asyncio.get_running_loop().time())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._results_in.wait(), timeout)
        return self._results_in.is_set()

    async def _live(self, mode: Mode, deadline: float, fold: bool) -> LivePass:
        """The live pass of `mode`: joins one already in flight, else starts one."""
        task = self._inflight.get((mode, fold))
        if task is None or task.done():
            task = asyncio.create_task(self._run_live(mode, deadline, fold))
            self._inflight[(mode, fold)] = task
        return await asyncio.shield(task)

    async def _run_live(self, mode: Mode, deadline: float, fold: bool) -> LivePass:
        """Evaluate the checks of `mode` at once, until `deadline`; fold what they say into the
        runner when `fold` (a late check is folded when it ends)."""
        checks = [c for c in self._runner.checks if mode in c.modes]
        if not checks:
            return LivePass({}, ())
        runs = {asyncio.create_task(self._runner.evaluate(c, mode)): c for c in checks}
        timeout = max(0.0, deadline - asyncio.get_running_loop().time())
        done, pending = await asyncio.wait(runs, timeout=timeout)
        results: dict[str, list[CheckResult]] = {}
        for task in done:
            check = runs[task]
            results[check.name] = task.result()  # evaluate never raises: a crash is `unknown`
            if fold:
                self._runner.fold(check, results[check.name])
        for task in pending:
            self._late.add(task)
            task.add_done_callback(self._after_late(runs[task], fold))
        late = tuple(sorted(runs[t].name for t in pending))
        if late:
            log.warning("hook_live_checks_late", mode=mode.value, checks=list(late))
        return LivePass(results, late)

    def _after_late(
        self, check: Check, fold: bool
    ) -> Callable[[asyncio.Task[list[CheckResult]]], None]:
        def done(task: asyncio.Task[list[CheckResult]]) -> None:
            self._late.discard(task)
            if fold and not task.cancelled():
                self._runner.fold(check, task.result())

        return done

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One connection: read a line, write the reply, close. Never raises."""
        t0 = time.perf_counter()
        request: HookRequest | None = None
        try:
            try:
                line = await asyncio.wait_for(reader.readline(), READ_TIMEOUT_S)
            except ValueError:  # the StreamReader's limit: no newline within MAX_REQUEST bytes
                raise ProtocolError("request", f"longer than {MAX_REQUEST} bytes") from None
            except TimeoutError:
                raise ProtocolError("request", f"no request line in {READ_TIMEOUT_S:g}s") from None
            request = parse_request(line)
            doc = await self.answer(request)
        except ProtocolError as exc:
            doc = error_doc(exc, (time.perf_counter() - t0) * 1000)
        except Exception as exc:
            log.exception("hook_request_crashed")
            doc = error_doc(ProtocolError("agent", f"internal error: {exc!r}"))
        with contextlib.suppress(ConnectionError):
            writer.write(encode(doc))
            await writer.drain()
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
        self._log(request, doc)

    @staticmethod
    def _log(request: HookRequest | None, doc: dict[str, Any]) -> None:
        if "error" in doc:
            log.warning("hook_request_refused", **doc["error"])
            return
        assert request is not None
        log.info(
            "hook_answered",
            hook=request.hook.value,
            job_id=request.job_id,
            ok=doc["ok"],
            status=doc["status"],
            failing=[f"{f['check']}/{f['subject']}" for f in doc["failing"]],
            stale=doc["stale"],
            elapsed_ms=doc["elapsed_ms"],
        )

    async def close(self) -> None:
        """Cancel the live runs still going (their results are not folded)."""
        for task in list(self._late):
            task.cancel()
        for task in list(self._late):
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _bind(path: Path) -> socket.socket:
    """A unix stream socket bound at `path` (a stale file there is replaced), mode 0600 before
    it listens, so nobody but root ever connects. Blocking."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(str(path))
        os.chmod(path, 0o600)
    except BaseException:
        sock.close()
        raise
    return sock


@dataclass
class HookServer:
    server: asyncio.Server
    service: HookService
    path: Path
    inode: int

    async def stop(self) -> None:
        """Stop listening, cancel late live runs, remove the socket file if it is still ours."""
        self.server.close()
        await self.server.wait_closed()
        await self.service.close()
        await asyncio.to_thread(self._unlink)

    def _unlink(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            if self.path.stat().st_ino == self.inode:
                self.path.unlink()


async def start_hook_server(service: HookService, path: Path) -> HookServer:
    """Serve `service` on the unix socket `path`. OSError when it cannot bind (e.g. a path
    longer than the 107 bytes AF_UNIX allows)."""
    sock = await asyncio.to_thread(_bind, path)
    inode = (await asyncio.to_thread(path.stat)).st_ino
    server = await asyncio.start_unix_server(service.handle, sock=sock, limit=MAX_REQUEST)
    log.info("hook_socket_listening", path=str(path))
    return HookServer(server, service, path, inode)
