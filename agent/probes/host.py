"""Host facts (CPU, memory, kernel, identity) read from files under a root directory.

The root is "/" on a real node and the simulated node's tree otherwise; the code is the same.
Parsers are pure functions of the file text; `read_host_facts` and `read_identity` do the
(blocking) reads. The health checks also read /proc/mounts (`read_mounts`), the processes'
/proc/<pid>/comm (`read_process_names`) and the EDAC memory controller counters (`read_edac`).

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


def read_cpu(root: Path) -> CpuFacts:
    """CPU model and logical count from <root>/proc/cpuinfo; on the real root, where a kernel
    lists no `processor` lines, the count is os.cpu_count(). OSError when unreadable."""
    cpu = parse_cpuinfo(_read(root / "proc/cpuinfo"))
    if cpu.logical_cores == 0 and _is_real_root(root):
        return CpuFacts(cpu.model, os.cpu_count() or 0)
    return cpu


def read_memory(root: Path) -> int:
    """MemTotal in bytes from <root>/proc/meminfo. OSError/ValueError when unreadable."""
    return parse_meminfo(_read(root / "proc/meminfo"))


def read_host_facts(root: Path) -> HostFacts:
    """Read the host facts under `root`. Blocking. OSError/ValueError when a file is unreadable."""
    cpu = read_cpu(root)
    return HostFacts(
        hostname=_read(root / "proc/sys/kernel/hostname").strip(),
        cpu_model=cpu.model,
        cpu_cores=cpu.logical_cores,
        memory_bytes=read_memory(root),
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


# --- mounts, processes, EDAC: what the host health checks read -----------------------------------


@dataclass(frozen=True, slots=True)
class Mount:
    """One line of /proc/mounts. `options` keeps the kernel's order ("rw", "relatime", ...)."""

    source: str
    mountpoint: str
    fstype: str
    options: tuple[str, ...]

    @property
    def read_only(self) -> bool:
        return "ro" in self.options


def _unescape_mount_field(field: str) -> str:
    """Undo the kernel's octal escapes in /proc/mounts (space \\040, tab \\011, newline \\012,
    backslash \\134). An escape that is not three octal digits is kept as written."""
    out: list[str] = []
    i = 0
    while i < len(field):
        chunk = field[i + 1 : i + 4]
        if field[i] == "\\" and len(chunk) == 3 and all(c in "01234567" for c in chunk):
            out.append(chr(int(chunk, 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def parse_mounts(text: str) -> dict[str, Mount]:
    """Mounts by mountpoint from the text of /proc/mounts (or /proc/self/mounts). Never raises.

    Lines with fewer than four fields are skipped. Where several mounts stack on one mountpoint
    the last line wins: it is the one a path lookup sees.
    """
    mounts: dict[str, Mount] = {}
    for line in text.split("\n"):
        # Single spaces separate the fields; the kernel escapes the ones inside a field, so
        # splitting on other whitespace (a no-break space in a path) would be wrong.
        fields = [f for f in line.split(" ") if f]
        if len(fields) < 4:
            continue
        source, mountpoint, fstype, options = (_unescape_mount_field(f) for f in fields[:4])
        mounts[mountpoint] = Mount(source, mountpoint, fstype, tuple(options.split(",")))
    return mounts


def read_mounts(root: Path) -> dict[str, Mount]:
    """Parse <root>/proc/mounts. OSError when unreadable."""
    return parse_mounts(_read(root / "proc/mounts"))


def under_root(root: Path, path: str) -> Path:
    """An absolute node path (a mountpoint, /proc/...) as seen under `root`."""
    return root / path.lstrip("/")


COMM_LEN = 15
"""The kernel keeps the first 15 bytes of a process name in /proc/<pid>/comm (TASK_COMM_LEN)."""


def read_process_names(root: Path) -> set[str]:
    """The `comm` of every process under <root>/proc (numeric entries only). Blocking.

    A process that exits while the directory is read is skipped; OSError only when <root>/proc
    itself cannot be listed.
    """
    names: set[str] = set()
    for entry in (root / "proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            names.add(_read(entry / "comm").strip())
        except OSError:
            continue
    return names


EDAC_MC = "sys/devices/system/edac/mc"


@dataclass(frozen=True, slots=True)
class EdacCounts:
    """Error counts of one EDAC memory controller since its driver loaded (usually boot).

    `ce`/`ue` are the corrected/uncorrected errors the controller attributed to a DIMM, plus the
    `*_noinfo_count` ones it could not attribute.
    """

    controller: str
    ce: int
    ue: int


def read_edac(root: Path) -> list[EdacCounts]:
    """Every memory controller under <root>/sys/devices/system/edac/mc/mc<N>, in index order.

    [] when EDAC is absent (no driver loaded, or a VM). ValueError naming the file when a
    counter is not an integer; OSError when a ce_count/ue_count is unreadable.
    """
    base = root / EDAC_MC
    if not base.is_dir():
        return []
    controllers = [p for p in base.iterdir() if p.name.startswith("mc") and p.name[2:].isdigit()]
    out: list[EdacCounts] = []
    for mc in sorted(controllers, key=lambda p: int(p.name[2:])):
        counts = {}
        for kind in ("ce", "ue"):
            total = 0
            for suffix, required in (("_count", True), ("_noinfo_count", False)):
                path = mc / f"{kind}{suffix}"
                try:
                    raw = _read(path).strip()
                except FileNotFoundError:
                    if required:
                        raise
                    continue
                if not raw.isdigit():
                    raise ValueError(f"{path}: not a counter: {raw!r}")
                total += int(raw)
            counts[kind] = total
        out.append(EdacCounts(mc.name, counts["ce"], counts["ue"]))
    return out
