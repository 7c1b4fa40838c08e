"""Link health of one netdev: the findings the Slingshot and Ethernet checks share.

Pure functions of what the probes read (`NetdevState`, `AerCounts`) plus the check's counter
windows; `agent.checks.nic` turns the findings into one result per NIC.

Actions, and why:
- link down, or trained below the expected speed: fail + reboot. A reboot resets the NIC and
  retrains the link, which is HPE's first step for a Slingshot link that will not come up
  (and the usual fix for a NIC that lost its firmware state); if it fails again after the
  reboot, the coordinator sets the node aside for a hardware ticket (DESIGN.md lifecycle).
- flapping (link restarts in the window >= link_restarts_fail): fail + repair. A link that
  keeps bouncing is almost always a cable, optic or switch port: a reboot hides it for an hour.
  Between warn and fail thresholds: warn, no action.
- PCIe uncorrectable errors (AER nonfatal+fatal since boot > aer_uncorrectable_max): fail +
  reboot: transactions were lost, the device state is suspect until it is reset. Correctable
  errors growing by >= aer_correctable_warn in the window: warn (a marginal slot or riser).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from agent.checks.host_findings import CounterWindow, Finding, fail, warn
from agent.checks.nic_thresholds import NicThresholds
from agent.probes.nic import AerCounts, NetdevState
from vcbase.domain import CheckAction


@dataclass(frozen=True, slots=True)
class LinkFacts:
    """What a check saw of one NIC; `link_up` already folds in driver-specific state."""

    state: NetdevState
    link_up: bool
    speed_mbps: int | None
    aer: AerCounts | None


def _gbps(mbps: int) -> str:
    return f"{mbps / 1000:g} Gb/s"


def speed_finding(
    facts: LinkFacts, expected_mbps: int | None, t: NicThresholds, action: CheckAction | None
) -> Finding | None:
    """Below `expected_mbps * speed_min_fraction` while up: fail with `action`, or warn when
    `action` is None. Nothing when the link is down, or the speed or expectation is unknown."""
    if not facts.link_up or not expected_mbps or facts.speed_mbps is None:
        return None
    if facts.speed_mbps >= expected_mbps * t.speed_min_fraction:
        return None
    text = (
        f"link trained at {_gbps(facts.speed_mbps)}, expected {_gbps(expected_mbps)} "
        "(lanes down or wrong cable/switch setting)"
    )
    return warn(text) if action is None else fail(action, text)


def flapping_finding(
    name: str, state: NetdevState, window: CounterWindow, now: datetime, t: NicThresholds
) -> tuple[Finding | None, int | None]:
    """(finding, restarts in the window) from the netdev's link restart counter."""
    restarts = state.link_restarts
    if restarts is None:
        return None, None
    grown = window.increase(f"{name}/restarts", restarts, now, t.rate_window_s)
    if grown is None:
        return None, None
    hours = t.rate_window_s / 3600
    text = (
        f"link restarted {grown} times in the last {hours:g} h (flapping): check the cable, "
        "optic and switch port"
    )
    if grown >= t.link_restarts_fail:
        return fail(CheckAction.REPAIR, text), grown
    if grown >= t.link_restarts_warn:
        return warn(text), grown
    return None, grown


def aer_findings(
    name: str, aer: AerCounts | None, window: CounterWindow, now: datetime, t: NicThresholds
) -> list[Finding]:
    """PCIe AER findings of the NIC's PCI device (none when it has no AER counters)."""
    if aer is None:
        return []
    found: list[Finding] = []
    if aer.uncorrectable > t.aer_uncorrectable_max:
        found.append(
            fail(
                CheckAction.REBOOT,
                f"PCIe uncorrectable errors since boot: nonfatal={aer.nonfatal} "
                f"fatal={aer.fatal} (see dmesg for AER reports)",
            )
        )
    grown = window.increase(f"{name}/aer_correctable", aer.correctable, now, t.rate_window_s)
    if grown is not None and grown >= t.aer_correctable_warn:
        found.append(warn(f"{grown} PCIe correctable errors in the window (marginal slot/riser)"))
    return found


def link_observed(facts: LinkFacts, restarts_in_window: int | None) -> dict[str, object]:
    """The observed values every netdev result carries (strings once in the result)."""
    s = facts.state
    observed: dict[str, object] = {
        "operstate": s.operstate,
        "carrier": "n/a" if s.carrier is None else s.carrier,
        "speed_mbps": "n/a" if facts.speed_mbps is None else facts.speed_mbps,
        "driver": s.driver,
        "link_restarts": "n/a" if s.link_restarts is None else s.link_restarts,
        "restarts_in_window": "n/a" if restarts_in_window is None else restarts_in_window,
    }
    if facts.aer is not None:
        observed |= {
            "aer_correctable": facts.aer.correctable,
            "aer_nonfatal": facts.aer.nonfatal,
            "aer_fatal": facts.aer.fatal,
        }
    return observed
