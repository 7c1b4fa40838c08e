"""Pure pieces of the host and NIC checks: /proc/mounts, AER and cxi speed parsers, the EDAC and
process readers, counter windows and the folding of findings (examples and properties)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.checks.base import CheckContext
from agent.checks.host import CpuCheck
from agent.checks.host_findings import CounterWindow, Finding, fail, verdict, warn
from agent.checks.thresholds import Thresholds
from agent.hardware import open_hardware
from agent.probes.host import Mount, parse_mounts, read_edac, read_process_names
from agent.probes.nic import parse_aer, parse_cxi_speed
from vcbase.domain import CheckAction, CheckStatus

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def test_proc_mounts_lines() -> None:
    text = (
        "/dev/vda / ext4 rw,relatime,discard 0 0\n"
        "mgs@o2ib:/lus /lus/my\\040fs lustre ro,flock 0 0\n"
        "garbage\n"
        "tmpfs /tmp tmpfs rw 0 0\n"
        "tmpfs /tmp tmpfs ro,nosuid 0 0\n"
    )
    mounts = parse_mounts(text)
    assert set(mounts) == {"/", "/lus/my fs", "/tmp"}
    assert mounts["/lus/my fs"] == Mount("mgs@o2ib:/lus", "/lus/my fs", "lustre", ("ro", "flock"))
    assert mounts["/tmp"].read_only  # the mount stacked last is the one paths resolve to
    assert not mounts["/"].read_only


_field = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=0x2FF) | st.sampled_from("\t\n\x85\xa0"),
    min_size=1,
    max_size=20,
)


def _escape(field: str) -> str:
    for char, code in (("\\", "\\134"), (" ", "\\040"), ("\t", "\\011"), ("\n", "\\012")):
        field = field.replace(char, code)
    return field


@given(_field, _field, st.lists(st.sampled_from(["rw", "ro", "relatime", "noexec"]), min_size=1))
def test_mount_fields_roundtrip_through_the_kernels_escapes(
    source: str, mountpoint: str, options: list[str]
) -> None:
    line = f"{_escape(source)} {_escape(mountpoint)} nfs4 {','.join(options)} 0 0\n"
    assert parse_mounts(line) == {mountpoint: Mount(source, mountpoint, "nfs4", tuple(options))}


@given(st.text(max_size=300))
def test_the_mounts_parser_never_raises(text: str) -> None:
    parse_mounts(text)


@pytest.mark.parametrize(
    ("text", "total"),
    [
        ("RxErr 0\nBadTLP 3\nTOTAL_ERR_COR 3\n", 3),
        ("DLP 1\nSDES 2\n", 3),  # no TOTAL line: the sum
        ("TOTAL_ERR_FATAL 7\n", 7),
        ("", None),
        ("not a counter\n", None),
    ],
)
def test_aer_totals(text: str, total: int | None) -> None:
    assert parse_aer(text) == total


@given(st.dictionaries(st.from_regex(r"[A-Za-z]{1,12}", fullmatch=True), st.integers(0, 2**40)))
def test_aer_without_total_is_the_sum(counts: dict[str, int]) -> None:
    counts = {k: v for k, v in counts.items() if not k.startswith("TOTAL_")}
    text = "".join(f"{k} {v}\n" for k, v in counts.items())
    assert parse_aer(text) == (sum(counts.values()) if counts else None)


@pytest.mark.parametrize(
    ("text", "mbps"),
    [("bs200G", 200_000), ("ck400G\n", 400_000), ("bj100G", 100_000), ("not up", None), ("", None)],
)
def test_cxi_speed(text: str, mbps: int | None) -> None:
    assert parse_cxi_speed(text) == mbps


def test_edac_controllers_in_index_order(tmp_path: Path) -> None:
    for n, (ce, ue) in {10: (1, 0), 2: (0, 0)}.items():
        mc = tmp_path / f"sys/devices/system/edac/mc/mc{n}"
        mc.mkdir(parents=True)
        (mc / "ce_count").write_text(f"{ce}\n")
        (mc / "ue_count").write_text(f"{ue}\n")
    (tmp_path / "sys/devices/system/edac/mc/power").mkdir()
    assert [(m.controller, m.ce) for m in read_edac(tmp_path)] == [("mc2", 0), ("mc10", 1)]
    assert read_edac(tmp_path / "elsewhere") == []


def test_process_names_skip_non_numeric_and_vanished(tmp_path: Path) -> None:
    for entry, comm in (("1", "systemd"), ("77", "slurmd"), ("self", "python3")):
        (tmp_path / "proc" / entry).mkdir(parents=True)
        (tmp_path / "proc" / entry / "comm").write_text(comm + "\n")
    (tmp_path / "proc/78").mkdir()  # exited between listing and reading
    assert read_process_names(tmp_path) == {"systemd", "slurmd"}


def test_a_window_counts_what_grew_since_the_window_started() -> None:
    window = CounterWindow()
    assert window.increase("k", 10, T0, 3600) is None
    assert window.increase("k", 12, T0 + timedelta(minutes=30), 3600) == 2
    assert window.increase("k", 15, T0 + timedelta(minutes=70), 3600) == 5  # anchor still T0
    assert window.increase("k", 15, T0 + timedelta(minutes=95), 3600) == 3  # anchor +30 min
    assert window.increase("k", 1, T0 + timedelta(minutes=96), 3600) is None  # reset
    window.forget("k")
    assert window.increase("k", 5, T0 + timedelta(minutes=97), 3600) is None


@given(st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 600)), min_size=1, max_size=60))
def test_a_window_never_goes_negative_nor_above_the_total(steps: list[tuple[int, int]]) -> None:
    window = CounterWindow()
    value, at = 0, T0
    window.increase("k", value, at, 3600)
    for grow, seconds in steps:
        value, at = value + grow, at + timedelta(seconds=seconds)
        grown = window.increase("k", value, at, 3600)
        assert grown is not None and 0 <= grown <= value


def test_findings_fold_into_the_worst_with_its_strongest_action(tmp_path: Path) -> None:
    hw = open_hardware("rome", "n", tmp_path)
    ctx = CheckContext(hw, None, Thresholds(), T0)
    findings: list[Finding] = [
        warn("a warning"),
        fail(CheckAction.REBOOT, "link down"),
        fail(CheckAction.REPAIR, "flapping"),
    ]
    result = verdict(CpuCheck(), ctx, "hsn0", findings, "unused", speed=5)
    assert (result.status, result.action) == (CheckStatus.FAIL, CheckAction.REPAIR)
    assert result.message == "hsn0: flapping; link down; a warning"
    assert result.observed == {"speed": "5"} and result.observed_at == T0
    ok = verdict(CpuCheck(), ctx, "hsn0", [], "hsn0: fine")
    assert (ok.status, ok.message) == (CheckStatus.OK, "hsn0: fine")
