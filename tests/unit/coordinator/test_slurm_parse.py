"""Parsers of Slurm output, on output captured from the real Slurm 22.05 of tests/slurm.py.

data/*-22.05-many.* were taken at one instant from one cluster (8 nodes of 2 CPUs):
n1 idle; n2 mixed (1 job); n3 and n6 run a 2-node job; n3 drained by us (draining); n4 drained by
an operator; n5 down under our reason; n6 reboot ASAP requested (busy); n7 reboot issued
(nextstate=down); n8 mixed. data/*-not-responding.* show n1 just after a resume (IDLE*).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coordinator.drivers.scheduler import SchedulerState
from coordinator.drivers.slurm_parse import (
    ParseError,
    classify_failure,
    expand_hostlist,
    normalise,
    parse_scontrol_nodes,
    parse_sinfo_json,
    parse_squeue_jobs,
    scontrol_fields,
    sinfo_json_errors,
)

DATA = Path(__file__).parent / "data"
P = "vcluster: "
S = SchedulerState

EXPECTED = {  # name: (state, flags, reason, ours)
    "n1": (S.IDLE, set(), "", False),
    "n2": (S.MIXED, set(), "", False),
    "n3": (S.DRAINING, {"DRAIN"}, "vcluster: gpu 0 xid 79", True),
    "n4": (S.DRAINED, {"DRAIN"}, "disk /scratch full (admin)", False),
    "n5": (S.DOWN, set(), "vcluster: set aside: repeated failures", True),
    "n6": (S.DRAINING, {"DRAIN", "REBOOT_REQUESTED"}, "vcluster: rolling update", True),
    "n7": (
        S.REBOOTING,
        {"DRAIN", "REBOOT_ISSUED"},
        "vcluster: reboot after check : reboot issued",
        True,
    ),
    "n8": (S.MIXED, set(), "", False),
}


def _read(name: str) -> str:
    return (DATA / name).read_text()


@pytest.mark.parametrize(
    ("parse", "sample"),
    [
        (parse_sinfo_json, "sinfo-22.05-many.json"),
        (parse_scontrol_nodes, "scontrol-22.05-many.txt"),
    ],
)
def test_both_node_parsers_read_the_captured_states(parse: object, sample: str) -> None:
    nodes = parse(_read(sample), P)  # type: ignore[operator]
    got = {n.name: (n.state, set(n.flags), n.reason, n.reason_is_ours) for n in nodes}
    assert got == EXPECTED
    assert [n.name for n in nodes] == sorted(EXPECTED)
    assert all(n.jobs == () for n in nodes)


def test_both_parsers_agree_on_a_not_responding_node() -> None:
    js = parse_sinfo_json(_read("sinfo-22.05-not-responding.json"), P)
    tx = parse_scontrol_nodes(_read("scontrol-22.05-not-responding.txt"), P)
    assert js == tx
    assert (js[0].state, js[0].responding, js[1].responding) == (S.IDLE, False, True)


def test_scontrol_fields_keep_spaces_and_tell_next_state_from_state() -> None:
    line = next(
        ln for ln in _read("scontrol-22.05-many.txt").splitlines() if ln.startswith("NodeName=n6 ")
    )
    f = scontrol_fields(line)
    assert f["State"] == "ALLOCATED+DRAIN+REBOOT_REQUESTED"
    assert f["NextState"] == "RESUME"
    assert f["OS"].startswith("Linux ") and " " in f["OS"]
    assert f["Reason"].startswith("vcluster: rolling update [root@")


def test_squeue_lines_give_each_node_its_jobs() -> None:
    assert parse_squeue_jobs(_read("squeue-22.05-many.txt")) == {
        "n2": (1,),
        "n3": (2,),
        "n6": (2,),
        "n8": (3,),
    }
    assert parse_squeue_jobs("") == {}
    assert parse_squeue_jobs("7|n1\n5|n[1-2]\n") == {"n1": (5, 7), "n2": (5,)}
    with pytest.raises(ParseError):
        parse_squeue_jobs("12_3|n1")


def test_sinfo_23_02_list_state_and_errors() -> None:
    text = json.dumps(
        {
            "errors": [],
            "nodes": [{"name": "a", "state": ["IDLE", "DRAIN"], "reason": "vcluster: x"}],
        }
    )
    (a,) = parse_sinfo_json(text, P)
    assert (a.state, a.flags, a.reason_is_ours) == (S.DRAINED, frozenset({"DRAIN"}), True)
    down = '{"errors": [{"error": "Unspecified error", "errno": -1}], "nodes": []}'
    assert sinfo_json_errors(down) == ["Unspecified error"]
    for bad in ("not json", "[]", '{"nodes": 3}', '{"nodes": [{"state": "idle"}]}'):
        with pytest.raises(ParseError):
            parse_sinfo_json(bad, P)


@pytest.mark.parametrize(
    ("base", "flags", "state"),
    [
        ("idle", [], S.IDLE),
        ("IDLE*", ["NOT_RESPONDING"], S.IDLE),
        ("completing", ["DRAIN"], S.DRAINING),
        ("down", ["DRAIN"], S.DRAINED),
        ("idle", ["DRAIN", "REBOOT_REQUESTED"], S.REBOOTING),
        ("allocated", ["REBOOT_REQUESTED"], S.ALLOCATED),  # a reboot without ASAP: no drain
        ("future", [], S.FUTURE),
        ("weird", [], S.UNKNOWN),
    ],
)
def test_normalise(base: str, flags: list[str], state: SchedulerState) -> None:
    assert normalise(base, flags) is state


def test_reason_stamp_is_removed_but_brackets_in_text_stay() -> None:
    line = (
        "NodeName=a State=IDLE+DRAIN Reason=vcluster: ib [mlx5_0] down [slurm@2026-11-25T02:54:36]"
    )
    (a,) = parse_scontrol_nodes(line, P)
    assert a.reason == "vcluster: ib [mlx5_0] down"
    assert parse_scontrol_nodes("\n\n", P) == []
    with pytest.raises(ParseError):
        parse_scontrol_nodes("Node n9 not found", P)


def test_expand_hostlist_examples() -> None:
    assert expand_hostlist("n[3,6]") == ["n3", "n6"]
    assert expand_hostlist("gpu[008-011],login1") == [
        "gpu008",
        "gpu009",
        "gpu010",
        "gpu011",
        "login1",
    ]
    assert expand_hostlist("x[1-2]-ib") == ["x1-ib", "x2-ib"]
    assert expand_hostlist("") == []
    for bad in ("n[1-", "n[a-b]", "n[1-2]x[3]"):
        with pytest.raises(ParseError):
            expand_hostlist(bad)


@given(
    prefix=st.from_regex(r"[a-z]{1,5}", fullmatch=True),
    ranges=st.lists(
        st.tuples(st.integers(0, 500), st.integers(0, 20), st.integers(1, 4)),
        min_size=1,
        max_size=4,
    ),
)
def test_expand_hostlist_ranges(prefix: str, ranges: list[tuple[int, int, int]]) -> None:
    parts, expected = [], []
    for lo, span, width in ranges:
        parts.append(f"{lo:0{width}d}-{lo + span:0{width}d}")
        pad = width if width > 1 and len(str(lo)) < width else 0
        expected += [f"{prefix}{i:0{pad}d}" for i in range(lo, lo + span + 1)]
    assert expand_hostlist(f"{prefix}[{','.join(parts)}]") == expected


@pytest.mark.parametrize(
    ("stdout", "stderr", "cause"),
    [  # all captured from Slurm 22.05
        (
            "",
            "slurm_load_node error: Unable to contact slurm controller (connect failure)",
            "unavailable",
        ),
        ("", "slurm_load_node error: Socket timed out on send/recv operation", "unavailable"),
        ("", "slurm_update error: Invalid node name specified", "unknown_node"),
        ("Node n9 not found", "", "unknown_node"),
        ("", "squeue: error: Invalid node name n9", "unknown_node"),
        ("", "slurm_update error: Invalid node state specified", "failed"),
    ],
)
def test_classify_failure(stdout: str, stderr: str, cause: str) -> None:
    assert classify_failure(stdout, stderr) == cause
