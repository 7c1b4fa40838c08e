"""Injectable faults of the simulated AMD nodes (mi250x, mi300a).

Each fault changes one GPU's simulated health (<state_dir>/sim/amd.json, see
`agent.sim.amdsmi_health`) or, for a lost GPU, gpus.json plus a udev PCI "remove" uevent.
`SimTarget.device` names the GPU ("gpu3"); the default is gpu0, which is the subject of each
fault's `Expectation`. Inject and clear are idempotent, and clear undoes only what its own
inject did, so several faults can be active on one GPU and cleared in any order. A target that
names no GPU of the node is a ValueError naming the valid ones.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from agent.probes.gpu_amd import (
    AMDSMI_MEM_PAGE_STATUS_PENDING,
    AMDSMI_MEM_PAGE_STATUS_UNRESERVABLE,
)
from agent.profiles import PROFILES
from agent.sim.amdsmi import PAGE_SIZE
from agent.sim.amdsmi_health import (
    AmdDeviceHealth,
    BadPage,
    reciprocal_link,
    thermals_for,
    update_device,
    xgmi_topology,
)
from agent.sim.fault import Expectation, Fault, SimTarget
from agent.sim.faults_host import append_udev
from agent.sim.tree import GPU_STATE_FILE, SimGpuState, read_gpu_state, write_gpu_state
from vcbase.domain import CheckAction, CheckStatus, GpuVendor

AMD_PROFILES = frozenset(name for name, p in PROFILES.items() if p.gpu_vendor is GpuVendor.AMD)
DEFAULT_DEVICE = "gpu0"
PENDING_PAGE = 0x3_0000_0000  # the page address each bad-page fault uses
UNRESERVABLE_PAGE = 0x3_0010_0000
THERMAL_EXCESS_C = 3  # the thermal fault runs this far above the critical limit
XGMI_SLOT = 0  # the link the xGMI fault takes down (on MI250X: to the package peer)
FAIL, NONE, REBOOT, REPAIR = (
    CheckStatus.FAIL,
    CheckAction.NONE,
    CheckAction.REBOOT,
    CheckAction.REPAIR,
)


def _gpu(target: SimTarget) -> tuple[int, SimGpuState]:
    """The targeted GPU's index, and the node's GPU state; ValueError for a bad target."""
    state = read_gpu_state(target.sim_dir / GPU_STATE_FILE)
    name = target.device or DEFAULT_DEVICE
    valid = [f"gpu{i}" for i in range(len(state.devices))]
    if name not in valid:
        raise ValueError(f"device {name!r}: not a GPU of this node; valid: {', '.join(valid)}")
    return int(name[3:]), state


def _health_fault(
    change: Callable[[AmdDeviceHealth, int, SimGpuState], AmdDeviceHealth],
) -> Callable[[SimTarget], None]:
    """Inject/clear that rewrites the targeted GPU's health with `change(health, index, state)`."""

    def apply(target: SimTarget) -> None:
        index, state = _gpu(target)
        update_device(target.sim_dir, index, lambda health: change(health, index, state))

    return apply


def _with_page(address: int, status: int) -> Callable[[SimTarget], None]:
    def add(health: AmdDeviceHealth, index: int, state: SimGpuState) -> AmdDeviceHealth:
        kept = tuple(p for p in health.bad_pages if p.address != address)
        return dataclasses.replace(health, bad_pages=(*kept, BadPage(address, PAGE_SIZE, status)))

    return _health_fault(add)


def _without_page(address: int) -> Callable[[SimTarget], None]:
    def remove(health: AmdDeviceHealth, index: int, state: SimGpuState) -> AmdDeviceHealth:
        kept = tuple(p for p in health.bad_pages if p.address != address)
        return dataclasses.replace(health, bad_pages=kept)

    return _health_fault(remove)


def _xgmi_ends(target: SimTarget) -> list[tuple[int, int]]:
    """(device, slot) of both ends of the link the xGMI fault takes down."""
    index, state = _gpu(target)
    topology = xgmi_topology(state.devices[index].name, len(state.devices))
    other = reciprocal_link(topology, index, XGMI_SLOT)
    return [(index, XGMI_SLOT)] + ([other] if other else [])


def _set_link(down: bool) -> Callable[[SimTarget], None]:
    def apply(target: SimTarget) -> None:
        for device, slot in _xgmi_ends(target):

            def change(health: AmdDeviceHealth, slot: int = slot) -> AmdDeviceHealth:
                links = set(health.links_down) | {slot} if down else set(health.links_down) - {slot}
                return dataclasses.replace(health, links_down=tuple(sorted(links)))

            update_device(target.sim_dir, device, change)

    return apply


def _set_lost(lost: bool) -> Callable[[SimTarget], None]:
    def apply(target: SimTarget) -> None:
        index, state = _gpu(target)
        if state.devices[index].lost == lost:
            return  # idempotent: no second write, no second udev event
        devices = list(state.devices)
        devices[index] = dataclasses.replace(devices[index], lost=lost)
        write_gpu_state(
            target.sim_dir / GPU_STATE_FILE, dataclasses.replace(state, devices=tuple(devices))
        )
        if lost:  # the kernel's uevent: a PCI device removed, named by its address
            append_udev(target.sim_dir, "remove", "pci", state.devices[index].pci_bus_id)

    return apply


def _hot(health: AmdDeviceHealth, index: int, state: SimGpuState) -> AmdDeviceHealth:
    critical = thermals_for(state.devices[index].name).hotspot_critical_c
    return dataclasses.replace(health, hotspot_c=critical + THERMAL_EXCESS_C)


def _fault(
    name: str,
    description: str,
    expect: tuple[str, CheckStatus, CheckAction],
    inject: Callable[[SimTarget], None],
    clear: Callable[[SimTarget], None],
    event_driven: bool = False,
) -> Fault:
    check, status, action = expect
    expectation = Expectation(check, status, action, DEFAULT_DEVICE)
    return Fault(name, description, AMD_PROFILES, expectation, event_driven, inject, clear)


FAULTS: tuple[Fault, ...] = (
    _fault(
        "amd-ecc-uncorrectable",
        "an uncorrectable HBM ECC error on the GPU (its RAS counter goes to 1)",
        ("amd.ecc", FAIL, REBOOT),
        _health_fault(
            lambda h, i, s: dataclasses.replace(h, uncorrectable=max(h.uncorrectable, 1))
        ),
        _health_fault(lambda h, i, s: dataclasses.replace(h, uncorrectable=0)),
    ),
    _fault(
        "amd-bad-page-pending",
        "a VRAM page marked bad, pending retirement until the next reboot",
        ("amd.bad_pages", FAIL, REBOOT),
        _with_page(PENDING_PAGE, AMDSMI_MEM_PAGE_STATUS_PENDING),
        _without_page(PENDING_PAGE),
    ),
    _fault(
        "amd-bad-page-unreservable",
        "a VRAM page marked bad that the driver could not reserve",
        ("amd.bad_pages", FAIL, REPAIR),
        _with_page(UNRESERVABLE_PAGE, AMDSMI_MEM_PAGE_STATUS_UNRESERVABLE),
        _without_page(UNRESERVABLE_PAGE),
    ),
    _fault(
        "amd-xgmi-down",
        "xGMI link 0 of the GPU down, seen from both ends (the peer fails too)",
        ("amd.xgmi", FAIL, REBOOT),
        _set_link(down=True),
        _set_link(down=False),
    ),
    _fault(
        "amd-thermal-critical",
        f"the GPU's hotspot {THERMAL_EXCESS_C} °C above its critical limit (cooling failure)",
        ("amd.temperature", FAIL, NONE),
        _health_fault(_hot),
        _health_fault(lambda h, i, s: dataclasses.replace(h, hotspot_c=None)),
    ),
    _fault(
        "amd-gpu-missing",
        "the GPU falls off the bus: every amdsmi call on it fails; udev reports it removed",
        ("amd.count", FAIL, REBOOT),
        _set_lost(lost=True),
        _set_lost(lost=False),
        event_driven=True,
    ),
)
