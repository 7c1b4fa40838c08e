"""What the NVIDIA checks share: when they apply, walking the GPUs, wording NVML failures, and
folding several findings about one GPU into one result.

Per-device checks subclass `NvidiaDeviceCheck` and implement `check_device`, which may raise the
port's NVMLError: the base turns it into that GPU's result (`nvml_failure`), so `run` never
raises for a hardware problem. A GPU that answers NVML_ERROR_GPU_IS_LOST is `unknown` here:
`nvidia.count` owns "a GPU is gone" (fail, reboot), so one lost GPU gives one actionable result,
not one per check.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Sequence
from typing import Any

from agent.checks.base import Check, CheckContext
from agent.checks.findings import Finding, fold
from agent.probes.gpu_nvidia import NvmlApi, nvml_error_code
from vcbase.domain import CheckResult, GpuVendor


def expects_nvidia(ctx: CheckContext) -> bool:
    """The node type's profile promises NVIDIA GPUs."""
    return ctx.profile is not None and ctx.profile.gpu_vendor is GpuVendor.NVIDIA


def expected_gpus(ctx: CheckContext) -> int | None:
    """How many NVIDIA GPUs the profile promises; None when it says nothing about them."""
    return ctx.profile.gpu_count if expects_nvidia(ctx) and ctx.profile else None


class NvidiaCheck(Check):
    """Base of the NVIDIA checks that read NVML: they apply where NVML is up. (Where the
    profile promises NVIDIA GPUs but NVML is not up, `nvidia.nvml` fails for the node.)"""

    def applies(self, ctx: CheckContext) -> bool:
        return ctx.hw.nvml is not None

    def finish(
        self,
        ctx: CheckContext,
        subject: str,
        findings: Sequence[Finding],
        ok_message: str,
        **observed: Any,
    ) -> CheckResult:
        """One result for `subject`: ok with `ok_message` when no finding is bad, else the worst
        status and strongest action, with every bad finding's text, worst first."""
        return fold(self, ctx, subject, findings, ok_message, **observed)

    def nvml_failure(
        self, ctx: CheckContext, api: NvmlApi, subject: str, exc: BaseException, what: str
    ) -> CheckResult:
        """The result for a GPU whose NVML call (`what`) failed."""
        code = nvml_error_code(exc)
        if code == api.NVML_ERROR_GPU_IS_LOST:
            message = f"{what}: the GPU is lost (off the bus?); nvidia.count reports it"
        else:
            message = f"{what} failed: {exc} (NVML error {code}); look at the driver log (dmesg)"
        return self.unknown(ctx, subject, message, nvml_error=code)


class NvidiaDeviceCheck(NvidiaCheck):
    """A check that looks at every GPU NVML lists, one result per GPU (gpu0, gpu1, ...)."""

    def devices(self, ctx: CheckContext, api: NvmlApi) -> Iterator[tuple[int, str]]:
        """(index, subject) of every GPU NVML counts. Raises NVMLError when it cannot count."""
        for index in range(api.nvmlDeviceGetCount()):
            yield index, f"gpu{index}"

    def run(self, ctx: CheckContext) -> list[CheckResult]:
        api = ctx.hw.nvml
        if api is None:
            return []
        try:
            devices = list(self.devices(ctx, api))
        except api.NVMLError as exc:
            return [self.nvml_failure(ctx, api, "nvml", exc, "nvmlDeviceGetCount")]
        results: list[CheckResult] = []
        for index, subject in devices:
            try:
                handle = api.nvmlDeviceGetHandleByIndex(index)
                result = self.check_device(ctx, api, subject, handle)
            except api.NVMLError as exc:
                result = self.nvml_failure(ctx, api, subject, exc, self.name)
            if result is not None:
                results.append(result)
        return results

    @abc.abstractmethod
    def check_device(
        self, ctx: CheckContext, api: NvmlApi, subject: str, handle: object
    ) -> CheckResult | None:
        """The result for one GPU; None when the check has nothing to say about this GPU (the
        feature does not exist on it, e.g. C2C on an A100). May raise the port's NVMLError."""
