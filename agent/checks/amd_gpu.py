"""The per-GPU AMD checks: what each GPU (GCD on MI250X, APU on MI300A) reports through AMD SMI
about its memory (ECC, retired pages), its xGMI links and its temperature.

`PerGpuCheck` is their common frame: one result per GPU in amdsmi handle order (gpu0.., the
inventory's indexes); an amdsmi error on one GPU makes that subject `unknown` with the status
code observed, never an exception out of `run`. A GPU that stopped answering (AMDSMI_STATUS_IO,
NOT_FOUND) is `unknown` here and failed by `amd.count` alone, so one lost GPU is one failure.
docs/checks-amd.md has the table of conditions, actions and threshold keys.
"""

from __future__ import annotations

import abc
import math
from collections import deque
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar

from agent.checks.base import Check, CheckContext, Mode
from agent.probes.gpu_amd import (
    AMDSMI_MEM_PAGE_STATUS_PENDING,
    AMDSMI_MEM_PAGE_STATUS_UNRESERVABLE,
    AMDSMI_STATUS_NOT_SUPPORTED,
    AMDSMI_XGMI_STATUS_NO_ERRORS,
    DEVICE_GONE_STATUSES,
    XGMI_LINK_DOWN,
    XGMI_LINK_UP,
    AmdSmiApi,
    amdsmi_error_code,
    vram_bytes,
)
from vcbase.domain import CheckAction, CheckResult, CheckStatus
from vcbase.logging import get_logger

log = get_logger(__name__)

FAIL, WARN = CheckStatus.FAIL, CheckStatus.WARN
NONE, REBOOT, REPAIR = CheckAction.NONE, CheckAction.REBOOT, CheckAction.REPAIR
BAD_PAGE_COVER = 100 * 1024 * 1024  # amdgpu's expected rate: one bad page per 100 MiB of VRAM
SMI_SUBJECT = "amdsmi"  # the subject of results about amdsmi itself, not one GPU


class Unexpected(Exception):
    """An answer not of the documented shape (another amdsmi release): the subject is unknown."""


def answer_int(answer: Mapping[str, Any], key: str) -> int:
    value = answer.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise Unexpected(f"{key}={value!r}")
    return value


def error_code(exc: Exception) -> str:
    code = amdsmi_error_code(exc)
    return "n/a" if code is None else str(code)


def list_gpus(check: Check, ctx: CheckContext, api: AmdSmiApi) -> list[object] | CheckResult:
    """amdsmi's processor handles, or the `unknown` result to report when it cannot list them
    (amd.smi owns that failure)."""
    try:
        return list(api.amdsmi_get_processor_handles())
    except api.AmdSmiException as exc:
        msg = f"cannot list AMD GPUs ({exc}); see amd.smi"
        return check.unknown(ctx, SMI_SUBJECT, msg, error=exc, error_code=error_code(exc))


class PerGpuCheck(Check):
    """One result per AMD GPU, in amdsmi handle order. Subclasses implement `check_gpu`, which
    may raise the library's exception or `Unexpected`: both make that GPU `unknown`."""

    what: ClassVar[str]  # what the check reads, for messages: "ECC counters"

    def applies(self, ctx: CheckContext) -> bool:
        return ctx.hw.amdsmi is not None

    @abc.abstractmethod
    def check_gpu(
        self, ctx: CheckContext, api: AmdSmiApi, subject: str, handle: object
    ) -> CheckResult: ...

    def run(self, ctx: CheckContext) -> list[CheckResult]:
        api = ctx.hw.amdsmi
        if api is None:
            return []
        handles = list_gpus(self, ctx, api)
        if isinstance(handles, CheckResult):
            return [handles]
        results = []
        for index, handle in enumerate(handles):
            subject = f"gpu{index}"
            try:
                results.append(self.check_gpu(ctx, api, subject, handle))
            except api.AmdSmiException as exc:
                results.append(self._call_failed(ctx, subject, exc))
            except Unexpected as exc:
                log.warning("amdsmi_unexpected_answer", check=self.name, gpu=subject, got=str(exc))
                msg = f"{subject}: amdsmi answered {exc}, not the documented shape"
                results.append(self.unknown(ctx, subject, msg))
        return results

    def _call_failed(self, ctx: CheckContext, subject: str, exc: Exception) -> CheckResult:
        code = amdsmi_error_code(exc)
        if code in DEVICE_GONE_STATUSES:
            msg = f"{subject} does not answer amdsmi ({exc}); amd.count reports the lost GPU"
        elif code == AMDSMI_STATUS_NOT_SUPPORTED:
            msg = f"{subject}: reading {self.what} is not supported by this GPU or driver"
        else:
            msg = f"{subject}: reading {self.what} failed ({exc})"
        return self.unknown(ctx, subject, msg, error=exc, error_code=error_code(exc))


class AmdEccCheck(PerGpuCheck):
    name = "amd.ecc"
    description = "No uncorrectable ECC errors, and correctable ones below a rate, per AMD GPU"
    what = "the ECC counters"

    def __init__(self) -> None:
        self._samples: dict[str, deque[tuple[datetime, int]]] = {}

    def _recent(self, subject: str, now: datetime, count: int, window_s: float) -> int:
        """Correctable errors within the window: count minus the newest sample at least
        `window_s` old (or the oldest one). A count that went down (driver reload) restarts."""
        samples = self._samples.setdefault(subject, deque())
        if samples and count < samples[-1][1]:
            samples.clear()
        samples.append((now, count))
        horizon = now - timedelta(seconds=window_s)
        while len(samples) > 1 and samples[1][0] <= horizon:
            samples.popleft()
        return count - samples[0][1]

    def check_gpu(
        self, ctx: CheckContext, api: AmdSmiApi, subject: str, handle: object
    ) -> CheckResult:
        t = ctx.thresholds.amd
        counts = api.amdsmi_get_gpu_total_ecc_count(handle)
        ce, ue = answer_int(counts, "correctable_count"), answer_int(counts, "uncorrectable_count")
        de = answer_int(counts, "deferred_count")
        recent = self._recent(subject, ctx.now, ce, t.ecc_correctable_window_s)
        seen = {"correctable": ce, "uncorrectable": ue, "deferred": de}
        seen["correctable_recent"] = recent
        since = "since the driver loaded"
        if ue >= t.ecc_uncorrectable_repair:
            msg = (
                f"{subject}: {ue} uncorrectable ECC errors {since} (repair at "
                f"{t.ecc_uncorrectable_repair}): its HBM is failing; take the GPU out for repair"
            )
            return self.result(ctx, subject, FAIL, REPAIR, msg, **seen)
        if ue:
            msg = (
                f"{subject}: {ue} uncorrectable ECC error(s) {since}: drain and reboot so the bad "
                f"pages are retired (repair at {t.ecc_uncorrectable_repair} in one boot)"
            )
            return self.result(ctx, subject, FAIL, REBOOT, msg, **seen)
        if de:
            msg = (
                f"{subject}: {de} deferred (poisoned) ECC error(s) {since}: a job reading that "
                "memory is killed; amd.bad_pages follows the page retirement"
            )
            return self.result(ctx, subject, WARN, NONE, msg, **seen)
        window = f"{t.ecc_correctable_window_s:g} s"
        if recent >= t.ecc_correctable_warn:
            msg = (
                f"{subject}: {recent} correctable ECC errors in the last {window} (warn at "
                f"{t.ecc_correctable_warn}): its HBM is degrading; watch amd.bad_pages"
            )
            return self.result(ctx, subject, WARN, NONE, msg, **seen)
        msg = f"{subject}: no uncorrectable ECC errors; {recent} correctable in the last {window}"
        return self.ok(ctx, subject, msg, **seen)


def _addresses(pages: Sequence[Mapping[str, Any]]) -> str:
    shown = ", ".join(hex(answer_int(p, "page_address")) for p in pages[:4])
    return shown + (f" and {len(pages) - 4} more" if len(pages) > 4 else "")


class AmdBadPagesCheck(PerGpuCheck):
    name = "amd.bad_pages"
    # Slurm hooks: re-run live after a job (pages a job hit), not before
    modes = frozenset({Mode.PERIODIC, Mode.EPILOG, Mode.FULL})
    description = "Retired VRAM pages of each AMD GPU: none pending or unreservable, few enough"
    what = "the retired-page table"
    interval = 300.0

    def check_gpu(
        self, ctx: CheckContext, api: AmdSmiApi, subject: str, handle: object
    ) -> CheckResult:
        t = ctx.thresholds.amd
        records = [(r, answer_int(r, "status")) for r in api.amdsmi_get_gpu_bad_page_info(handle)]
        pending = [r for r, status in records if status == AMDSMI_MEM_PAGE_STATUS_PENDING]
        stuck = [r for r, status in records if status == AMDSMI_MEM_PAGE_STATUS_UNRESERVABLE]
        threshold = t.bad_page_threshold
        if threshold is None:
            threshold = vram_bytes(api.amdsmi_get_gpu_vram_info(handle)) // BAD_PAGE_COVER
            if threshold <= 0:
                raise Unexpected("no VRAM size; set bad_page_threshold")
        retired, warn_at = len(records), max(1, math.ceil(threshold * t.bad_page_warn_ratio))
        seen = {"retired": retired, "pending": len(pending), "unreservable": len(stuck)}
        seen["threshold"] = threshold
        if stuck:
            msg = (
                f"{subject}: {len(stuck)} bad page(s) could not be reserved ({_addresses(stuck)})"
                ": the driver cannot fence off the bad memory; take the GPU out for repair"
            )
            return self.result(ctx, subject, FAIL, REPAIR, msg, **seen)
        if retired >= threshold:
            msg = (
                f"{subject}: {retired} retired pages reached the RAS threshold {threshold}: "
                "amdgpu stops trusting this GPU; replace it"
            )
            return self.result(ctx, subject, FAIL, REPAIR, msg, **seen)
        if pending:
            msg = (
                f"{subject}: {len(pending)} bad page(s) pending retirement "
                f"({_addresses(pending)}): drain and reboot so the driver reserves them"
            )
            return self.result(ctx, subject, FAIL, REBOOT, msg, **seen)
        if retired >= warn_at:
            msg = (
                f"{subject}: {retired} retired pages, near the RAS threshold {threshold} (warn at "
                f"{warn_at}): plan a replacement before the driver gives up on it"
            )
            return self.result(ctx, subject, WARN, REPAIR, msg, **seen)
        return self.ok(ctx, subject, f"{subject}: {retired} retired pages of {threshold}", **seen)


class AmdXgmiCheck(PerGpuCheck):
    name = "amd.xgmi"
    # Slurm hooks: not re-run live: slow (every link of every GPU)
    modes = frozenset({Mode.PERIODIC, Mode.FULL})
    description = "xGMI (Infinity Fabric) links of each AMD GPU are up and report no errors"
    what = "the xGMI status"
    interval = 120.0

    def _links(self, api: AmdSmiApi, handle: object) -> list[str] | None:
        call = getattr(api, "amdsmi_get_gpu_xgmi_link_status", None)  # ROCm >= 6.4 only
        if call is None:
            return None
        try:
            status = call(handle).get("status")
        except api.AmdSmiException as exc:
            if amdsmi_error_code(exc) == AMDSMI_STATUS_NOT_SUPPORTED:
                return None
            raise
        if not isinstance(status, list):
            raise Unexpected(f"status={status!r}")
        return [str(s) for s in status]

    def check_gpu(
        self, ctx: CheckContext, api: AmdSmiApi, subject: str, handle: object
    ) -> CheckResult:
        unsupported: Exception | None = None
        try:
            error: int | None = int(api.amdsmi_gpu_xgmi_error_status(handle))
        except api.AmdSmiException as exc:
            if amdsmi_error_code(exc) != AMDSMI_STATUS_NOT_SUPPORTED:
                raise
            error, unsupported = None, exc
        links = self._links(api, handle)
        if unsupported is not None and links is None:
            raise unsupported
        down = [i for i, s in enumerate(links or ()) if s == XGMI_LINK_DOWN]
        up = sum(1 for s in links or () if s == XGMI_LINK_UP)
        shown = "".join(s if len(s) == 1 else "?" for s in links or ())  # "N/A" -> "?"
        seen = {"links": shown if links is not None else "not supported"}
        seen |= {"xgmi_error_status": "not supported" if error is None else str(error)}
        problems = [f"xGMI link(s) {', '.join(map(str, down))} down"] if down else []
        if error not in (None, AMDSMI_XGMI_STATUS_NO_ERRORS):
            problems.append(f"xGMI error status {error} (1: error, 2: multiple errors)")
        if problems:
            msg = (
                f"{subject}: {'; '.join(problems)}: GPU-to-GPU traffic is degraded or broken; "
                "drain and reboot to retrain the links (repair if it comes back)"
            )
            return self.result(ctx, subject, FAIL, REBOOT, msg, **seen)
        return self.ok(ctx, subject, f"{subject}: {up} xGMI links up, no xGMI errors", **seen)


class AmdTemperatureCheck(PerGpuCheck):
    name = "amd.temperature"
    # Slurm hooks: not re-run live: transient; an idle GPU is cool
    modes = frozenset({Mode.PERIODIC, Mode.FULL})
    description = "Each AMD GPU runs below its critical temperature"
    what = "the temperature sensors"
    interval = 30.0

    def _read(self, api: AmdSmiApi, handle: object, sensor: int, metric: int) -> int | None:
        """The reading, or None where the sensor/metric is not supported."""
        try:
            return int(api.amdsmi_get_temp_metric(handle, sensor, metric))
        except api.AmdSmiException as exc:
            if amdsmi_error_code(exc) == AMDSMI_STATUS_NOT_SUPPORTED:
                return None
            raise

    def _current(self, api: AmdSmiApi, handle: object) -> tuple[str, int, int]:
        """(sensor name, sensor, degrees C) of the hotspot sensor, else the edge one."""
        types, current = api.AmdSmiTemperatureType, api.AmdSmiTemperatureMetric.CURRENT
        unsupported: list[Exception] = []
        for name, sensor in (("hotspot", types.HOTSPOT), ("edge", types.EDGE)):
            try:
                return name, sensor, int(api.amdsmi_get_temp_metric(handle, sensor, current))
            except api.AmdSmiException as exc:
                if amdsmi_error_code(exc) != AMDSMI_STATUS_NOT_SUPPORTED:
                    raise
                unsupported.append(exc)
        raise unsupported[-1]

    def check_gpu(
        self, ctx: CheckContext, api: AmdSmiApi, subject: str, handle: object
    ) -> CheckResult:
        t, metric = ctx.thresholds.amd, api.AmdSmiTemperatureMetric
        name, sensor, current = self._current(api, handle)
        critical = t.temperature_critical_c or self._read(api, handle, sensor, metric.CRITICAL)
        if not critical or critical <= 0:
            critical = t.temperature_critical_default_c
        warn_at = critical - t.temperature_warn_margin_c
        seen = {"sensor": name, "temperature_c": current, "critical_c": critical}
        reading = f"{subject}: {name} temperature {current} °C"
        cooling = "check the node's cooling (fans, coolant flow, inlet temperature)"
        if current >= critical:
            msg = f"{reading} is at or above its critical {critical} °C: it throttles; {cooling}"
            return self.result(ctx, subject, FAIL, NONE, msg, **seen)
        if current >= warn_at:
            msg = (
                f"{reading} is {critical - current} °C below its critical {critical} °C; {cooling}"
            )
            return self.result(ctx, subject, WARN, NONE, msg, **seen)
        return self.ok(ctx, subject, f"{reading} (critical {critical} °C)", **seen)
