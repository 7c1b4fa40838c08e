"""NVIDIA GPU temperature and clock throttling.

Heat is usually the room's problem, not the GPU's: a GPU at its slowdown temperature fails with
action none (the message says to look at the cooling), since rebooting or setting the node aside
cures nothing. A throttle the board itself imposes (HW power brake, HW slowdown without a thermal
cause) is the board's problem and asks for a repair once it persists.
"""

from __future__ import annotations

from typing import ClassVar

from agent.checks.base import CheckContext, Mode
from agent.checks.findings import Finding
from agent.checks.nvidia_base import NvidiaDeviceCheck
from agent.probes.gpu_nvidia import NvmlApi, nvml_error_code
from vcbase.domain import CheckAction, CheckResult, CheckStatus

FAIL, WARN = CheckStatus.FAIL, CheckStatus.WARN
NONE, REPAIR = CheckAction.NONE, CheckAction.REPAIR
_COOLING = "check the rack's cooling (airflow, coolant, fans); vcluster takes no action on heat"


def read_temperature(api: NvmlApi, handle: object) -> int:
    """GPU core temperature in C: nvmlDeviceGetTemperatureV, or the deprecated
    nvmlDeviceGetTemperature where the bindings or the driver lack it."""
    newer = getattr(api, "nvmlDeviceGetTemperatureV", None)
    if newer is not None:
        try:
            return int(newer(handle, api.NVML_TEMPERATURE_GPU))
        except api.NVMLError as exc:
            if nvml_error_code(exc) != api.NVML_ERROR_FUNCTION_NOT_FOUND:
                raise
    return int(api.nvmlDeviceGetTemperature(handle, api.NVML_TEMPERATURE_GPU))


def read_clock_reasons(api: NvmlApi, handle: object) -> int:
    """The clocks event (throttle) reasons bitmask: nvmlDeviceGetCurrentClocksEventReasons, or
    the deprecated ...ThrottleReasons where the bindings or the driver lack it."""
    newer = getattr(api, "nvmlDeviceGetCurrentClocksEventReasons", None)
    if newer is not None:
        try:
            return int(newer(handle))
        except api.NVMLError as exc:
            if nvml_error_code(exc) != api.NVML_ERROR_FUNCTION_NOT_FOUND:
                raise
    return int(api.nvmlDeviceGetCurrentClocksThrottleReasons(handle))


class TemperatureCheck(NvidiaDeviceCheck):
    """GPU temperature against the GPU's own slowdown threshold (NVML) minus a margin."""

    name: ClassVar[str] = "nvidia.temperature"
    # Slurm hooks: not re-run live: transient; an idle GPU is cool
    modes: ClassVar[frozenset[Mode]] = frozenset({Mode.PERIODIC, Mode.FULL})
    description: ClassVar[str] = "GPUs run below their slowdown temperature"

    def check_device(
        self, ctx: CheckContext, api: NvmlApi, subject: str, handle: object
    ) -> CheckResult:
        temp = read_temperature(api, handle)
        try:
            slowdown = api.nvmlDeviceGetTemperatureThreshold(
                handle, api.NVML_TEMPERATURE_THRESHOLD_SLOWDOWN
            )
        except api.NVMLError as exc:
            if nvml_error_code(exc) != api.NVML_ERROR_NOT_SUPPORTED:
                raise
            return self.ok(
                ctx,
                subject,
                f"{temp} C (the GPU reports no slowdown threshold)",
                temperature_c=temp,
                slowdown_c="n/a",
            )
        margin = ctx.thresholds.nvidia.temperature_margin_c
        findings = []
        if temp >= slowdown:
            findings.append(
                Finding(
                    FAIL,
                    NONE,
                    f"GPU at {temp} C, at or above its slowdown temperature "
                    f"{slowdown} C, so it is throttling: {_COOLING}",
                )
            )
        elif temp >= slowdown - margin:
            findings.append(
                Finding(
                    WARN,
                    NONE,
                    f"GPU at {temp} C, within {margin} C of its slowdown "
                    f"temperature {slowdown} C: {_COOLING}",
                )
            )
        return self.finish(
            ctx,
            subject,
            findings,
            f"{temp} C, slowdown at {slowdown} C",
            temperature_c=temp,
            slowdown_c=slowdown,
            margin_c=margin,
        )


class ThrottleCheck(NvidiaDeviceCheck):
    """Clock throttle reasons that slow a GPU down against its will.

    HW power brake: fail, repair (the board or its power supply asserts it). HW slowdown without
    a thermal or power-brake cause: fail, repair. HW thermal: fail, none (cooling). SW thermal:
    warn, none. Idle, power cap, application clocks and sync boost are normal and ignored.
    Reports what it sees now; the runner flips the state only after `fail_after` runs in a row.
    """

    name: ClassVar[str] = "nvidia.throttle"
    # Slurm hooks: not re-run live: debounced (fail_after 3)
    modes: ClassVar[frozenset[Mode]] = frozenset({Mode.PERIODIC, Mode.FULL})
    description: ClassVar[str] = "no persisting hardware or thermal clock throttling"
    fail_after: ClassVar[int] = 3

    def check_device(
        self, ctx: CheckContext, api: NvmlApi, subject: str, handle: object
    ) -> CheckResult:
        reasons = read_clock_reasons(api, handle)
        brake = bool(reasons & api.nvmlClocksEventReasonHwPowerBrakeSlowdown)
        hw_thermal = bool(reasons & api.nvmlClocksEventReasonHwThermalSlowdown)
        hw_slowdown = bool(reasons & api.nvmlClocksEventReasonHwSlowdown)
        sw_thermal = bool(reasons & api.nvmlClocksEventReasonSwThermalSlowdown)
        findings = []
        if brake:
            findings.append(
                Finding(
                    FAIL,
                    REPAIR,
                    "HW power brake slowdown (asserted by the board "
                    "or its power supply): the node needs service",
                )
            )
        if hw_thermal:
            findings.append(Finding(FAIL, NONE, f"HW thermal slowdown: {_COOLING}"))
        if hw_slowdown and not (brake or hw_thermal):
            findings.append(
                Finding(
                    FAIL,
                    REPAIR,
                    "HW slowdown with no thermal or power-brake cause: the board needs service",
                )
            )
        if sw_thermal:
            findings.append(Finding(WARN, NONE, f"SW thermal slowdown: {_COOLING}"))
        return self.finish(
            ctx,
            subject,
            findings,
            "no hardware or thermal throttling",
            reasons=f"0x{reasons:x}",
        )
