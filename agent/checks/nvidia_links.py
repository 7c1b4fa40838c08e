"""NVIDIA GPU links: PCIe width, NVLink state and error counters, and Grace Hopper's C2C link.

A link that trained badly (PCIe at reduced width, an NVLink down, C2C disabled) often trains
right after a reset, so the first answer is a reboot; the lifecycle sets the node aside when the
same failure comes back after that reboot. NVLink error counters are judged by how much they grew
since the check's previous run (the first run sets the baseline and is ok; a counter that went
down, as after a driver reload, sets a new baseline).
"""

from __future__ import annotations

from typing import ClassVar

from agent.checks.base import CheckContext, Mode
from agent.checks.findings import Finding
from agent.checks.nvidia_base import NvidiaDeviceCheck
from agent.probes.gpu_nvidia import NvmlApi, nvml_error_code, text
from vcbase.domain import CheckAction, CheckResult, CheckStatus

FAIL, WARN = CheckStatus.FAIL, CheckStatus.WARN
NONE, REBOOT = CheckAction.NONE, CheckAction.REBOOT
_AGAIN = "if it persists after the reboot the node is set aside"


class PcieCheck(NvidiaDeviceCheck):
    """The GPU's PCIe link width against its maximum. Only the width: the link generation drops
    at idle to save power, which is normal."""

    name: ClassVar[str] = "nvidia.pcie"
    # Slurm hooks: not re-run live: debounced (fail_after 2)
    modes: ClassVar[frozenset[Mode]] = frozenset({Mode.PERIODIC, Mode.FULL})
    description: ClassVar[str] = "GPU PCIe links run at full width"
    fail_after: ClassVar[int] = 2

    def check_device(
        self, ctx: CheckContext, api: NvmlApi, subject: str, handle: object
    ) -> CheckResult | None:
        try:
            current = api.nvmlDeviceGetCurrPcieLinkWidth(handle)
            widest = api.nvmlDeviceGetMaxPcieLinkWidth(handle)
        except api.NVMLError as exc:
            if nvml_error_code(exc) == api.NVML_ERROR_NOT_SUPPORTED:
                return None
            raise
        ratio = ctx.thresholds.nvidia.pcie_width_fail_ratio
        findings = []
        if widest > 0 and current < widest:
            status = FAIL if current <= widest * ratio else WARN
            findings.append(
                Finding(
                    status,
                    REBOOT,
                    f"PCIe link at x{current} of x{widest} (fail at or below "
                    f"{ratio:g} of the width): reboot to retrain it; {_AGAIN}",
                )
            )
        return self.finish(
            ctx,
            subject,
            findings,
            f"PCIe link at x{current} of x{widest}",
            width=current,
            max_width=widest,
        )


_COUNTERS = (
    # (name, the NvmlApi constant of the counter, threshold key, action when over it)
    ("replay", "NVML_NVLINK_ERROR_DL_REPLAY", "nvlink_replay_delta_max", NONE),
    ("recovery", "NVML_NVLINK_ERROR_DL_RECOVERY", "nvlink_recovery_delta_max", REBOOT),
    ("crc_flit", "NVML_NVLINK_ERROR_DL_CRC_FLIT", "nvlink_crc_delta_max", NONE),
    ("crc_data", "NVML_NVLINK_ERROR_DL_CRC_DATA", "nvlink_crc_delta_max", NONE),
)


class NvLinkCheck(NvidiaDeviceCheck):
    """Every NVLink the GPU has is up, and its error counters grow slowly.

    Links NVML answers NOT_SUPPORTED for do not exist on this part and are skipped; a GPU with
    no link at all is not reported. A link down: fail, reboot. Recoveries (link retrains) above
    their threshold: warn, reboot (the link flaps). Replay or CRC errors above theirs: warn,
    none (a marginal link to watch).
    """

    name: ClassVar[str] = "nvidia.nvlink"
    # Slurm hooks: not re-run live: slow (~300 NVML calls)
    modes: ClassVar[frozenset[Mode]] = frozenset({Mode.PERIODIC, Mode.FULL})
    description: ClassVar[str] = "NVLinks up, error counters not growing fast"

    def __init__(self) -> None:
        self._baseline: dict[tuple[str, int, str], int] = {}

    def _links(self, api: NvmlApi, handle: object) -> list[tuple[int, bool]]:
        """(link, up) for every link the GPU has."""
        links = []
        for link in range(api.NVML_NVLINK_MAX_LINKS):
            try:
                state = api.nvmlDeviceGetNvLinkState(handle, link)
            except api.NVMLError as exc:
                code = nvml_error_code(exc)
                if code == api.NVML_ERROR_NOT_SUPPORTED:
                    continue
                if code == api.NVML_ERROR_INVALID_ARGUMENT:  # past the driver's link count
                    break
                raise
            links.append((link, state == api.NVML_FEATURE_ENABLED))
        return links

    def _growth(
        self, ctx: CheckContext, api: NvmlApi, subject: str, handle: object, link: int
    ) -> list[Finding]:
        findings = []
        for name, constant, key, action in _COUNTERS:
            try:
                value = api.nvmlDeviceGetNvLinkErrorCounter(handle, link, getattr(api, constant))
            except api.NVMLError as exc:
                if nvml_error_code(exc) == api.NVML_ERROR_NOT_SUPPORTED:
                    continue
                raise
            before = self._baseline.get((subject, link, name))
            self._baseline[(subject, link, name)] = value
            limit: int = getattr(ctx.thresholds.nvidia, key)
            if before is not None and value - before > limit:
                advice = "the link flaps: reboot to retrain it" if action is REBOOT else "watch it"
                findings.append(
                    Finding(
                        WARN,
                        action,
                        f"NVLink {link}: {value - before} {name} errors since "
                        f"the last check (max {limit}): {advice}",
                    )
                )
        return findings

    def check_device(
        self, ctx: CheckContext, api: NvmlApi, subject: str, handle: object
    ) -> CheckResult | None:
        links = self._links(api, handle)
        if not links:
            return None
        down = [link for link, up in links if not up]
        findings = []
        if down:
            names = ",".join(map(str, down))
            findings.append(
                Finding(
                    FAIL,
                    REBOOT,
                    f"NVLink {names} down ({len(down)} of {len(links)}): "
                    f"reboot to retrain; {_AGAIN}",
                )
            )
        for link, up in links:
            if up:
                findings.extend(self._growth(ctx, api, subject, handle, link))
        return self.finish(
            ctx,
            subject,
            findings,
            f"all {len(links)} NVLinks up",
            links=len(links),
            down=",".join(map(str, down)) or "none",
        )


class C2cCheck(NvidiaDeviceCheck):
    """Grace Hopper only: the NVLink-C2C link between the Grace CPU and the Hopper GPU is
    enabled. Disabled: fail, reboot. Not reported for GPUs that are not GH200."""

    name: ClassVar[str] = "nvidia.c2c"
    # Slurm hooks: not re-run live: periodic and XID 74 cover it
    modes: ClassVar[frozenset[Mode]] = frozenset({Mode.PERIODIC, Mode.FULL})
    description: ClassVar[str] = "the Grace-Hopper C2C link is enabled"

    def applies(self, ctx: CheckContext) -> bool:
        profile = ctx.profile
        gh200 = profile is None or "GH200" in profile.gpu_model.upper()
        return ctx.hw.nvml is not None and gh200

    def check_device(
        self, ctx: CheckContext, api: NvmlApi, subject: str, handle: object
    ) -> CheckResult | None:
        if "GH200" not in text(api.nvmlDeviceGetName(handle)).upper():
            return None
        query = getattr(api, "nvmlDeviceGetC2cModeInfoV", None)
        if query is None:
            return self.unknown(ctx, subject, "nvidia-ml-py is too old to read the C2C mode")
        enabled = int(query(handle).isC2cEnabled)
        if not enabled:
            return self.result(
                ctx,
                subject,
                FAIL,
                REBOOT,
                "the NVLink-C2C link between the Grace CPU and this GPU is disabled: reboot; "
                + _AGAIN,
                c2c_enabled=enabled,
            )
        return self.ok(ctx, subject, "C2C link enabled", c2c_enabled=enabled)
