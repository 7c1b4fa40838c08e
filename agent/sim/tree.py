"""Build the simulated node's files from a `Profile`, and hold its GPU state file.

Layout under <state_dir>/sim:
- root/      the node's tree: proc/{cpuinfo,meminfo,mounts}, proc/sys/kernel/{osrelease,hostname,
             arch,random/boot_id}, proc/<pid>/comm (the profile's required processes),
             etc/machine-id, sys/class/net/<nic>/{type,address,operstate,carrier,carrier_changes,
             ...}, <nic>/device -> sys/devices/pci0000:00/<bdf> (with aer_dev_* counters),
             <bdf>/driver -> sys/bus/pci/drivers/<drv>; Slingshot: sys/class/cxi/cxi<N> and
             <bdf>/port/0/link/{state,speed,...}; InfiniBand: sys/class/infiniband/<hca>/ports/1/
             {state,phys_state,rate,counters/...} and an IPoIB netdev ib<N>;
             sys/devices/system/edac/mc/mc<N>/{ce,ue}_count; the required mountpoints' directories
- gpus.json  the GPU state SimNvml and SimAmdSmi serve, read on every call (see `SimGpuState`)

`ensure_tree` is idempotent: a tree already built for the same profile, node and layout version
(`LAYOUT_VERSION`) is reused as is (its boot_id and any injected faults survive an agent
restart); one built for another profile or node, or by an older layout, is replaced. A new
tree is built in a temporary directory and renamed into place, so a crash never leaves a
half-built tree that a later start would reuse.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from agent.profiles import Profile
from agent.sim.statefile import stat_cache
from vcbase.domain import GpuVendor, NicKind
from vcbase.logging import get_logger

log = get_logger(__name__)

GPU_STATE_FILE = "gpus.json"
_MARKER = ".vcluster-sim.json"
LAYOUT_VERSION = 2
"""Bumped whenever the tree's layout changes: a tree built by an older layout is rebuilt."""
_ARCH_FEATURES = "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid sve sve2"
_X86_FLAGS = "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr sse sse2 ht syscall nx lm avx2"


@dataclass(frozen=True, slots=True)
class SimPaths:
    root: Path
    gpu_state: Path


@dataclass(frozen=True, slots=True)
class SimGpu:
    """One simulated device. `lost: true` makes every call on it fail like a GPU off the bus."""

    name: str
    uuid: str
    pci_bus_id: str
    memory_bytes: int
    lost: bool = False


@dataclass(frozen=True, slots=True)
class SimGpuState:
    """Content of gpus.json. A device's index is its position in `devices`."""

    vendor: GpuVendor | None
    driver_version: str
    devices: tuple[SimGpu, ...]


def atomic_write(path: Path, content: str) -> None:
    """Write `content` to `path` so readers see the old or the new file, never a partial one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(content)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_gpu_state(path: Path, state: SimGpuState) -> None:
    """Atomically replace gpus.json (safe to call from another process while an agent runs)."""
    doc = {
        "schema": 1,
        "vendor": state.vendor.value if state.vendor else None,
        "driver_version": state.driver_version,
        "devices": [asdict(device) for device in state.devices],
    }
    atomic_write(path, json.dumps(doc, indent=2) + "\n")


@stat_cache(lambda path: path)
def read_gpu_state(path: Path) -> SimGpuState:
    """Parse gpus.json. OSError when unreadable; ValueError naming the field when malformed."""
    doc: Any = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: not a JSON object")
    vendor = doc.get("vendor")
    devices = doc.get("devices")
    if not isinstance(devices, list):
        raise ValueError(f"{path}: devices: not a list")
    parsed: list[SimGpu] = []
    for i, raw in enumerate(devices):
        try:
            parsed.append(
                SimGpu(
                    name=str(raw["name"]),
                    uuid=str(raw["uuid"]),
                    pci_bus_id=str(raw["pci_bus_id"]),
                    memory_bytes=int(raw["memory_bytes"]),
                    lost=bool(raw.get("lost", False)),
                )
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"{path}: devices[{i}]: {exc!r}") from exc
    return SimGpuState(
        vendor=GpuVendor(vendor) if vendor else None,
        driver_version=str(doc.get("driver_version", "")),
        devices=tuple(parsed),
    )


def machine_id_for(node_name: str) -> str:
    """The simulated machine-id: 32 hex digits, a pure function of the node name."""
    return hashlib.sha256(f"vcluster-sim/{node_name}".encode()).hexdigest()[:32]


def _bus_ids(profile: Profile) -> list[str]:
    n = profile.gpu_count
    if profile.gpu_vendor is GpuVendor.AMD:
        amd = (0xC1, 0xC6, 0xC9, 0xCE, 0xD1, 0xD6, 0xD9, 0xDE)
        return [f"0000:{amd[i % 8]:02x}:00.{i // 8}" for i in range(n)]
    if profile.architecture == "aarch64":  # Grace Hopper: one PCI domain per superchip
        return [f"{0x9 + 0x10 * i:08X}:01:00.0" for i in range(n)]
    nvidia = (0x03, 0x41, 0x82, 0xC1)
    return [f"00000000:{nvidia[i % 4]:02X}:00.{i // 4}" for i in range(n)]


def gpu_state_for(profile: Profile, node_name: str) -> SimGpuState:
    """The healthy GPU state of `profile`; uuids are stable per (node, index)."""
    devices = []
    for i, bus_id in enumerate(_bus_ids(profile)):
        ident = uuid.uuid5(uuid.NAMESPACE_URL, f"vcluster-sim:{node_name}:gpu{i}")
        prefix = "GPU-" if profile.gpu_vendor is GpuVendor.NVIDIA else ""
        memory = profile.gpu_memory_bytes
        devices.append(SimGpu(profile.gpu_model, f"{prefix}{ident}", bus_id, memory))
    return SimGpuState(profile.gpu_vendor, profile.gpu_driver_version, tuple(devices))


def _cpuinfo(profile: Profile) -> str:
    entries = []
    physical = profile.cpu_sockets * profile.cores_per_socket
    for n in range(profile.cpu_cores):
        if profile.arm_cpu_id is not None:
            implementer, part = profile.arm_cpu_id
            entries.append(
                f"processor\t: {n}\nBogoMIPS\t: 2000.00\nFeatures\t: {_ARCH_FEATURES}\n"
                f"CPU implementer\t: 0x{implementer:02x}\nCPU architecture: 8\n"
                f"CPU variant\t: 0x0\nCPU part\t: 0x{part:03x}\nCPU revision\t: 0\n"
            )
            continue
        core = n % physical
        socket = core // profile.cores_per_socket
        entries.append(
            f"processor\t: {n}\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\n"
            f"model name\t: {profile.cpu_model}\nphysical id\t: {socket}\n"
            f"siblings\t: {profile.cores_per_socket * profile.threads_per_core}\n"
            f"core id\t\t: {core % profile.cores_per_socket}\n"
            f"cpu cores\t: {profile.cores_per_socket}\nflags\t\t: {_X86_FLAGS}\n"
        )
    return "\n".join(entries) + "\n"


def meminfo_text(profile: Profile, memory_bytes: int | None = None) -> str:
    """/proc/meminfo of a node of `profile` (MemTotal = `memory_bytes`, default the profile's)."""
    kib = (profile.memory_bytes if memory_bytes is None else memory_bytes) // 1024
    rows = [("MemTotal", kib), ("MemFree", kib * 9 // 10), ("MemAvailable", kib * 19 // 20)]
    rows += [("Buffers", 4096), ("Cached", kib // 50), ("SwapTotal", 0), ("SwapFree", 0)]
    return "".join(f"{key + ':':<16}{value:>8} kB\n" for key, value in rows)


# What each required mountpoint is on the simulated node: (source, fstype, options).
_MOUNT_SOURCES = {
    "/scratch": ("mgs01@o2ib:/scratch", "lustre", "rw,flock,lazystatfs"),
    "/home": ("nas01:/export/home", "nfs4", "rw,relatime,vers=4.2,hard,proto=tcp"),
    "/tmp": ("tmpfs", "tmpfs", "rw,nosuid,nodev,relatime"),  # noqa: S108 - a mountpoint name
}
_BASE_MOUNTS = (
    ("overlay", "/", "overlay", "rw,relatime"),
    ("proc", "/proc", "proc", "rw,nosuid,nodev,noexec,relatime"),
    ("sysfs", "/sys", "sysfs", "rw,nosuid,nodev,noexec,relatime"),
)


def mounts_text(profile: Profile, read_only: frozenset[str] = frozenset()) -> str:
    """/proc/mounts of a node of `profile`: its base file systems and required mounts, with the
    mountpoints in `read_only` mounted ro."""
    rows = list(_BASE_MOUNTS)
    for mountpoint in profile.required_mounts:
        source, fstype, options = _MOUNT_SOURCES.get(
            mountpoint, ("nas01:" + mountpoint, "nfs4", "rw")
        )
        rows.append((source, mountpoint, fstype, options))
    lines = []
    for source, mountpoint, fstype, options in rows:
        if mountpoint in read_only:
            options = ",".join("ro" if o == "rw" else o for o in options.split(","))
        escaped = mountpoint.replace(" ", "\\040")
        lines.append(f"{source} {escaped} {fstype} {options} 0 0\n")
    return "".join(lines)


def process_pids(profile: Profile) -> dict[str, int]:
    """The fake processes of the simulated node: comm -> pid (pid 1 is systemd)."""
    return {"systemd": 1} | {
        name: 800 + 10 * i for i, name in enumerate(profile.required_processes)
    }


def _put(root: Path, rel: str, content: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")


def _symlink(link: Path, target: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(os.path.relpath(target, link.parent))


def _mac(node_name: str, nic: str) -> str:
    digest = hashlib.sha256(f"{node_name}/{nic}".encode()).digest()
    return "02:00:00:" + ":".join(f"{b:02x}" for b in digest[:3])


HEALTHY_LINK = {"operstate": "up", "carrier": "1", "carrier_changes": "2"} | {
    "carrier_up_count": "1",
    "carrier_down_count": "1",
}
"""Netdev attributes of a link that came up once at boot (what faults restore on clear)."""
HEALTHY_AER = {
    "aer_dev_correctable": "RxErr 0\nBadTLP 0\nBadDLLP 0\nTOTAL_ERR_COR 0\n",
    "aer_dev_nonfatal": "DLP 0\nCmpltTO 0\nMalfTLP 0\nTOTAL_ERR_NONFATAL 0\n",
    "aer_dev_fatal": "DLP 0\nSDES 0\nMalfTLP 0\nTOTAL_ERR_FATAL 0\n",
}
HEALTHY_IB_PORT = {"state": "4: ACTIVE", "phys_state": "5: LinkUp", "link_layer": "InfiniBand"}
IB_COUNTERS = ("symbol_error", "link_downed", "link_error_recovery", "port_rcv_errors")


def cxi_speed_text(mbps: int) -> str:
    """The Slingshot link driver's name of a speed (what port/0/link/speed shows when up)."""
    return {100_000: "bj100G", 200_000: "bs200G", 400_000: "ck400G"}.get(mbps, f"{mbps // 1000}G")


def ib_rate_text(mbps: int) -> str:
    names = {100_000: "4X EDR", 200_000: "4X HDR", 400_000: "4X NDR"}
    return f"{mbps // 1000} Gb/sec ({names.get(mbps, '4X')})"


def _write_netdev(root: Path, name: str, device: Path, attrs: dict[str, str]) -> None:
    netdev = root / "sys/class/net" / name
    _symlink(netdev / "device", device)
    for attr, value in (attrs | HEALTHY_LINK).items():
        _put(netdev, attr, value + "\n")


def _write_nics(root: Path, profile: Profile, node_name: str) -> None:
    """Netdevs (and for Slingshot the cxi class device and link driver attributes, for an
    InfiniBand HCA its ports and an IPoIB netdev), each on a PCI device with AER counters."""
    _put(root, "sys/class/net/lo/type", "772\n")
    _put(root, "sys/class/net/lo/operstate", "unknown\n")
    _put(root, "sys/class/net/ifb0/type", "1\n")  # virtual: no device link, must be skipped
    _put(root, "sys/class/net/ifb0/operstate", "down\n")
    counts = dict.fromkeys(NicKind, 0)
    for i, nic in enumerate(profile.nics):
        nth, counts[nic.kind] = counts[nic.kind], counts[nic.kind] + 1
        bdf = root / f"sys/devices/pci0000:00/0000:{0x10 + 0x10 * i:02x}:00.0"
        driver = root / "sys/bus/pci/drivers" / nic.driver
        driver.mkdir(parents=True, exist_ok=True)
        bdf.mkdir(parents=True, exist_ok=True)
        _symlink(bdf / "driver", driver)
        for attr, text in HEALTHY_AER.items():
            _put(bdf, attr, text)
        attrs = {"address": _mac(node_name, nic.name), "dev_port": "0", "mtu": "9000"}
        if nic.kind is NicKind.INFINIBAND:
            hca = root / "sys/class/infiniband" / nic.name
            _symlink(hca / "device", bdf)
            (bdf / "infiniband" / nic.name).mkdir(parents=True)
            port = hca / "ports/1"
            for attr, value in HEALTHY_IB_PORT.items():
                _put(port, attr, value + "\n")
            _put(port, "rate", ib_rate_text(nic.speed_mbps) + "\n")
            for counter in IB_COUNTERS:
                _put(port, f"counters/{counter}", "0\n")
            attrs |= {"type": "32", "speed": "-1", "mtu": "4092"}
            _write_netdev(root, f"ib{nth}", bdf, attrs)
            continue
        _write_netdev(root, nic.name, bdf, attrs | {"type": "1", "speed": str(nic.speed_mbps)})
        if nic.kind is NicKind.SLINGSHOT:
            cxi = bdf / "cxi" / f"cxi{nth}"
            _symlink(cxi / "device", bdf)
            _symlink(root / "sys/class/cxi" / cxi.name, cxi)
            link = bdf / "port/0/link"
            _put(link, "state", "up\n")
            _put(link, "speed", cxi_speed_text(nic.speed_mbps) + "\n")
            _put(link, "up_count", "1\n")
            _put(link, "counters/link_up", "1\n")
            _put(link, "counters/link_down", "0\n")


def _write_host(root: Path, profile: Profile) -> None:
    """proc/mounts with its mountpoint directories, EDAC counters (one memory controller per
    socket) and a proc/<pid>/comm per required process."""
    _put(root, "proc/mounts", mounts_text(profile))
    for mountpoint in profile.required_mounts:
        (root / mountpoint.lstrip("/")).mkdir(parents=True, exist_ok=True)
    for n in range(profile.cpu_sockets):
        mc = f"sys/devices/system/edac/mc/mc{n}"
        _put(root, f"{mc}/mc_name", "F19h_M10h\n" if profile.gpu_vendor else "ghes_edac\n")
        for counter in ("ce_count", "ue_count", "ce_noinfo_count", "ue_noinfo_count"):
            _put(root, f"{mc}/{counter}", "0\n")
    for name, pid in process_pids(profile).items():
        _put(root, f"proc/{pid}/comm", name + "\n")


def _build(root: Path, profile: Profile, node_name: str) -> None:
    _put(root, "proc/cpuinfo", _cpuinfo(profile))
    _put(root, "proc/meminfo", meminfo_text(profile))
    _put(root, "proc/sys/kernel/osrelease", profile.kernel + "\n")
    _put(root, "proc/sys/kernel/hostname", node_name + "\n")
    _put(root, "proc/sys/kernel/arch", profile.architecture + "\n")
    _put(root, "proc/sys/kernel/random/boot_id", f"{uuid.uuid4()}\n")
    _put(root, "etc/machine-id", machine_id_for(node_name) + "\n")
    _write_nics(root, profile, node_name)
    _write_host(root, profile)
    _put(root, _MARKER, json.dumps(_marker(profile, node_name)) + "\n")


def _marker(profile: Profile, node_name: str) -> dict[str, str | int]:
    return {"profile": profile.name, "node": node_name, "layout": LAYOUT_VERSION}


def _built_for(root: Path) -> dict[str, str | int] | None:
    try:
        doc = json.loads((root / _MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def ensure_tree(state_dir: Path, profile: Profile, node_name: str) -> SimPaths:
    """Create the simulated node under <state_dir>/sim once; reuse it when it matches. Blocking."""
    sim = state_dir / "sim"
    paths = SimPaths(root=sim / "root", gpu_state=sim / GPU_STATE_FILE)
    wanted = _marker(profile, node_name)
    built = _built_for(paths.root)
    if built != wanted:
        sim.mkdir(parents=True, exist_ok=True)
        if paths.root.exists():
            log.warning("sim_tree_replaced", path=str(paths.root), was=built, now=wanted)
            shutil.rmtree(paths.root)
        for stale in sim.glob(".root-*"):  # left by a build that crashed
            shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(dir=sim, prefix=".root-"))
        try:
            _build(tmp, profile, node_name)
            os.replace(tmp, paths.root)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        write_gpu_state(paths.gpu_state, gpu_state_for(profile, node_name))
        log.info("sim_tree_created", path=str(paths.root), profile=profile.name, node=node_name)
    elif not paths.gpu_state.exists():
        write_gpu_state(paths.gpu_state, gpu_state_for(profile, node_name))
    return paths


def reboot(tree_root: Path) -> str:
    """Simulate a reboot of the node whose tree is at `tree_root`: a new boot_id. Returns it."""
    boot_id = str(uuid.uuid4())
    atomic_write(tree_root / "proc/sys/kernel/random/boot_id", boot_id + "\n")
    return boot_id
