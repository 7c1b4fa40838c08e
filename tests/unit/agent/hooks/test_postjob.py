"""Post-job attribution: the job ledger, ECC counter deltas, XIDs during a job."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from agent.checks.nvidia_xid import XidRecord
from agent.hooks.postjob import (
    EccDelta,
    JobLedger,
    JobStart,
    JobXid,
    ecc_counters,
    ecc_deltas,
    job_doc,
    xids_during,
)
from vcbase.domain import CheckAction, CheckResult, CheckStatus

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def ecc(check: str, subject: str, **observed: str) -> CheckResult:
    return CheckResult(check, subject, CheckStatus.OK, CheckAction.NONE, "", observed, T0)


def test_ecc_counters_are_read_from_the_ecc_checks_only() -> None:
    results = [
        ecc("nvidia.ecc", "gpu0", volatile_uncorrected="0", aggregate_uncorrected="3"),
        ecc("nvidia.ecc", "gpu1", volatile_uncorrected="n/a"),
        ecc("amd.ecc", "gpu0", uncorrectable="2", deferred="1", correctable="900"),
        ecc("nvidia.temperature", "gpu0", volatile_uncorrected="7"),
    ]
    assert ecc_counters(results) == {
        ("nvidia.ecc", "gpu0", "volatile_uncorrected"): 0,
        ("amd.ecc", "gpu0", "uncorrectable"): 2,
        ("amd.ecc", "gpu0", "deferred"): 1,
    }


def test_ecc_deltas_keep_growth_only() -> None:
    a, b, c = (("nvidia.ecc", f"gpu{i}", "volatile_uncorrected") for i in range(3))
    before = {a: 0, b: 5, c: 1}
    after = {a: 2, b: 0, c: 1, ("nvidia.ecc", "gpu9", "volatile_uncorrected"): 4}
    # gpu1 went down (a driver reload), gpu2 did not move, gpu9 has no start value
    assert ecc_deltas(before, after) == [EccDelta(*a, 0, 2)]
    assert ecc_deltas(before, after)[0].delta == 2


def test_xids_during_the_job_only_oldest_first() -> None:
    history = {
        "gpu0": [
            XidRecord(T0 - timedelta(seconds=1), 79),
            XidRecord(T0 + timedelta(seconds=5), 48),
        ],
        "gpu1": [XidRecord(T0 + timedelta(seconds=2), 13), XidRecord(T0 + timedelta(hours=1), 79)],
    }
    found = xids_during(history, T0, T0 + timedelta(minutes=10))
    assert [(x.subject, x.xid) for x in found] == [("gpu1", 13), ("gpu0", 48)]
    assert found[1].meaning == "double-bit ECC error"


def test_the_ledger_remembers_a_bounded_number_of_jobs() -> None:
    ledger = JobLedger(size=2)
    for job in ("1", "2", "3"):
        ledger.start(JobStart(job, T0, {}))
    assert len(ledger) == 2
    assert ledger.finish("1") is None  # the oldest went first
    assert ledger.finish("3") == JobStart("3", T0, {})
    assert ledger.finish("3") is None  # taken back once


def test_a_second_prolog_of_a_job_replaces_the_first() -> None:
    ledger = JobLedger()
    ledger.start(JobStart("7", T0, {}))
    ledger.start(JobStart("7", T0 + timedelta(minutes=1), {}))
    start = ledger.finish("7")
    assert start is not None and start.started_at == T0 + timedelta(minutes=1)


def test_job_doc_summarises_for_slurmds_log() -> None:
    start = JobStart("7", T0, {})
    xid = JobXid("gpu0", 79, T0 + timedelta(seconds=3), "GPU has fallen off the bus")
    delta = EccDelta("nvidia.ecc", "gpu0", "volatile_uncorrected", 0, 1)
    doc = job_doc("7", start, [xid], [delta])
    assert doc["known"] is True and doc["started_at"] == T0.isoformat()
    assert doc["xids"] == [
        {
            "subject": "gpu0",
            "xid": 79,
            "at": (T0 + timedelta(seconds=3)).isoformat(),
            "meaning": "GPU has fallen off the bus",
        }
    ]
    assert doc["ecc"] == [
        {"check": "nvidia.ecc", "subject": "gpu0", "counter": "volatile_uncorrected", "delta": 1}
    ]
    assert doc["summary"] == (
        "XID 79 (GPU has fallen off the bus) on gpu0; nvidia.ecc gpu0 volatile_uncorrected +1"
    )
    assert job_doc("7", start, [], [])["summary"] == "no XID and no new ECC error during the job"
    unknown = job_doc("8", None, [], [])
    assert unknown["known"] is False and "no prolog record" in unknown["summary"]
