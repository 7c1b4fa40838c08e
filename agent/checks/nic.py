"""NIC health checks: Slingshot (`nic.cxi`), InfiniBand (`nic.ib`) and Ethernet (`nic.eth`).

Everything is read under `ctx.hw.root`, so the same code reads a real node's /sys and the
simulated node's tree. Subjects are the NICs the node type's profile lists (hsn0..hsnN, eth0,
mlx5_0/<port>); on a node without a profile, the NICs of that kind found in sysfs. A NIC the
profile lists but sysfs lacks is a `fail` + reboot for that subject (a device or driver that
did not come up is re-enumerated by a reboot; if it is still missing the node is set aside).

`nic.cxi` and `nic.eth` share the link rules of `agent.checks.nic_link` (link state, speed,
flapping, PCIe AER); `nic.cxi` also requires the Slingshot link driver's own state
(<device>/port/0/link/state) to be "up" where the driver exposes it, and takes the speed from
it when the netdev has none. The NIC checks re-run at once on "link_changed" (netlink) and
"device_removed" (udev) events; they keep nothing from the event itself (level-based: the
re-run reads the hardware again).
"""

from __future__ import annotations

from typing import ClassVar

from agent.checks.base import Check, CheckContext, Mode
from agent.checks.host_findings import CounterWindow, Finding, fail, verdict
from agent.checks.nic_ib import InfinibandCheck
from agent.checks.nic_link import (
    LinkFacts,
    aer_findings,
    flapping_finding,
    link_observed,
    speed_finding,
)
from agent.probes.nic import read_aer, read_cxi_link, read_netdev, read_nics
from vcbase.domain import CheckAction, CheckResult, NicKind

NIC_TRIGGERS = frozenset({"link_changed", "device_removed"})
_KIND_LABEL = {NicKind.SLINGSHOT: "Slingshot NIC", NicKind.ETHERNET: "Ethernet NIC"}


def expected_netdevs(ctx: CheckContext, kind: NicKind) -> list[tuple[str, str, int | None]]:
    """(name, driver, expected Mb/s) of the netdevs of `kind` this node should have."""
    if ctx.profile is not None:
        return [(n.name, n.driver, n.speed_mbps) for n in ctx.profile.nics if n.kind is kind]
    try:
        found = read_nics(ctx.hw.root)
    except OSError:
        return []
    return [(n.name, n.driver, None) for n in found if n.kind is kind]


class _NetdevCheck(Check):
    """One result per expected netdev of `kind`; subclasses add driver-specific findings."""

    kind: ClassVar[NicKind]
    speed_action: ClassVar[CheckAction | None]  # None: a slow link is only a warning
    triggers = NIC_TRIGGERS
    # Slurm hooks: not re-run live: event-driven (netlink, udev)
    modes = frozenset({Mode.PERIODIC, Mode.FULL})

    def __init__(self) -> None:
        self._window = CounterWindow()

    def applies(self, ctx: CheckContext) -> bool:
        return bool(expected_netdevs(ctx, self.kind))

    def run(self, ctx: CheckContext) -> list[CheckResult]:
        results = []
        for name, driver, speed in expected_netdevs(ctx, self.kind):
            try:
                results.append(self._one(ctx, name, driver, speed))
            except (OSError, ValueError) as exc:
                results.append(self.unknown(ctx, name, f"{name}: cannot read sysfs: {exc}"))
        return results

    def _driver_view(self, facts: LinkFacts) -> tuple[bool, int | None, dict[str, str]]:
        """(link up, speed, extra observed values) with the driver's own attributes folded in."""
        return facts.link_up, facts.speed_mbps, {}

    def _one(self, ctx: CheckContext, name: str, driver: str, speed: int | None) -> CheckResult:
        state = read_netdev(ctx.hw.root, name)
        label = _KIND_LABEL[self.kind]
        if state is None:
            self._window.forget(f"{name}/restarts")
            self._window.forget(f"{name}/aer_correctable")
            expected = f"driver {driver}" + (f", {speed / 1000:g} Gb/s" if speed else "")
            text = (
                f"expected {label} ({expected}) is missing from /sys/class/net: the device or "
                "its driver did not come up (check lspci and dmesg)"
            )
            return verdict(self, ctx, name, [fail(CheckAction.REBOOT, text)], "", present="0")
        if not state.operstate:
            return self.unknown(ctx, name, f"{name}: cannot read operstate", present="1")
        aer = read_aer(state.device) if state.device is not None else None
        link_up, link_speed, extra = self._driver_view(
            LinkFacts(state, state.link_up, state.speed_mbps, aer)
        )
        facts = LinkFacts(state, link_up, link_speed, aer)
        findings: list[Finding] = []
        if not link_up:
            findings.append(
                fail(
                    CheckAction.REBOOT,
                    f"link down (operstate={state.operstate}, carrier={state.carrier}"
                    + "".join(f", {k}={v}" for k, v in extra.items())
                    + f"): check the cable and switch port; a reboot resets the {label}",
                )
            )
        slow = speed_finding(facts, speed, ctx.thresholds.nic, self.speed_action)
        flap, in_window = flapping_finding(name, state, self._window, ctx.now, ctx.thresholds.nic)
        findings += [f for f in (slow, flap) if f is not None]
        findings += aer_findings(name, aer, self._window, ctx.now, ctx.thresholds.nic)
        observed = link_observed(facts, in_window) | extra
        observed["expected_speed_mbps"] = speed if speed else "n/a"
        up = f"{link_speed / 1000:g} Gb/s" if link_speed else "speed n/a"
        return verdict(self, ctx, name, findings, f"{name}: link up, {up}", **observed)


class SlingshotCheck(_NetdevCheck):
    name = "nic.cxi"
    description = "HPE Slingshot (cxi) NICs: link up, speed, flapping, PCIe AER errors"
    kind = NicKind.SLINGSHOT
    speed_action = CheckAction.REBOOT

    def _driver_view(self, facts: LinkFacts) -> tuple[bool, int | None, dict[str, str]]:
        device = facts.state.device
        link = read_cxi_link(device) if device is not None else None
        if device is None or link is None:
            return facts.link_up, facts.speed_mbps, {}
        speed = facts.speed_mbps if facts.speed_mbps is not None else link.speed_mbps
        observed = {"cxi_link_state": link.state}
        if (device / "cxi").is_dir():
            observed["cxi_device"] = ",".join(sorted(p.name for p in (device / "cxi").iterdir()))
        return facts.link_up and link.state == "up", speed, observed


class EthernetCheck(_NetdevCheck):
    name = "nic.eth"
    description = "Ethernet NICs (management network): link up, speed, flapping, PCIe AER"
    kind = NicKind.ETHERNET
    speed_action = None


def checks() -> list[Check]:
    """One instance of each NIC check (they keep counter history: create them once)."""
    return [SlingshotCheck(), InfinibandCheck(), EthernetCheck()]
