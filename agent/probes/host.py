"""Host facts (CPU, memory, kernel, identity) read from files under a root directory.

The root is "/" on a real node and the simulated node's tree otherwise; the code is the same.
Parsers are pure functions of the file text; `read_host_facts` and `read_identity` do the
(blocking) reads.

aarch64: the kernel's `/proc/cpuinfo` has no "model name" there, only "CPU implementer" and
"CPU part". We name the core the way util-linux's `lscpu` does ("Neoverse-V2" for ARM part
0xd4f), from a small table of the parts seen in HPC; an unknown part reads
"<implementer> part 0x<part>" so it is still stable and recognisable.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path

from vcbase.errors import TerminalError

# (implementer, part) -> core name, as lscpu prints it.
_ARM_PARTS: dict[tuple[int, int], str] = {
    (0x41, 0xD0C): "Neoverse-N1",
    (0x41, 0xD40): "Neoverse-V1",
    (0x41, 0xD49): "Neoverse-N2",
    (0x41, 0xD4F): "Neoverse-V2",
    (0x41, 0xD83): "Neoverse-V3AE",
    (0x41, 0xD84): "Neoverse-V3",
    (0x41, 0xD8E): "Neoverse-N3",
    (0x46, 0x001): "A64FX",
    (0xC0, 0xAC3): "Ampere-1",
    (0xC0, 0xAC4): "Ampere-1a",
}
_ARM_IMPLEMENTERS: dict[int, str] = {
    0x41: "ARM",
    0x46: "Fujitsu",
    0x48: "HiSilicon",
    0x4E: "NVIDIA",
    0x51: "Qualcomm",
    0xC0: "Ampere",
}
UNKNOWN_CPU = "unknown"


@dataclass(frozen=True, slots=True)
class CpuFacts:
    model: str
    logical_cores: int


@dataclass(frozen=True, slots=True)
class HostFacts:
    hostname: str
    cpu_model: str
    cpu_cores: int
    memory_bytes: int
    kernel: str
    architecture: str


def _fields(text: str) -> list[tuple[str, str]]:
    """`key : value` lines of a /proc file, keys and values stripped; other lines dropped."""
    out: list[tuple[str, str]] = []
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            out.append((key.strip(), value.strip()))
    return out


def _int(value: str) -> int | None:
    try:
        return int(value, 0)
    except ValueError:
        return None


def arm_core_name(implementer: int, part: int) -> str:
    """The lscpu name of an ARM core, or a stable description of an unknown one."""
    known = _ARM_PARTS.get((implementer, part))
    if known is not None:
        return known
    vendor = _ARM_IMPLEMENTERS.get(implementer, f"implementer 0x{implementer:02x}")
    return f"{vendor} part 0x{part:03x}"


def parse_cpuinfo(text: str) -> CpuFacts:
    """Model and logical CPU count from the text of /proc/cpuinfo.

    Logical CPUs are the `processor : <int>` entries. The model is the first "model name"
    (x86, and some arm64 kernels), else the ARM implementer/part name, else ppc64's "cpu",
    else `UNKNOWN_CPU`. Never raises.
    """
    fields = _fields(text)
    cores = sum(1 for key, value in fields if key == "processor" and value.isdigit())
    first: dict[str, str] = {}
    for key, value in fields:
        first.setdefault(key, value)
    model = first.get("model name", "")
    if not model:
        implementer = _int(first.get("CPU implementer", ""))
        part = _int(first.get("CPU part", ""))
        if implementer is not None and part is not None:
            model = arm_core_name(implementer, part)
    if not model:
        model = first.get("cpu", "") or UNKNOWN_CPU
    return CpuFacts(model=model, logical_cores=cores)


def parse_meminfo(text: str) -> int:
    """MemTotal in bytes from the text of /proc/meminfo; ValueError when it is absent or bad."""
    for key, value in _fields(text):
        if key != "MemTotal":
            continue
        number, _, unit = value.partition(" ")
        if not number.isdigit() or unit.strip() not in ("kB", ""):
            raise ValueError(f"meminfo: MemTotal: cannot parse {value!r}")
        return int(number) * (1024 if unit.strip() == "kB" else 1)
    raise ValueError("meminfo: MemTotal: missing")


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


def _is_real_root(root: Path) -> bool:
    return root.resolve() == Path("/")


def read_architecture(root: Path) -> str:
    """`uname -m` of the node: <root>/proc/sys/kernel/arch (Linux >= 6.1, and the simulated
    node), falling back to platform.machine() on the real root only."""
    path = root / "proc/sys/kernel/arch"
    try:
        return _read(path).strip()
    except FileNotFoundError:
        if _is_real_root(root):
            return platform.machine()
        raise


def read_host_facts(root: Path) -> HostFacts:
    """Read the host facts under `root`. Blocking. OSError/ValueError when a file is unreadable."""
    cpu = parse_cpuinfo(_read(root / "proc/cpuinfo"))
    cores = cpu.logical_cores
    if cores == 0 and _is_real_root(root):
        cores = os.cpu_count() or 0
    return HostFacts(
        hostname=_read(root / "proc/sys/kernel/hostname").strip(),
        cpu_model=cpu.model,
        cpu_cores=cores,
        memory_bytes=parse_meminfo(_read(root / "proc/meminfo")),
        kernel=_read(root / "proc/sys/kernel/osrelease").strip(),
        architecture=read_architecture(root),
    )


def read_identity(root: Path) -> tuple[str, str]:
    """(machine_id, boot_id) of the node under `root`.

    machine-id comes from etc/machine-id, or var/lib/dbus/machine-id where systemd's is absent;
    TerminalError when neither holds one. boot_id from proc/sys/kernel/random/boot_id.
    """
    machine_id = ""
    for candidate in ("etc/machine-id", "var/lib/dbus/machine-id"):
        try:
            machine_id = _read(root / candidate).strip()
        except FileNotFoundError:
            continue
        if machine_id:
            break
    if not machine_id:
        raise TerminalError(f"no machine id under {root}: etc/machine-id is missing or empty")
    boot_id = _read(root / "proc/sys/kernel/random/boot_id").strip()
    return machine_id, boot_id
