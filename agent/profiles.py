"""Node types of the machine: what each one's hardware should look like, and how to recognise it.

A `Profile` is the expected inventory of one node type. It serves two purposes:
- the simulated node (`agent.sim`) builds its `/proc`, `/sys` and GPU state from it, and
- health checks (later) compare what a node reports against what its type promises.

`detect_node_type` is pure: it looks only at facts collected from the hardware (GPU model names
first, then the CPU model), never at a profile *name*, so a simulated node is recognised exactly
like a real one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from vcbase.domain import GpuVendor, NicKind

GENERIC = "generic"
"""Node type of a node that matches no profile."""

_GiB = 1024**3
_MiB = 1024**2


@dataclass(frozen=True, slots=True)
class NicSpec:
    """One network interface a node type has."""

    name: str
    kind: NicKind
    driver: str
    speed_mbps: int


@dataclass(frozen=True, slots=True)
class Profile:
    """Expected hardware of one node type.

    `signature` is the text that identifies the type: a substring of the GPU model for GPU nodes,
    of the CPU model otherwise (matched case-insensitively by `detect_node_type`).
    `arm_cpu_id` is the (implementer, part) pair that an aarch64 `/proc/cpuinfo` shows instead of
    a model name; None on x86_64.
    `nics` lists netdevs by name (hsn0, eth0) and InfiniBand HCAs by HCA name (mlx5_0, kind
    INFINIBAND): an HCA's ports are checked, whether or not an IPoIB netdev sits on them.
    `required_mounts` (absolute mountpoints) and `required_processes` (kernel `comm` names) are
    what a healthy compute node of the type runs with; the host checks use them unless the
    agent's [checks.host] thresholds name other lists.
    """

    name: str
    description: str
    signature: str
    architecture: str
    cpu_model: str
    cpu_sockets: int
    cores_per_socket: int
    threads_per_core: int
    memory_bytes: int
    kernel: str
    gpu_vendor: GpuVendor | None
    gpu_model: str
    gpu_count: int
    gpu_memory_bytes: int
    gpu_driver_version: str
    nics: tuple[NicSpec, ...]
    arm_cpu_id: tuple[int, int] | None = None
    required_mounts: tuple[str, ...] = ()
    required_processes: tuple[str, ...] = ()

    @property
    def cpu_cores(self) -> int:
        """Logical CPUs: what `/proc/cpuinfo` lists and `os.cpu_count()` returns."""
        return self.cpu_sockets * self.cores_per_socket * self.threads_per_core

    def nic_count(self, kind: NicKind) -> int:
        return sum(1 for nic in self.nics if nic.kind is kind)


def _slingshot(count: int) -> tuple[NicSpec, ...]:
    return tuple(NicSpec(f"hsn{i}", NicKind.SLINGSHOT, "cxi_ss1", 200_000) for i in range(count))


_MGMT = NicSpec("eth0", NicKind.ETHERNET, "igb", 1_000)
_HDR_HCA = NicSpec("mlx5_0", NicKind.INFINIBAND, "mlx5_core", 200_000)
# Shared file systems first: a fault aimed at "the first required mount" hits /scratch.
_MOUNTS = ("/scratch", "/home", "/tmp")  # noqa: S108 - mountpoint names, not temp files
_DAEMONS = ("munged", "slurmd")

_ALL: tuple[Profile, ...] = (
    Profile(
        name="gh200",
        description="4x NVIDIA GH200 superchip (Grace CPU + Hopper GPU), 4 Slingshot NICs",
        signature="GH200",
        architecture="aarch64",
        cpu_model="Neoverse-V2",
        cpu_sockets=4,
        cores_per_socket=72,
        threads_per_core=1,
        memory_bytes=4 * 120 * _GiB,
        kernel="5.14.21-150500.55.49_13.0.56-cray_shasta_c_64k",
        gpu_vendor=GpuVendor.NVIDIA,
        gpu_model="NVIDIA GH200 120GB",
        gpu_count=4,
        gpu_memory_bytes=97_871 * _MiB,
        gpu_driver_version="550.54.15",
        nics=(*_slingshot(4), _MGMT),
        arm_cpu_id=(0x41, 0xD4F),
        required_mounts=_MOUNTS,
        required_processes=_DAEMONS,
    ),
    Profile(
        name="a100",
        description="1x AMD EPYC 7713 + 4x NVIDIA A100 SXM4 80GB, 1 Slingshot NIC, 1 HDR IB HCA",
        signature="A100",
        architecture="x86_64",
        cpu_model="AMD EPYC 7713 64-Core Processor",
        cpu_sockets=1,
        cores_per_socket=64,
        threads_per_core=2,
        memory_bytes=256 * _GiB,
        kernel="5.14.21-150400.24.81_12.0.86-cray_shasta_c",
        gpu_vendor=GpuVendor.NVIDIA,
        gpu_model="NVIDIA A100-SXM4-80GB",
        gpu_count=4,
        gpu_memory_bytes=81_920 * _MiB,
        gpu_driver_version="535.183.01",
        nics=(*_slingshot(1), _HDR_HCA, _MGMT),
        required_mounts=_MOUNTS,
        required_processes=_DAEMONS,
    ),
    Profile(
        name="mi250x",
        description="1x AMD EPYC 7A53 + 4x AMD MI250X (8 GCDs), 4 Slingshot NICs",
        signature="MI250X",
        architecture="x86_64",
        cpu_model="AMD EPYC 7A53 64-Core Processor",
        cpu_sockets=1,
        cores_per_socket=64,
        threads_per_core=2,
        memory_bytes=512 * _GiB,
        kernel="5.14.21-150500.55.49_13.0.56-cray_shasta_c",
        gpu_vendor=GpuVendor.AMD,
        gpu_model="AMD Instinct MI250X",
        gpu_count=8,
        gpu_memory_bytes=64 * _GiB,
        gpu_driver_version="6.8.5",
        nics=(*_slingshot(4), _MGMT),
        required_mounts=_MOUNTS,
        required_processes=_DAEMONS,
    ),
    Profile(
        name="mi300a",
        description="4x AMD MI300A APU (24 Zen 4 cores + CDNA 3 GPU each), 4 Slingshot NICs",
        signature="MI300A",
        architecture="x86_64",
        cpu_model="AMD Instinct MI300A Accelerator",
        cpu_sockets=4,
        cores_per_socket=24,
        threads_per_core=1,
        memory_bytes=4 * 128 * _GiB,
        kernel="5.14.21-150500.55.65_13.0.73-cray_shasta_c",
        gpu_vendor=GpuVendor.AMD,
        gpu_model="AMD Instinct MI300A",
        gpu_count=4,
        gpu_memory_bytes=128 * _GiB,
        gpu_driver_version="6.10.5",
        nics=(*_slingshot(4), _MGMT),
        required_mounts=_MOUNTS,
        required_processes=_DAEMONS,
    ),
    Profile(
        name="rome",
        description="2x AMD EPYC 7742 CPU-only node, 1 Slingshot NIC",
        signature="EPYC 7742",
        architecture="x86_64",
        cpu_model="AMD EPYC 7742 64-Core Processor",
        cpu_sockets=2,
        cores_per_socket=64,
        threads_per_core=1,
        memory_bytes=512 * _GiB,
        kernel="5.14.21-150400.24.81_12.0.86-cray_shasta_c",
        gpu_vendor=None,
        gpu_model="",
        gpu_count=0,
        gpu_memory_bytes=0,
        gpu_driver_version="",
        nics=(*_slingshot(1), _MGMT),
        required_mounts=_MOUNTS,
        required_processes=_DAEMONS,
    ),
)

PROFILES: Mapping[str, Profile] = MappingProxyType({p.name: p for p in _ALL})


def detect_node_type(cpu_model: str, gpu_models: Sequence[str]) -> str:
    """Recognise the node type from collected facts; `GENERIC` when nothing matches.

    GPU models decide first (a GPU node keeps its type when a GPU is missing or a second CPU model
    shows up); the CPU model decides only for nodes without GPUs. The count of devices is not
    looked at: a node with a lost GPU is still a gh200, and its health check says what is wrong.
    """
    gpus = [model.casefold() for model in gpu_models]
    for profile in _ALL:
        if profile.gpu_count and any(profile.signature.casefold() in g for g in gpus):
            return profile.name
    if gpus:
        return GENERIC
    cpu = cpu_model.casefold()
    for profile in _ALL:
        if not profile.gpu_count and profile.signature.casefold() in cpu:
            return profile.name
    return GENERIC
