"""The hook protocol: request validation at the edge, merging, the verdict, reply shapes."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.hooks import MAX_REQUEST
from agent.hooks.protocol import (
    Hook,
    HookRequest,
    ProtocolError,
    error_doc,
    judge,
    merge,
    parse_request,
    reply_doc,
    request_line,
)
from vcbase.domain import CheckAction, CheckResult, CheckStatus

OK, WARN, FAIL, UNKNOWN = CheckStatus.OK, CheckStatus.WARN, CheckStatus.FAIL, CheckStatus.UNKNOWN
AT = datetime(2026, 3, 1, tzinfo=UTC)


def r(check: str, subject: str, status: CheckStatus = OK, message: str = "") -> CheckResult:
    action = CheckAction.NONE if status is OK else CheckAction.REBOOT
    return CheckResult(check, subject, status, action, message or status.value, {}, AT)


def line(**doc: object) -> bytes:
    return json.dumps(doc).encode() + b"\n"


def test_a_full_request_parses() -> None:
    request = parse_request(line(v=1, hook="epilog", job_id="42", user="alice", node="n1"))
    assert request == HookRequest(Hook.EPILOG, "42", "alice", "n1")


def test_only_v_and_hook_are_required_and_the_newline_is_optional() -> None:
    assert parse_request(b'{"v":1,"hook":"healthcheck"}') == HookRequest(Hook.HEALTHCHECK)


@pytest.mark.parametrize(
    ("raw", "field", "problem"),
    [
        (b"\xff\xfe\n", "request", "not UTF-8"),
        (b"{not json\n", "request", "not a JSON document"),
        (b"[1, 2]\n", "request", "expected a JSON object, got list"),
        (b"", "request", "not a JSON document"),
        (line(v=1, hook="prolog", color="red"), "color", "unknown field 'color'"),
        (line(v=1, hook="prolog", **{"": 1}), "request", "unknown field ''"),
        (line(hook="prolog"), "v", "expected 1, got None"),
        (line(v=2, hook="prolog"), "v", "expected 1, got 2"),
        (line(v=True, hook="prolog"), "v", "expected 1, got True"),
        (line(v=1.0, hook="prolog"), "v", "expected 1, got 1.0"),
        (line(v=1), "hook", "expected prolog, epilog or healthcheck, got None"),
        (line(v=1, hook="postlog"), "hook", "got 'postlog'"),
        (line(v=1, hook=["prolog"]), "hook", "got ['prolog']"),
        (line(v=1, hook="prolog", job_id=42), "job_id", "expected a string, got int"),
        (line(v=1, hook="prolog", user=None), "user", "expected a string, got NoneType"),
        (line(v=1, hook="prolog", node="n1\nn2"), "node", "printable"),
        (line(v=1, hook="prolog", node="x" * 257), "node", "up to 256"),
    ],
)
def test_a_bad_request_names_its_field(raw: bytes, field: str, problem: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_request(raw)
    assert caught.value.field == field
    assert problem in caught.value.problem


def test_an_oversized_line_is_refused_before_parsing() -> None:
    raw = line(v=1, hook="prolog", user="u" * MAX_REQUEST)
    with pytest.raises(ProtocolError, match=rf"request: longer than {MAX_REQUEST} bytes"):
        parse_request(raw)


def outcome(raw: bytes) -> HookRequest | ProtocolError:
    try:
        return parse_request(raw)
    except ProtocolError as exc:
        return exc


@given(st.binary(max_size=300))
def test_garbage_never_raises_anything_but_a_protocol_error(raw: bytes) -> None:
    result = outcome(raw)
    assert isinstance(result, HookRequest) or result.field


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
        max_leaves=20,
    )
)
def test_any_json_value_is_a_request_or_a_named_error(value: object) -> None:
    result = outcome(json.dumps(value).encode())
    assert isinstance(result, HookRequest) or result.field


# What str.isprintable() accepts: no control, format, surrogate, private, unassigned or
# separator characters other than the ASCII space.
printable = st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs"))
text = st.text(printable | st.just(" "), max_size=40)


@given(st.sampled_from(list(Hook)), text, text, text)
def test_request_line_round_trips(hook: Hook, job_id: str, user: str, node: str) -> None:
    request = HookRequest(hook, job_id, user, node)
    assert parse_request(request_line(request)) == request


def test_merge_replaces_a_live_check_as_a_whole_and_keeps_the_rest() -> None:
    stable = [r("a", "gpu0", FAIL), r("a", "gpu1"), r("b", "node", WARN)]
    merged = merge(stable, {"a": [r("a", "gpu0")], "c": [r("c", "x", FAIL)]})
    assert [(x.check, x.subject, x.status) for x in merged] == [
        ("a", "gpu0", OK),  # live wins; gpu1 is gone from the live run, so it is gone
        ("b", "node", WARN),
        ("c", "x", FAIL),
    ]


def test_only_fail_fails_by_default() -> None:
    v = judge([r("a", "x"), r("b", "y", WARN), r("c", "z", UNKNOWN)])
    assert v.ok and v.status is WARN and v.checked == 3
    assert [x.check for x in v.warnings] == ["b", "c"] and not v.failing
    v = judge([r("a", "x", FAIL), r("b", "y", WARN)])
    assert not v.ok and v.status is FAIL
    assert [x.check for x in v.failing] == ["a"] and [x.check for x in v.warnings] == ["b"]


def test_unknown_fails_when_the_policy_says_so() -> None:
    v = judge([r("a", "x"), r("c", "z", UNKNOWN)], unknown_fails=True)
    assert not v.ok and [x.check for x in v.failing] == ["c"] and not v.warnings


def test_nothing_to_judge_is_unknown_and_passes_unless_unknown_fails() -> None:
    assert judge([]).ok and judge([]).status is UNKNOWN
    assert not judge([], unknown_fails=True).ok


def test_reply_and_error_shapes() -> None:
    v = judge([r("host.memory", "memory", FAIL, "MemTotal low"), r("b", "y")])
    doc = reply_doc(Hook.PROLOG, v, elapsed_ms=1.5, node="n1")
    assert doc == {
        "v": 1,
        "ok": False,
        "status": "fail",
        "failing": [
            {
                "check": "host.memory",
                "subject": "memory",
                "status": "fail",
                "action": "reboot",
                "message": "MemTotal low",
            }
        ],
        "warnings": [],
        "checked": 2,
        "hook": "prolog",
        "elapsed_ms": 1.5,
        "node": "n1",
    }
    err = error_doc(ProtocolError("hook", "bad"), 0.25)
    assert err["ok"] is False and err["error"] == {"field": "hook", "message": "bad"}
    assert json.loads(json.dumps(err)) == err
