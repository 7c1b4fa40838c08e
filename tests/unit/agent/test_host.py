"""Host facts: /proc parsers (examples and properties) and reads under a root."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.probes.host import (
    UNKNOWN_CPU,
    arm_core_name,
    parse_cpuinfo,
    parse_meminfo,
    read_architecture,
    read_host_facts,
    read_identity,
)
from vcbase.errors import TerminalError

X86 = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 23
model\t\t: 49
model name\t: AMD EPYC 7742 64-Core Processor
flags\t\t: fpu vme de pse

processor\t: 1
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7742 64-Core Processor

"""

GRACE = """processor\t: 0
BogoMIPS\t: 2000.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics sve sve2
CPU implementer\t: 0x41
CPU architecture: 8
CPU variant\t: 0x0
CPU part\t: 0xd4f
CPU revision\t: 0

processor\t: 1
BogoMIPS\t: 2000.00
CPU implementer\t: 0x41
CPU part\t: 0xd4f

"""


def test_x86_model_name_and_count() -> None:
    facts = parse_cpuinfo(X86)
    assert facts.model == "AMD EPYC 7742 64-Core Processor"
    assert facts.logical_cores == 2


def test_aarch64_without_model_name_is_named_like_lscpu() -> None:
    facts = parse_cpuinfo(GRACE)
    assert facts.model == "Neoverse-V2"
    assert facts.logical_cores == 2


def test_aarch64_model_name_wins_where_the_kernel_prints_one() -> None:
    text = "processor : 0\nmodel name : ARMv8 Processor rev 0 (v8l)\nCPU implementer : 0x41\n"
    assert parse_cpuinfo(text + "CPU part : 0xd4f\n").model == "ARMv8 Processor rev 0 (v8l)"


@pytest.mark.parametrize(
    ("implementer", "part", "name"),
    [
        (0x41, 0xD0C, "Neoverse-N1"),
        (0x41, 0xD40, "Neoverse-V1"),
        (0x41, 0xABC, "ARM part 0xabc"),
        (0x4E, 0x004, "NVIDIA part 0x004"),
        (0x99, 0x001, "implementer 0x99 part 0x001"),
    ],
)
def test_arm_core_names(implementer: int, part: int, name: str) -> None:
    assert arm_core_name(implementer, part) == name


def test_ppc64_cpu_field() -> None:
    assert parse_cpuinfo("processor\t: 0\ncpu\t\t: POWER9 (architected)\n").model == (
        "POWER9 (architected)"
    )


@pytest.mark.parametrize("text", ["", "\n\n", "garbage without colons\n", "processor : x\n"])
def test_unparsable_cpuinfo_is_unknown_and_zero(text: str) -> None:
    facts = parse_cpuinfo(text)
    assert (facts.model, facts.logical_cores) == (UNKNOWN_CPU, 0)


_model = st.from_regex(r"[A-Za-z0-9 ()@.:/_\-]{0,40}", fullmatch=True).filter(lambda s: s.strip())


@given(models=st.lists(_model, min_size=1, max_size=64))
def test_cpuinfo_counts_every_processor_and_keeps_the_first_model(models: list[str]) -> None:
    text = "".join(
        f"processor\t: {i}\nmodel name\t: {m}\ncache size\t: 512 KB\n\n"
        for i, m in enumerate(models)
    )
    facts = parse_cpuinfo(text)
    assert facts.logical_cores == len(models)
    assert facts.model == models[0].strip()


MEMINFO = "MemTotal:       24684096 kB\nMemFree:        20000000 kB\nHugePages_Total:       0\n"


def test_meminfo_total_in_bytes() -> None:
    assert parse_meminfo(MEMINFO) == 24684096 * 1024


@pytest.mark.parametrize(
    "text",
    ["", "MemFree: 10 kB\n", "MemTotal: lots kB\n", "MemTotal: 10 MB\n", "MemTotal:\n"],
)
def test_meminfo_without_a_usable_total_raises(text: str) -> None:
    with pytest.raises(ValueError, match="MemTotal"):
        parse_meminfo(text)


@given(
    kib=st.integers(min_value=0, max_value=2**50),
    pad=st.integers(min_value=0, max_value=12),
    before=st.lists(st.sampled_from(["MemFree", "Cached", "SwapTotal", "Active(anon)"])),
)
def test_meminfo_roundtrip(kib: int, pad: int, before: list[str]) -> None:
    lines = [f"{key}: {i} kB" for i, key in enumerate(before)]
    lines.append(f"MemTotal:{' ' * pad}{kib} kB")
    lines.append("MemTotal: 1 kB")  # only the first one counts
    assert parse_meminfo("\n".join(lines) + "\n") == kib * 1024


def test_real_machine_host_facts() -> None:
    facts = read_host_facts(Path("/"))
    assert facts.cpu_cores == os.cpu_count()
    assert facts.memory_bytes > 0
    assert facts.architecture == platform.machine()
    assert facts.kernel == os.uname().release
    assert facts.hostname == os.uname().nodename
    assert facts.cpu_model not in ("", UNKNOWN_CPU)


def test_architecture_file_is_required_off_the_real_root(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_architecture(tmp_path)
    (tmp_path / "proc/sys/kernel").mkdir(parents=True)
    (tmp_path / "proc/sys/kernel/arch").write_text("aarch64\n")
    assert read_architecture(tmp_path) == "aarch64"


def _boot_id(root: Path, value: str = "b0") -> None:
    path = root / "proc/sys/kernel/random/boot_id"
    path.parent.mkdir(parents=True)
    path.write_text(value + "\n")


def test_identity_reads_machine_id_then_dbus_fallback(tmp_path: Path) -> None:
    _boot_id(tmp_path, "boot-1")
    dbus = tmp_path / "var/lib/dbus/machine-id"
    dbus.parent.mkdir(parents=True)
    dbus.write_text("dbus-id\n")
    assert read_identity(tmp_path) == ("dbus-id", "boot-1")
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/machine-id").write_text("systemd-id\n")
    assert read_identity(tmp_path) == ("systemd-id", "boot-1")


def test_identity_without_machine_id_is_terminal(tmp_path: Path) -> None:
    _boot_id(tmp_path)
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/machine-id").write_text("\n")
    with pytest.raises(TerminalError, match="machine-id"):
        read_identity(tmp_path)
