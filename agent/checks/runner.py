"""Runs the check catalog: periodically with jitter, at once on hardware events, and on demand.

The runner owns the debounced ("stable") state of every (check, subject) and tells its
listeners what changed: a list of changed results, or a full snapshot when the set of subjects
changed (a GPU vanished) so that the receiver can replace what it holds.

Threads: check code blocks (NVML, sysfs), so every run goes to a worker thread, one run of a given
check at a time (a check may keep state). Each event source gets a dedicated thread blocked in
its `wait`; events hop to the loop with `call_soon_threadsafe`.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

from agent.checks.base import Check, CheckContext, EventSource, HardwareEvent, Mode
from agent.checks.debounce import Tracked, step
from agent.checks.thresholds import Thresholds
from agent.hardware import NodeHardware
from agent.profiles import Profile
from vcbase.domain import CheckAction, CheckResult, CheckStatus
from vcbase.logging import get_logger

log = get_logger("agent.checks")

Listener = Callable[[list[CheckResult], bool], None]  # (results, is_full_snapshot)
# How long an event thread blocks before looking at the stop flag: the longer, the fewer idle
# wakeups (each thread wakes 1/EVENT_WAIT_S times a second) and the slower a clean stop.
EVENT_WAIT_S = 5.0
JITTER = 0.1  # periodic runs are spread by +/- 10 % of their interval


def utcnow() -> datetime:
    return datetime.now(UTC)


class CheckRunner:
    def __init__(
        self,
        hw: NodeHardware,
        profile: Profile | None,
        thresholds: Thresholds,
        checks: Sequence[Check],
        sources: Sequence[EventSource] = (),
        intervals: Mapping[str, float] | None = None,
        clock: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
        event_wait_s: float = EVENT_WAIT_S,
    ) -> None:
        self._hw = hw
        self._event_wait_s = event_wait_s
        self._profile = profile
        self._thresholds = thresholds
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._intervals = dict(intervals or {})
        unknown = sorted(set(self._intervals) - {c.name for c in checks})
        if unknown:
            raise ValueError(f"check_intervals: unknown checks {unknown}")
        probe = self.context(Mode.FULL)
        self.checks = [c for c in checks if c.applies(probe)]
        self._sources = list(sources)
        self._locks = {c.name: asyncio.Lock() for c in self.checks}
        self._tracked: dict[tuple[str, str], Tracked] = {}
        self._listeners: list[Listener] = []
        self._stop = threading.Event()
        self._triggered_tasks: set[asyncio.Task[None]] = set()
        self._inflight: dict[str, asyncio.Future[list[CheckResult]]] = {}

    def context(self, mode: Mode) -> CheckContext:
        return CheckContext(self._hw, self._profile, self._thresholds, self._clock(), mode)

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def interval(self, check: Check) -> float:
        return self._intervals.get(check.name, check.interval)

    def snapshot(self) -> list[CheckResult]:
        """The stable result of every (check, subject) that has one, sorted."""
        stable = [t.stable for t in self._tracked.values() if t.stable is not None]
        return sorted(stable, key=lambda r: (r.check, r.subject))

    # -- running checks ---------------------------------------------------------------------

    async def evaluate(
        self, check: Check, mode: Mode, event: HardwareEvent | None = None
    ) -> list[CheckResult]:
        """Run one check (after feeding it `event`) in a worker thread.

        A crash, or a run still going after `check.timeout` (a hung mount, a wedged driver), is
        an `unknown` result. A thread cannot be killed: a hung run is left to finish, and the
        check is not started again until it has (each later run reports it still hung).
        """
        async with self._locks[check.name]:
            ctx = self.context(mode)
            hung = self._inflight.get(check.name)
            if hung is not None and not hung.done():
                return [self._unknown(check, ctx, "the previous run is still hung")]
            try:
                if event is not None:
                    check.observe(event)
                future = asyncio.ensure_future(asyncio.to_thread(check.run, ctx))
                self._inflight[check.name] = future
                return await asyncio.wait_for(asyncio.shield(future), check.timeout)
            except TimeoutError:
                log.error("check_hung", check=check.name, timeout_s=check.timeout)
                return [self._unknown(check, ctx, f"no answer within {check.timeout:g}s (hung)")]
            except Exception as exc:
                log.exception("check_crashed", check=check.name)
                return [self._unknown(check, ctx, f"the check itself failed: {exc!r}")]

    @staticmethod
    def _unknown(check: Check, ctx: CheckContext, message: str) -> CheckResult:
        return CheckResult(
            check=check.name,
            subject="node",
            status=CheckStatus.UNKNOWN,
            action=CheckAction.NONE,
            message=message,
            observed_at=ctx.now,
        )

    async def run_pass(self, mode: Mode) -> list[CheckResult]:
        """On demand: every applicable check of `mode`, raw (not debounced), sorted."""
        selected = [c for c in self.checks if mode in c.modes or mode is Mode.FULL]
        batches = await asyncio.gather(*(self.evaluate(c, mode) for c in selected))
        results = [r for batch in batches for r in batch]
        return sorted(results, key=lambda r: (r.check, r.subject))

    def fold(self, check: Check, results: list[CheckResult]) -> None:
        """Debounce `results` of `check` into the stable state and tell listeners of changes."""
        before = {s for (c, s) in self._tracked if c == check.name}
        now = {r.subject for r in results}
        changed: list[CheckResult] = []
        for result in results:
            key = (check.name, result.subject)
            tracked, report = step(self._tracked.get(key), result, check.fail_after, check.ok_after)
            self._tracked[key] = tracked
            if report is not None:
                changed.append(report)
                log.info(
                    "check_changed",
                    check=report.check,
                    subject=report.subject,
                    status=report.status.value,
                    action=report.action.value,
                    message=report.message,
                )
        gone = before - now
        for subject in gone:
            del self._tracked[(check.name, subject)]
            log.info("check_subject_gone", check=check.name, subject=subject)
        if gone:
            self._notify(self.snapshot(), full=True)
        elif changed:
            self._notify(changed, full=False)

    def _notify(self, results: list[CheckResult], full: bool) -> None:
        for listener in self._listeners:
            listener(results, full)

    # -- the periodic and event-driven loops ---------------------------------------------------

    async def run(self) -> None:
        """Until cancelled: a first pass of everything, then each check on its own schedule,
        and event-driven re-runs."""
        loop = asyncio.get_running_loop()
        threads = [
            threading.Thread(
                target=self._pump, args=(src, loop), name=f"events-{src.name}", daemon=True
            )
            for src in self._sources
        ]
        for t in threads:
            t.start()
        try:
            # Fold each check's first result as soon as it is in (no await between evaluate and
            # fold): an event-triggered run that follows it can never be overwritten by it.
            await asyncio.gather(*(self._run_and_fold(c) for c in self.checks))
            log.info("first_check_pass_done", checks=len(self.checks), results=len(self.snapshot()))
            async with asyncio.TaskGroup() as group:
                for check in self.checks:
                    group.create_task(self._periodic(check))
        finally:
            self._stop.set()
            for task in list(self._triggered_tasks):
                task.cancel()
            await asyncio.to_thread(self._join, threads)

    async def _run_and_fold(self, check: Check) -> None:
        self.fold(check, await self.evaluate(check, Mode.PERIODIC))

    async def _periodic(self, check: Check) -> None:
        while True:
            base = self.interval(check)
            await asyncio.sleep(base * self._rng.uniform(1 - JITTER, 1 + JITTER))
            self.fold(check, await self.evaluate(check, Mode.PERIODIC))

    def _pump(self, source: EventSource, loop: asyncio.AbstractEventLoop) -> None:
        """Event thread: block in the source, hand events to the loop."""
        while not self._stop.is_set():
            try:
                events = source.wait(self._event_wait_s)
            except Exception:
                log.exception("event_source_failed", source=source.name)
                self._stop.wait(5.0)  # back off, then try again: never give up on a source
                continue
            for event in events:
                with contextlib.suppress(RuntimeError):  # the loop is closing
                    loop.call_soon_threadsafe(self._on_event, event)

    def _on_event(self, event: HardwareEvent) -> None:
        log.info("hardware_event", kind=event.kind, subject=event.subject, **dict(event.data))
        for check in self.checks:
            if event.kind in check.triggers:
                task = asyncio.get_running_loop().create_task(self._triggered(check, event))
                self._triggered_tasks.add(task)
                task.add_done_callback(self._triggered_tasks.discard)

    async def _triggered(self, check: Check, event: HardwareEvent) -> None:
        self.fold(check, await self.evaluate(check, Mode.PERIODIC, event))

    def _join(self, threads: list[threading.Thread]) -> None:
        for t in threads:
            t.join(self._event_wait_s + 1)
        for src in self._sources:
            try:
                src.close()
            except Exception:
                log.exception("event_source_close_failed", source=src.name)
