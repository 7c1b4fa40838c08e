"""What happened to the node during a job: the epilog's post-job view, pure.

The prolog records a `JobStart` (when, and the ECC error counters the check results showed);
the epilog takes it back and asks what changed since: the XIDs the driver reported during the
job (`xids_during`, from `XidCheck.seen_since`) and the ECC counters that grew (`ecc_deltas`).
This is attribution, not a second verdict: the same XIDs and counters are judged by
`nvidia.xid` / `nvidia.ecc` / `amd.ecc`, which the epilog re-runs, so the coordinator and Slurm
see one story. The job section of the reply says which of it happened during *this* job.

The ledger lives in the agent's memory, bounded: an agent restarted during a job, or a job whose
prolog ran elsewhere (Slurm runs the epilog on every allocated node), has no record; the reply
then says `"known": false`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agent.checks.nvidia_xid import XidRecord, rule_for
from vcbase.domain import CheckResult

# Error counters that only grow while a driver is loaded, by check, as named in `observed`.
ECC_COUNTERS: Mapping[str, tuple[str, ...]] = {
    "nvidia.ecc": ("volatile_uncorrected",),
    "amd.ecc": ("uncorrectable", "deferred"),
}
CounterKey = tuple[str, str, str]  # (check, subject, counter)
LEDGER_SIZE = 4096  # jobs remembered at most; the oldest record goes first


def ecc_counters(results: Iterable[CheckResult]) -> dict[CounterKey, int]:
    """The ECC counters in `results`' observed values (non-numbers are skipped)."""
    counters: dict[CounterKey, int] = {}
    for r in results:
        for name in ECC_COUNTERS.get(r.check, ()):
            value = r.observed.get(name, "")
            if value.isdigit():
                counters[(r.check, r.subject, name)] = int(value)
    return counters


@dataclass(frozen=True, slots=True)
class JobStart:
    job_id: str
    started_at: datetime
    counters: Mapping[CounterKey, int]


class JobLedger:
    """job_id -> JobStart, at most `size` of them. Not thread-safe: the event loop owns it."""

    def __init__(self, size: int = LEDGER_SIZE) -> None:
        self._size = size
        self._jobs: OrderedDict[str, JobStart] = OrderedDict()

    def __len__(self) -> int:
        return len(self._jobs)

    def start(self, job: JobStart) -> None:
        """Remember `job` (a second prolog of the same job id replaces the first)."""
        self._jobs.pop(job.job_id, None)
        self._jobs[job.job_id] = job
        while len(self._jobs) > self._size:
            self._jobs.popitem(last=False)

    def finish(self, job_id: str) -> JobStart | None:
        """Forget and return the record of `job_id`; None when there is none."""
        return self._jobs.pop(job_id, None)


@dataclass(frozen=True, slots=True)
class EccDelta:
    check: str
    subject: str
    counter: str
    before: int
    after: int

    @property
    def delta(self) -> int:
        return self.after - self.before


def ecc_deltas(before: Mapping[CounterKey, int], after: Mapping[CounterKey, int]) -> list[EccDelta]:
    """Counters that grew, sorted. A counter that went down (the driver was reloaded) or that
    is missing on either side says nothing about the job and is left out."""
    grown = [
        EccDelta(*key, before[key], value)
        for key, value in after.items()
        if key in before and value > before[key]
    ]
    return sorted(grown, key=lambda d: (d.check, d.subject, d.counter))


@dataclass(frozen=True, slots=True)
class JobXid:
    subject: str
    xid: int
    at: datetime
    meaning: str


def xids_during(
    history: Mapping[str, Sequence[XidRecord]], since: datetime, until: datetime
) -> list[JobXid]:
    """The XIDs stamped in [since, until], oldest first, with their meaning."""
    found = [
        JobXid(subject, r.xid, r.at, rule_for(r.xid).meaning)
        for subject, records in history.items()
        for r in records
        if since <= r.at <= until
    ]
    return sorted(found, key=lambda x: (x.at, x.subject))


def job_doc(
    job_id: str, start: JobStart | None, xids: Sequence[JobXid], deltas: Sequence[EccDelta]
) -> dict[str, Any]:
    """The reply's `job` section, with a one-line `summary` for slurmd's log."""
    parts = [f"XID {x.xid} ({x.meaning}) on {x.subject}" for x in xids]
    parts += [f"{d.check} {d.subject} {d.counter} +{d.delta}" for d in deltas]
    if start is None:
        summary = "no prolog record for this job (agent restarted?): nothing to attribute"
    else:
        summary = "; ".join(parts) or "no XID and no new ECC error during the job"
    return {
        "job_id": job_id,
        "known": start is not None,
        "started_at": start.started_at.isoformat() if start else None,
        "xids": [
            {"subject": x.subject, "xid": x.xid, "at": x.at.isoformat(), "meaning": x.meaning}
            for x in xids
        ],
        "ecc": [
            {
                "check": d.check,
                "subject": d.subject,
                "counter": d.counter,
                "delta": d.after - d.before,
            }
            for d in deltas
        ],
        "summary": summary,
    }
