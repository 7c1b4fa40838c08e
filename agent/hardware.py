"""The agent's view of its node's hardware: real or simulated, behind the same surfaces.

`open_hardware` picks the adapters once at start-up; `collect_inventory` and `read_identity` then
run the same probe code whichever they are. All functions here block (file reads, NVML/AMD SMI
calls): callers on the event loop use `asyncio.to_thread`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from agent.probes import host
from agent.probes.gpu_amd import AmdSmiApi, amd_gpus, load_amdsmi
from agent.probes.gpu_nvidia import NvmlApi, load_nvml, nvidia_gpus
from agent.probes.nic import read_nics
from agent.profiles import PROFILES, detect_node_type
from agent.sim.amdsmi import SimAmdSmi
from agent.sim.nvml import SimNvml
from agent.sim.tree import ensure_tree
from vcbase.domain import GpuVendor, Inventory
from vcbase.logging import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class NodeHardware:
    """Where the probes read from. nvml/amdsmi are initialised adapters, or None where absent."""

    root: Path
    nvml: NvmlApi | None
    amdsmi: AmdSmiApi | None
    simulated: bool
    profile: str | None


def open_hardware(simulate: str | None, node_name: str, state_dir: Path) -> NodeHardware:
    """Open the node's hardware.

    simulate=None: the real node: root "/", pynvml and amdsmi loaded and initialised where they
    work (None otherwise, with a log line). simulate=<profile>: build the simulated node under
    <state_dir>/sim once (reused on later calls; see `agent.sim.tree.ensure_tree`) and return
    its tree and initialised fakes for the profile's GPU vendor. ValueError for an unknown
    profile, naming the valid ones. Pair with `close_hardware`.
    """
    if simulate is None:
        return NodeHardware(Path("/"), load_nvml(), load_amdsmi(), simulated=False, profile=None)
    profile = PROFILES.get(simulate)
    if profile is None:
        valid = ", ".join(sorted(PROFILES))
        raise ValueError(f"simulate: unknown profile {simulate!r}; valid profiles: {valid}")
    paths = ensure_tree(state_dir, profile, node_name)
    nvml: NvmlApi | None = None
    amdsmi: AmdSmiApi | None = None
    if profile.gpu_vendor is GpuVendor.NVIDIA:
        nvml = _init_sim_nvml(SimNvml(paths.gpu_state))
    elif profile.gpu_vendor is GpuVendor.AMD:
        amdsmi = _init_sim_amdsmi(SimAmdSmi(paths.gpu_state))
    log.info("hardware_simulated", profile=profile.name, node=node_name, root=str(paths.root))
    return NodeHardware(paths.root, nvml, amdsmi, simulated=True, profile=profile.name)


def _init_sim_nvml(sim: SimNvml) -> NvmlApi | None:
    """Like load_nvml: an initialised adapter, or None with a warning when init fails."""
    try:
        sim.nvmlInit()
    except sim.NVMLError as exc:
        log.warning("nvml_unavailable", reason="simulated nvmlInit failed", error=str(exc))
        return None
    return sim


def _init_sim_amdsmi(sim: SimAmdSmi) -> AmdSmiApi | None:
    """Like load_amdsmi: an initialised adapter, or None with a warning when init fails."""
    try:
        sim.amdsmi_init()
    except sim.AmdSmiException as exc:
        log.warning("amdsmi_unavailable", message="simulated amdsmi_init failed", error=str(exc))
        return None
    return sim


def close_hardware(hw: NodeHardware) -> None:
    """Shut the GPU libraries down (nvmlShutdown, amdsmi_shut_down). Errors are logged only."""
    if hw.nvml is not None:
        try:
            hw.nvml.nvmlShutdown()
        except hw.nvml.NVMLError as exc:
            log.warning("nvml_shutdown_failed", error=str(exc))
    if hw.amdsmi is not None:
        try:
            hw.amdsmi.amdsmi_shut_down()
        except hw.amdsmi.AmdSmiException as exc:
            log.warning("amdsmi_shutdown_failed", error=str(exc))


def collect_inventory(hw: NodeHardware, node_type_override: str | None = None) -> Inventory:
    """The node's inventory, read through `hw`. Blocking.

    node_type is `node_type_override` when given, else detected from the collected GPU and CPU
    models (`agent.profiles.detect_node_type`), never taken from the simulate profile's name.
    OSError/ValueError when a required host file (cpuinfo, meminfo, ...) is unreadable.
    """
    facts = host.read_host_facts(hw.root)
    gpus = (nvidia_gpus(hw.nvml) if hw.nvml else ()) + (amd_gpus(hw.amdsmi) if hw.amdsmi else ())
    node_type = node_type_override or detect_node_type(facts.cpu_model, [g.model for g in gpus])
    return Inventory(
        hostname=facts.hostname,
        node_type=node_type,
        cpu_model=facts.cpu_model,
        cpu_cores=facts.cpu_cores,
        memory_bytes=facts.memory_bytes,
        kernel=facts.kernel,
        architecture=facts.architecture,
        gpus=gpus,
        nics=read_nics(hw.root),
        simulated=hw.simulated,
    )


def read_identity(hw: NodeHardware) -> tuple[str, str]:
    """(machine_id, boot_id) from <root>/etc/machine-id and <root>/proc/sys/kernel/random/boot_id.

    TerminalError when the node has no machine id (see `agent.probes.host.read_identity`).
    """
    return host.read_identity(hw.root)
