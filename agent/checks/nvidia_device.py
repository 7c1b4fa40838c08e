"""NVIDIA checks of the driver and the devices themselves: NVML up, every GPU there, and the
recovery action the driver asks for.
"""

from __future__ import annotations

from typing import ClassVar

from agent.checks.base import Check, CheckContext, Mode
from agent.checks.nvidia_base import NvidiaCheck, NvidiaDeviceCheck, expected_gpus, expects_nvidia
from agent.probes.gpu_nvidia import NvmlApi, field_value, nvml_error_code, text
from vcbase.domain import CheckAction, CheckResult, CheckStatus

_REBOOT_IF_PERSISTS = "reboot the node; if it persists after the reboot the node is set aside"


class NvmlCheck(Check):
    """NVML answers. Without it no other NVIDIA check can look at anything.

    Not up on a node whose type promises NVIDIA GPUs: fail, reboot. A driver that failed to load
    (a kernel/driver mismatch after an update, a GPU that hung the driver's probe) usually loads
    after a reboot; the lifecycle sets the node aside if it fails again after that reboot.
    """

    name: ClassVar[str] = "nvidia.nvml"
    description: ClassVar[str] = "the NVIDIA driver's management library (NVML) answers"

    def applies(self, ctx: CheckContext) -> bool:
        return expects_nvidia(ctx) or ctx.hw.nvml is not None

    def run(self, ctx: CheckContext) -> list[CheckResult]:
        api = ctx.hw.nvml
        expected = expected_gpus(ctx)
        if api is None:
            return [
                self.result(
                    ctx,
                    "nvml",
                    CheckStatus.FAIL,
                    CheckAction.REBOOT,
                    f"NVML is not available although this node type has {expected} NVIDIA GPUs: "
                    "the driver did not load or nvmlInit failed (see dmesg for NVRM lines); "
                    + _REBOOT_IF_PERSISTS,
                    expected_gpus=expected,
                )
            ]
        try:
            driver = text(api.nvmlSystemGetDriverVersion())
        except api.NVMLError as exc:
            return [
                self.result(
                    ctx,
                    "nvml",
                    CheckStatus.FAIL,
                    CheckAction.REBOOT,
                    f"NVML stopped answering: nvmlSystemGetDriverVersion failed with {exc}; "
                    + _REBOOT_IF_PERSISTS,
                    nvml_error=nvml_error_code(exc),
                )
            ]
        wanted = ctx.profile.gpu_driver_version if ctx.profile else ""
        return [
            self.ok(
                ctx, "nvml", f"NVML answers, driver {driver}", driver=driver, profile_driver=wanted
            )
        ]


class CountCheck(NvidiaCheck):
    """Every GPU the node type promises is listed by NVML and answers.

    A GPU NVML no longer lists, or one that answers NVML_ERROR_GPU_IS_LOST (fallen off the bus),
    is missing: fail, reboot (the lifecycle sets the node aside when it is still missing after the
    reboot). Subjects are NVML indices: when a GPU drops out the ones after it may renumber, so the
    message says how many are missing, not which board.
    """

    name: ClassVar[str] = "nvidia.count"
    # Slurm hooks: re-run live after a job, not before: event-driven, its stable state is current
    modes: ClassVar[frozenset[Mode]] = frozenset({Mode.PERIODIC, Mode.EPILOG, Mode.FULL})
    description: ClassVar[str] = "every expected NVIDIA GPU is present and reachable"
    triggers: ClassVar[frozenset[str]] = frozenset({"device_removed"})

    def run(self, ctx: CheckContext) -> list[CheckResult]:
        api = ctx.hw.nvml
        if api is None:
            return []
        expected = expected_gpus(ctx)
        try:
            count = api.nvmlDeviceGetCount()
        except api.NVMLError as exc:
            return [self.nvml_failure(ctx, api, "nvml", exc, "nvmlDeviceGetCount")]
        wanted = count if expected is None else expected
        return [self._device(ctx, api, index, count, wanted) for index in range(max(count, wanted))]

    def _device(
        self, ctx: CheckContext, api: NvmlApi, index: int, count: int, wanted: int
    ) -> CheckResult:
        subject = f"gpu{index}"
        if index >= count:
            return self.result(
                ctx,
                subject,
                CheckStatus.FAIL,
                CheckAction.REBOOT,
                f"NVML lists {count} of the {wanted} GPUs this node type has: a GPU is missing "
                f"(fell off the bus, or was not enumerated at boot); {_REBOOT_IF_PERSISTS}",
                listed=count,
                expected=wanted,
            )
        try:
            uuid = text(api.nvmlDeviceGetUUID(api.nvmlDeviceGetHandleByIndex(index)))
        except api.NVMLError as exc:
            if nvml_error_code(exc) != api.NVML_ERROR_GPU_IS_LOST:
                return self.nvml_failure(ctx, api, subject, exc, "nvmlDeviceGetUUID")
            return self.result(
                ctx,
                subject,
                CheckStatus.FAIL,
                CheckAction.REBOOT,
                f"GPU {index} is lost (NVML_ERROR_GPU_IS_LOST: off the bus, see dmesg for XID "
                f"79); {_REBOOT_IF_PERSISTS}",
                listed=count,
                expected=wanted,
            )
        return self.ok(
            ctx, subject, "present and answering", uuid=uuid, listed=count, expected=wanted
        )


class RecoveryActionCheck(NvidiaDeviceCheck):
    """The recovery action the driver asks for (NVML_FI_DEV_GET_GPU_RECOVERY_ACTION).

    none: ok. gpu reset, node reboot, drain p2p, drain and reset: fail, reboot (vcluster resets a
    GPU by rebooting its node, after draining it). A value this code does not know: warn. A
    driver too old to report the field (NOT_SUPPORTED): ok, saying so. Re-run on every XID, since
    the driver announces a change of recovery action with XID 154.
    """

    name: ClassVar[str] = "nvidia.recovery_action"
    # Slurm hooks: re-run live after a job, not before: event-driven, its stable state is current
    modes: ClassVar[frozenset[Mode]] = frozenset({Mode.PERIODIC, Mode.EPILOG, Mode.FULL})
    description: ClassVar[str] = "the driver does not ask for a GPU reset or node reboot"
    triggers: ClassVar[frozenset[str]] = frozenset({"xid"})

    def check_device(
        self, ctx: CheckContext, api: NvmlApi, subject: str, handle: object
    ) -> CheckResult:
        (entry,) = api.nvmlDeviceGetFieldValues(handle, [api.NVML_FI_DEV_GET_GPU_RECOVERY_ACTION])
        if entry.nvmlReturn == api.NVML_ERROR_NOT_SUPPORTED:
            return self.ok(
                ctx,
                subject,
                "the driver does not report a GPU recovery action",
                recovery_action="not supported",
            )
        if entry.nvmlReturn != api.NVML_SUCCESS:
            raise api.NVMLError(entry.nvmlReturn)
        value = int(field_value(api, entry))
        meanings = {
            api.NVML_GPU_RECOVERY_ACTION_GPU_RESET: "a GPU reset",
            api.NVML_GPU_RECOVERY_ACTION_NODE_REBOOT: "a node reboot",
            api.NVML_GPU_RECOVERY_ACTION_DRAIN_P2P: "draining peer-to-peer traffic, then a reset",
            api.NVML_GPU_RECOVERY_ACTION_DRAIN_AND_RESET: "draining the GPU's work, then a reset",
        }
        if value == api.NVML_GPU_RECOVERY_ACTION_NONE:
            return self.ok(ctx, subject, "no recovery action pending", recovery_action=value)
        if value in meanings:
            return self.result(
                ctx,
                subject,
                CheckStatus.FAIL,
                CheckAction.REBOOT,
                f"the driver asks for {meanings[value]} (recovery action {value}): drain and "
                "reboot the node, which resets the GPU",
                recovery_action=value,
            )
        return self.result(
            ctx,
            subject,
            CheckStatus.WARN,
            CheckAction.NONE,
            f"the driver reports recovery action {value}, which vcluster does not know: read "
            "`nvidia-smi -q` and the driver's release notes",
            recovery_action=value,
        )
