"""NVIDIA GPU memory health: uncorrectable ECC errors, row remapping (Ampere and later) and page
retirement (before Ampere).

How the pieces fit on an A100/H100/GH200: an uncorrectable DRAM error is counted (volatile since
the driver loaded, aggregate over the board's life), the faulty row is marked for remapping, and
the remap takes effect at the next GPU reset, i.e. a reboot here. So a fresh error or a pending
remap asks for a reboot; a failed remap (no spare row left) or a lifetime count past its
threshold asks for a repair.
"""

from __future__ import annotations

from typing import ClassVar

from agent.checks.base import CheckContext
from agent.checks.findings import Finding
from agent.checks.nvidia_base import NvidiaDeviceCheck
from agent.probes.gpu_nvidia import NvmlApi, nvml_error_code
from vcbase.domain import CheckAction, CheckResult, CheckStatus

FAIL, WARN = CheckStatus.FAIL, CheckStatus.WARN
REBOOT, REPAIR = CheckAction.REBOOT, CheckAction.REPAIR
_AGAIN = "if it comes back after the reboot the node is set aside"


def _unsupported(api: NvmlApi, exc: BaseException) -> bool:
    return nvml_error_code(exc) == api.NVML_ERROR_NOT_SUPPORTED


class EccCheck(NvidiaDeviceCheck):
    """Uncorrectable ECC errors in DRAM (volatile and aggregate) and in on-chip SRAM."""

    name: ClassVar[str] = "nvidia.ecc"
    description: ClassVar[str] = "no uncorrectable ECC errors in GPU memory"

    def _sram(self, api: NvmlApi, handle: object) -> int | None:
        """Lifetime uncorrectable SRAM errors; None where the part does not count them."""
        try:
            return api.nvmlDeviceGetMemoryErrorCounter(
                handle,
                api.NVML_MEMORY_ERROR_TYPE_UNCORRECTED,
                api.NVML_AGGREGATE_ECC,
                api.NVML_MEMORY_LOCATION_SRAM,
            )
        except api.NVMLError as exc:
            if _unsupported(api, exc):
                return None
            raise

    def check_device(
        self, ctx: CheckContext, api: NvmlApi, subject: str, handle: object
    ) -> CheckResult:
        t = ctx.thresholds.nvidia
        unc = api.NVML_MEMORY_ERROR_TYPE_UNCORRECTED
        try:
            volatile = api.nvmlDeviceGetTotalEccErrors(handle, unc, api.NVML_VOLATILE_ECC)
            aggregate = api.nvmlDeviceGetTotalEccErrors(handle, unc, api.NVML_AGGREGATE_ECC)
        except api.NVMLError as exc:
            if not _unsupported(api, exc):
                raise
            message = (
                "ECC error counters are not available (ECC disabled?): enable ECC "
                "(nvidia-smi -e 1) and reboot"
            )
            return self.result(ctx, subject, WARN, CheckAction.NONE, message, ecc="not supported")
        sram = self._sram(api, handle)
        findings = []
        if volatile > t.ecc_volatile_uncorrected_max:
            findings.append(
                Finding(
                    FAIL,
                    REBOOT,
                    f"{volatile} uncorrectable ECC errors since the driver loaded (volatile, max "
                    f"{t.ecc_volatile_uncorrected_max}): reboot to reset the GPU and remap the "
                    f"rows; {_AGAIN}",
                )
            )
        if aggregate > t.ecc_aggregate_uncorrected_max:
            findings.append(
                Finding(
                    FAIL,
                    REPAIR,
                    f"{aggregate} uncorrectable ECC errors over the GPU's life (aggregate, max "
                    f"{t.ecc_aggregate_uncorrected_max}): its memory is wearing out, the GPU "
                    "needs service",
                )
            )
        if sram is not None and sram > t.sram_uncorrected_max:
            findings.append(
                Finding(
                    FAIL,
                    REPAIR,
                    f"{sram} uncorrectable SRAM ECC errors (on-chip memory, max "
                    f"{t.sram_uncorrected_max}): the GPU needs service",
                )
            )
        return self.finish(
            ctx,
            subject,
            findings,
            "no uncorrectable ECC errors beyond the thresholds",
            volatile_uncorrected=volatile,
            aggregate_uncorrected=aggregate,
            sram_uncorrected="n/a" if sram is None else sram,
        )


class RowRemapCheck(NvidiaDeviceCheck):
    """Row remapping (Ampere and later): a remap failure needs a repair, a pending one a reboot.
    GPUs without row remapping (NOT_SUPPORTED, before Ampere) are not reported."""

    name: ClassVar[str] = "nvidia.row_remap"
    description: ClassVar[str] = "no GPU memory row remap pending or failed"

    def check_device(
        self, ctx: CheckContext, api: NvmlApi, subject: str, handle: object
    ) -> CheckResult | None:
        try:
            correctable, uncorrectable, pending, failure = api.nvmlDeviceGetRemappedRows(handle)
        except api.NVMLError as exc:
            if _unsupported(api, exc):
                return None
            raise
        findings = []
        if failure:
            findings.append(
                Finding(
                    FAIL,
                    REPAIR,
                    "row remapping failed (a memory bank has no spare row left): the GPU needs "
                    "service",
                )
            )
        if pending:
            findings.append(
                Finding(
                    FAIL,
                    REBOOT,
                    f"a row remap is pending: reboot to reset the GPU and apply it; {_AGAIN}",
                )
            )
        return self.finish(
            ctx,
            subject,
            findings,
            "no row remap pending or failed",
            remapped_correctable=correctable,
            remapped_uncorrectable=uncorrectable,
            pending=bool(pending),
            failure=bool(failure),
        )


class RetiredPagesCheck(NvidiaDeviceCheck):
    """Dynamic page retirement, the memory repair of GPUs before Ampere (which remap rows
    instead). Applies only where NVML reports such a GPU: not on GH200 or A100 nodes."""

    name: ClassVar[str] = "nvidia.retired_pages"
    description: ClassVar[str] = "GPU memory pages retired below the limit, none pending"

    @staticmethod
    def _pre_ampere(api: NvmlApi, handle: object) -> bool:
        return api.nvmlDeviceGetArchitecture(handle) < api.NVML_DEVICE_ARCH_AMPERE

    def applies(self, ctx: CheckContext) -> bool:
        """A fast NVML call per GPU; a GPU that does not answer is left out of the decision."""
        api = ctx.hw.nvml
        if api is None:
            return False
        try:
            count = api.nvmlDeviceGetCount()
        except api.NVMLError:
            return False
        for index in range(count):
            try:
                if self._pre_ampere(api, api.nvmlDeviceGetHandleByIndex(index)):
                    return True
            except api.NVMLError:
                continue
        return False

    def check_device(
        self, ctx: CheckContext, api: NvmlApi, subject: str, handle: object
    ) -> CheckResult | None:
        if not self._pre_ampere(api, handle):
            return None
        limit = ctx.thresholds.nvidia.retired_pages_limit
        sbe = len(
            api.nvmlDeviceGetRetiredPages(
                handle, api.NVML_PAGE_RETIREMENT_CAUSE_MULTIPLE_SINGLE_BIT_ECC_ERRORS
            )
        )
        dbe = len(
            api.nvmlDeviceGetRetiredPages(
                handle, api.NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR
            )
        )
        pending = api.nvmlDeviceGetRetiredPagesPendingStatus(handle) == api.NVML_FEATURE_ENABLED
        findings = []
        if sbe + dbe >= limit:
            findings.append(
                Finding(
                    FAIL,
                    REPAIR,
                    f"{sbe + dbe} memory pages retired (limit {limit}): the GPU needs service",
                )
            )
        if pending:
            findings.append(
                Finding(FAIL, REBOOT, f"pages wait to be retired: reboot to retire them; {_AGAIN}")
            )
        return self.finish(
            ctx,
            subject,
            findings,
            f"{sbe + dbe} pages retired (limit {limit}), none pending",
            retired_sbe=sbe,
            retired_dbe=dbe,
            pending=pending,
        )
