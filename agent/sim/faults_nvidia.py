"""Simulated NVIDIA faults: what `vcagent sim inject` can do to a GH200 or A100 node.

Each fault rewrites the simulated health state (nvidia.json, `agent.sim.nvml_health`) or the
GPU list (gpus.json), and where the real hardware would say so on its own, appends the event:
an XID to events/nvml.jsonl, or a PCI "remove" uevent to events/udev.jsonl (which the udev
source of agent.checks.events_os turns into device_removed for gpuN). `SimTarget.device` picks
the GPU ("gpu2"; default gpu0, gpu1 for xid-74). Inject and clear are idempotent in the state
they set (an XID fault appends its events again).

`clear` restores the state the fault changed. It cannot take back an event: an XID stays in the
agent's window until it expires or the node reboots (see agent.checks.nvidia_xid), so clearing
an XID fault puts the hardware back (a lost GPU found again, ECC counters reset) while
`nvidia.xid` keeps reporting the XID. Two faults that change the same field of the same GPU do
not stack: clearing either restores the field.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from agent.checks.nvidia_thresholds import NvidiaThresholds
from agent.sim.events import append_event, event_log
from agent.sim.fault import Expectation, Fault, SimTarget
from agent.sim.faults_host import append_udev
from agent.sim.nvml_health import NvmlConstants as C
from agent.sim.nvml_health import SimGpuHealth, gpu_index, restore, update_health
from agent.sim.tree import GPU_STATE_FILE, read_gpu_state, write_gpu_state
from vcbase.domain import CheckAction, CheckStatus

NVIDIA = frozenset({"gh200", "a100"})
FAIL, WARN = CheckStatus.FAIL, CheckStatus.WARN
REBOOT, REPAIR, NONE = CheckAction.REBOOT, CheckAction.REPAIR, CheckAction.NONE
Action = Callable[[SimTarget], None]


def _gpu(target: SimTarget) -> str:
    return target.device or "gpu0"


def _set(**values: Any) -> Action:
    """Set health fields of the target GPU."""

    def apply(target: SimTarget) -> None:
        update_health(target.sim_dir, _gpu(target), lambda h: dataclasses.replace(h, **values))

    return apply


def _restore(*names: str) -> Action:
    def apply(target: SimTarget) -> None:
        restore(target.sim_dir, _gpu(target), *names)

    return apply


def _xid(xid: int, times: int = 1, default: str = "gpu0") -> Action:
    def apply(target: SimTarget) -> None:
        gpu = target.device or default
        for _ in range(times):
            append_event(event_log(target.sim_dir, "nvml"), "xid", gpu, xid=xid)

    return apply


def _both(*actions: Action) -> Action:
    def apply(target: SimTarget) -> None:
        for action in actions:
            action(target)

    return apply


def _nothing(target: SimTarget) -> None:
    """Clear of a fault that is only an event: nothing to restore."""


def _mark_lost(lost: bool) -> Action:
    """Mark the GPU lost (or found) in gpus.json. Losing it also sends the kernel's uevent (a
    PCI device removed, named by its address; format: agent.checks.events_os), once."""

    def apply(target: SimTarget) -> None:
        path = target.sim_dir / GPU_STATE_FILE
        state = read_gpu_state(path)
        index = gpu_index(_gpu(target))
        if index >= len(state.devices):
            raise ValueError(f"device: {_gpu(target)} does not exist on this node")
        device = state.devices[index]
        if device.lost == lost:
            return  # idempotent: no second write, no second uevent
        devices = list(state.devices)
        devices[index] = dataclasses.replace(device, lost=lost)
        write_gpu_state(path, dataclasses.replace(state, devices=tuple(devices)))
        if lost:
            append_udev(target.sim_dir, "remove", "pci", device.pci_bus_id)

    return apply


def _link0_down(health: SimGpuHealth) -> SimGpuHealth:
    links = list(health.nvlinks)
    links[0] = dataclasses.replace(links[0], active=False)
    return dataclasses.replace(health, nvlinks=tuple(links))


def _update(change: Callable[[SimGpuHealth], SimGpuHealth]) -> Action:
    def apply(target: SimTarget) -> None:
        update_health(target.sim_dir, _gpu(target), change)

    return apply


def _hot(health: SimGpuHealth) -> SimGpuHealth:
    reasons = (
        C.nvmlClocksEventReasonHwSlowdown
        | C.nvmlClocksEventReasonHwThermalSlowdown
        | C.nvmlClocksEventReasonSwThermalSlowdown
    )
    return dataclasses.replace(
        health, temperature_c=health.slowdown_c + 3, clocks_event_reasons=reasons
    )


def _fault(
    name: str,
    description: str,
    expect: tuple[str, CheckStatus, CheckAction],
    inject: Action,
    clear: Action,
    event_driven: bool = False,
    profiles: frozenset[str] = NVIDIA,
    subject: str = "gpu0",
) -> Fault:
    check, status, action = expect
    return Fault(
        name=name,
        description=description,
        profiles=profiles,
        expect=Expectation(check, status, action, subject),
        event_driven=event_driven,
        inject=inject,
        clear=clear,
    )


_ECC = ("ecc_volatile_uncorrected", "ecc_aggregate_uncorrected")
_APP_STORM = NvidiaThresholds().xid_app_repeat

FAULTS: tuple[Fault, ...] = (
    _fault(
        "xid-79",
        "XID 79: the GPU falls off the bus (lost to NVML); clear finds it again",
        ("nvidia.xid", FAIL, REBOOT),
        _both(_mark_lost(True), _xid(79)),
        _mark_lost(False),
        event_driven=True,
    ),
    _fault(
        "xid-48",
        "XID 48: a double-bit ECC error (the uncorrectable ECC counters count it)",
        ("nvidia.xid", FAIL, REBOOT),
        _both(_set(ecc_volatile_uncorrected=1, ecc_aggregate_uncorrected=1), _xid(48)),
        _restore(*_ECC),
        event_driven=True,
    ),
    _fault(
        "xid-74",
        "XID 74: an NVLink error (on gpu1 unless told otherwise)",
        ("nvidia.xid", FAIL, REPAIR),
        _xid(74, default="gpu1"),
        _nothing,
        event_driven=True,
        subject="gpu1",  # a repair-class XID on gpu0 would mask the reboot-class ones there
    ),
    _fault(
        "xid-13-storm",
        f"{_APP_STORM} XID 13s (graphics engine exceptions) in a row on one GPU",
        ("nvidia.xid", WARN, REBOOT),
        _xid(13, _APP_STORM),
        _nothing,
        event_driven=True,
    ),
    _fault(
        "ecc-dbe",
        "an uncorrectable (double-bit) ECC error in the counters, no XID seen",
        ("nvidia.ecc", FAIL, REBOOT),
        _set(ecc_volatile_uncorrected=1, ecc_aggregate_uncorrected=1),
        _restore(*_ECC),
    ),
    _fault(
        "sram-uncorrectable",
        "an uncorrectable ECC error in on-chip SRAM",
        ("nvidia.ecc", FAIL, REPAIR),
        _set(sram_volatile_uncorrected=1, sram_aggregate_uncorrected=1),
        _restore("sram_volatile_uncorrected", "sram_aggregate_uncorrected"),
    ),
    _fault(
        "row-remap-pending",
        "a memory row waits for a GPU reset to be remapped",
        ("nvidia.row_remap", FAIL, REBOOT),
        _set(remap_pending=True, remapped_uncorrectable=1),
        _restore("remap_pending", "remapped_uncorrectable"),
    ),
    _fault(
        "row-remap-failure",
        "row remapping failed: a bank has no spare row left",
        ("nvidia.row_remap", FAIL, REPAIR),
        _set(remap_failure=True),
        _restore("remap_failure"),
    ),
    _fault(
        "gpu-missing",
        "the GPU drops off the node: lost to NVML, a udev PCI removal event",
        ("nvidia.count", FAIL, REBOOT),
        _mark_lost(True),
        _mark_lost(False),
        event_driven=True,
    ),
    _fault(
        "nvlink-down",
        "NVLink 0 of the GPU goes down",
        ("nvidia.nvlink", FAIL, REBOOT),
        _update(_link0_down),
        _restore("nvlinks"),
    ),
    _fault(
        "pcie-width-degraded",
        "the GPU's PCIe link trains at x8 instead of x16",
        ("nvidia.pcie", FAIL, REBOOT),
        _set(pcie_width_current=8),
        _restore("pcie_width_current"),
    ),
    _fault(
        "thermal-slowdown",
        "the GPU runs 3 C above its slowdown temperature and throttles",
        ("nvidia.temperature", FAIL, NONE),
        _update(_hot),
        _restore("temperature_c", "clocks_event_reasons"),
    ),
    _fault(
        "power-brake",
        "the board asserts the HW power brake: the GPU is throttled",
        ("nvidia.throttle", FAIL, REPAIR),
        _set(
            clocks_event_reasons=C.nvmlClocksEventReasonHwSlowdown
            | C.nvmlClocksEventReasonHwPowerBrakeSlowdown
        ),
        _restore("clocks_event_reasons"),
    ),
    _fault(
        "recovery-action-reboot",
        "the driver asks for a node reboot (recovery action), announced by XID 154",
        ("nvidia.recovery_action", FAIL, REBOOT),
        _both(_set(recovery_action=C.NVML_GPU_RECOVERY_ACTION_NODE_REBOOT), _xid(154)),
        _restore("recovery_action"),
        event_driven=True,
    ),
    _fault(
        "c2c-disabled",
        "the NVLink-C2C link between the Grace CPU and the GPU is disabled",
        ("nvidia.c2c", FAIL, REBOOT),
        _set(c2c_enabled=False),
        _restore("c2c_enabled"),
        profiles=frozenset({"gh200"}),
    ),
)
