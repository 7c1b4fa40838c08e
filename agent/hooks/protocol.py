"""The hook protocol, pure: request and reply shapes, validation at the edge, and the verdict.

One JSON request line and one JSON reply line over the agent's unix stream socket (why not
protobuf: docs/hooks.md). A request:

    {"v": 1, "hook": "prolog" | "epilog" | "healthcheck",
     "job_id": "123", "user": "alice", "node": "nid001"}          (job_id, user, node optional)

A reply:

    {"v": 1, "ok": true, "status": "ok" | "warn" | "fail" | "unknown",
     "failing": [{check, subject, status, action, message}],       the results that set ok=false
     "warnings": [...same shape...],                                 bad, but not failing the hook
     "checked": 57, "live": [...], "stale": [...], "elapsed_ms": 2.4, "hook": "prolog",
     "node": "nid001", "coordinator": true, "first_pass": true, "job": {...} (epilog)}

A request that is not valid gets {"v": 1, "ok": false, "status": "unknown", "error":
{"field": ..., "message": ...}, ...}: the hook treats that as "the agent cannot answer" and takes
its fallback path. Nothing here does I/O; `parse_request` never raises anything but
`ProtocolError`.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agent.hooks import MAX_REQUEST, PROTOCOL_VERSION
from vcbase.domain import CheckResult, CheckStatus, worst_status
from vcbase.errors import ValidationError

MAX_TEXT = 256  # characters in job_id, user, node


class ProtocolError(ValidationError):
    """A request the agent will not answer; `field` names what is wrong."""


class Hook(enum.StrEnum):
    PROLOG = "prolog"
    EPILOG = "epilog"
    HEALTHCHECK = "healthcheck"


@dataclass(frozen=True, slots=True)
class HookRequest:
    hook: Hook
    job_id: str = ""
    user: str = ""
    node: str = ""


_TEXT_FIELDS = ("job_id", "user", "node")
_FIELDS = frozenset({"v", "hook", *_TEXT_FIELDS})
_HOOKS = frozenset(h.value for h in Hook)


def parse_request(line: bytes) -> HookRequest:
    """The request in `line` (one JSON object of at most MAX_REQUEST bytes, plus an optional
    newline). ProtocolError names the field: `request` for a line that is too long, not UTF-8,
    not JSON or not an object; the first unknown key; or the field whose value is wrong."""
    if len(line.removesuffix(b"\n")) > MAX_REQUEST:
        raise ProtocolError("request", f"longer than {MAX_REQUEST} bytes")
    try:
        doc = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError:
        raise ProtocolError("request", "not UTF-8") from None
    except (ValueError, RecursionError):
        raise ProtocolError("request", "not a JSON document") from None
    if not isinstance(doc, dict):
        raise ProtocolError("request", f"expected a JSON object, got {type(doc).__name__}")
    unknown = sorted(str(k) for k in doc if k not in _FIELDS)
    if unknown:
        key = unknown[0][:40]
        raise ProtocolError(
            key if key.isprintable() and key else "request", f"unknown field {key!r}"
        )
    version = doc.get("v")
    if type(version) is not int or version != PROTOCOL_VERSION:
        raise ProtocolError("v", f"expected {PROTOCOL_VERSION}, got {version!r:.40}")
    hook = doc.get("hook")
    if not isinstance(hook, str) or hook not in _HOOKS:
        raise ProtocolError("hook", f"expected prolog, epilog or healthcheck, got {hook!r:.40}")
    texts: dict[str, str] = {}
    for name in _TEXT_FIELDS:
        value = doc.get(name, "")
        if not isinstance(value, str):
            raise ProtocolError(name, f"expected a string, got {type(value).__name__}")
        if len(value) > MAX_TEXT or not value.isprintable():
            raise ProtocolError(name, f"expected up to {MAX_TEXT} printable characters")
        texts[name] = value
    return HookRequest(Hook(hook), **texts)


def request_line(request: HookRequest) -> bytes:
    """The wire form of `request` (what the client sends)."""
    doc = {"v": PROTOCOL_VERSION, "hook": request.hook.value}
    doc.update({k: getattr(request, k) for k in _TEXT_FIELDS if getattr(request, k)})
    return encode(doc)


def encode(doc: Mapping[str, Any]) -> bytes:
    """One compact JSON line, ASCII-only, newline-terminated."""
    return json.dumps(doc, separators=(",", ":")).encode("ascii") + b"\n"


def merge(
    stable: Iterable[CheckResult], live: Mapping[str, Sequence[CheckResult]]
) -> list[CheckResult]:
    """The stable results with every check that ran live replaced by its live results as a
    whole (live wins, subjects included: a live run that lists fewer GPUs is the truth)."""
    kept = [r for r in stable if r.check not in live]
    fresh = [r for results in live.values() for r in results]
    return sorted([*kept, *fresh], key=lambda r: (r.check, r.subject))


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    status: CheckStatus  # the worst status seen; unknown when there is nothing to judge
    failing: tuple[CheckResult, ...]  # what made ok false
    warnings: tuple[CheckResult, ...]  # bad results that do not fail the hook
    checked: int


def judge(results: Sequence[CheckResult], unknown_fails: bool = False) -> Verdict:
    """ok unless a result is `fail` (or `unknown`, with `unknown_fails`); `warn` never fails a
    hook (docs/hooks.md says why). No results at all is `unknown`, which passes unless
    `unknown_fails`: there is nothing that says the node is bad."""
    bad = {CheckStatus.FAIL, CheckStatus.UNKNOWN} if unknown_fails else {CheckStatus.FAIL}
    failing = tuple(r for r in results if r.status in bad)
    warnings = tuple(r for r in results if r.status is not CheckStatus.OK and r.status not in bad)
    status = worst_status(results) or CheckStatus.UNKNOWN
    ok = not failing and not (unknown_fails and not results)
    return Verdict(ok, status, failing, warnings, len(results))


def result_doc(result: CheckResult) -> dict[str, str]:
    return {
        "check": result.check,
        "subject": result.subject,
        "status": result.status.value,
        "action": result.action.value,
        "message": result.message,
    }


def reply_doc(hook: Hook, verdict: Verdict, **extra: Any) -> dict[str, Any]:
    """The reply to a valid request; `extra` adds node, coordinator, first_pass, live, stale,
    elapsed_ms, job."""
    return {
        "v": PROTOCOL_VERSION,
        "ok": verdict.ok,
        "status": verdict.status.value,
        "failing": [result_doc(r) for r in verdict.failing],
        "warnings": [result_doc(r) for r in verdict.warnings],
        "checked": verdict.checked,
        "hook": hook.value,
        **extra,
    }


def error_doc(error: ProtocolError, elapsed_ms: float = 0.0) -> dict[str, Any]:
    """The reply to a request the agent refuses."""
    return {
        "v": PROTOCOL_VERSION,
        "ok": False,
        "status": CheckStatus.UNKNOWN.value,
        "error": {"field": error.field, "message": error.problem},
        "failing": [],
        "checked": 0,
        "elapsed_ms": round(elapsed_ms, 3),
    }
