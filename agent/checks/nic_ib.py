"""`nic.ib`: InfiniBand HCA ports, from <root>/sys/class/infiniband/<hca>/ports/<n>/.

Subjects are "<hca>/<port>" for every InfiniBand port (link_layer InfiniBand; RoCE ports are
Ethernet's business) of each HCA the profile lists (all HCAs found, on a node without a
profile); an expected HCA that is absent is one `fail` + reboot result with subject "<hca>".

Per port:
- state must be ACTIVE and phys_state LinkUp; otherwise fail + reboot (a port stuck in Polling
  has no peer: cable or switch port; Init/Armed means no subnet manager has configured it; a
  reboot resets the HCA, and the lifecycle sets the node aside when it does not help);
- rate below expected * speed_min_fraction: fail + reboot (width or speed degraded);
- counters/link_downed growing >= ib_link_downed_warn in the window: warn, >= _fail: fail +
  repair (flapping, like Slingshot); counters/symbol_error growing >= ib_symbol_errors_warn:
  warn (a marginal cable). The IB error counters saturate (symbol_error at 65535, link_downed
  at 255) and stop growing there until cleared with perfquery -R: a saturated counter hides
  further errors, which is why both are windowed deltas and not absolute values.
"""

from __future__ import annotations

from agent.checks.base import Check, CheckContext, Mode
from agent.checks.host_findings import CounterWindow, Finding, fail, verdict, warn
from agent.probes.nic import IbPort, read_ib_counter, read_ib_ports, read_nics
from vcbase.domain import CheckAction, CheckResult, NicKind


def _expected_hcas(ctx: CheckContext, ports: dict[tuple[str, int], IbPort]) -> dict[str, int]:
    """HCA name -> expected Mb/s (0: unknown)."""
    if ctx.profile is not None:
        return {
            nic.name: nic.speed_mbps for nic in ctx.profile.nics if nic.kind is NicKind.INFINIBAND
        }
    return {hca: 0 for (hca, _), port in ports.items() if port.link_layer == "InfiniBand"}


class InfinibandCheck(Check):
    name = "nic.ib"
    description = "InfiniBand HCA ports: ACTIVE/LinkUp, rate, link_downed and symbol errors"
    triggers = frozenset({"link_changed", "device_removed"})
    # Slurm hooks: not re-run live: event-driven (netlink, udev)
    modes = frozenset({Mode.PERIODIC, Mode.FULL})

    def __init__(self) -> None:
        self._window = CounterWindow()

    def applies(self, ctx: CheckContext) -> bool:
        if ctx.profile is not None:
            return any(nic.kind is NicKind.INFINIBAND for nic in ctx.profile.nics)
        try:
            return any(nic.kind is NicKind.INFINIBAND for nic in read_nics(ctx.hw.root))
        except OSError:
            return False

    def run(self, ctx: CheckContext) -> list[CheckResult]:
        try:
            ports = read_ib_ports(ctx.hw.root)
        except OSError as exc:
            hcas = _expected_hcas(ctx, {})
            return [self.unknown(ctx, hca, f"{hca}: cannot read sysfs: {exc}") for hca in hcas]
        results: list[CheckResult] = []
        for hca, speed in _expected_hcas(ctx, ports).items():
            mine = sorted(
                (p for (h, _), p in ports.items() if h == hca and p.link_layer == "InfiniBand"),
                key=lambda p: p.port,
            )
            if not mine:
                text = (
                    "expected InfiniBand HCA is missing from /sys/class/infiniband: the device "
                    "or the mlx5_ib/ib_core driver did not come up (check lspci and dmesg)"
                )
                results.append(verdict(self, ctx, hca, [fail(CheckAction.REBOOT, text)], ""))
                continue
            results += [self._port(ctx, port, speed) for port in mine]
        return results

    def _port(self, ctx: CheckContext, port: IbPort, speed: int) -> CheckResult:
        t = ctx.thresholds.nic
        subject = f"{port.hca}/{port.port}"
        findings: list[Finding] = []
        if not port.state or not port.phys_state:
            return self.unknown(ctx, subject, f"{subject}: cannot read state/phys_state")
        if not port.active:
            findings.append(
                fail(
                    CheckAction.REBOOT,
                    f"port not active (state {port.state}, phys_state {port.phys_state}): "
                    "Polling = no link partner (cable, switch port); Init/Armed = no subnet "
                    "manager; check ibstat",
                )
            )
        elif speed and port.rate_mbps < speed * t.speed_min_fraction:
            findings.append(
                fail(
                    CheckAction.REBOOT,
                    f"rate {port.rate_mbps // 1000} Gb/s, expected {speed // 1000} Gb/s "
                    "(width or speed degraded)",
                )
            )
        observed: dict[str, object] = {
            "state": port.state,
            "phys_state": port.phys_state,
            "rate_mbps": port.rate_mbps,
            "expected_rate_mbps": speed or "n/a",
        }
        for counter, warn_at, fail_at in (
            ("link_downed", t.ib_link_downed_warn, t.ib_link_downed_fail),
            ("symbol_error", t.ib_symbol_errors_warn, None),
        ):
            value = read_ib_counter(ctx.hw.root, port.hca, port.port, counter)
            observed[counter] = "n/a" if value is None else value
            if value is None:
                continue
            grown = self._window.increase(f"{subject}/{counter}", value, ctx.now, t.rate_window_s)
            observed[f"{counter}_in_window"] = "n/a" if grown is None else grown
            if grown is None or grown < warn_at:
                continue
            text = f"{counter} grew by {grown} in the last {t.rate_window_s / 3600:g} h"
            if fail_at is not None and grown >= fail_at:
                findings.append(fail(CheckAction.REPAIR, text + " (link flapping)"))
            else:
                findings.append(warn(text + " (check the cable)"))
        ok = f"{subject}: ACTIVE/LinkUp at {port.rate_mbps // 1000} Gb/s"
        return verdict(self, ctx, subject, findings, ok, **observed)
