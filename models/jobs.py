"""Durable jobs: outbound messages (the outbox), media downloads and timers.

A job is a database row; workers claim it with a conditional UPDATE (so two workers never run the
same job), run it, and mark it done, or put it back with exponential backoff. A worker that dies
mid-job leaves a lease that expires, and the job runs again. `key` makes enqueueing idempotent.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.exceptions import IntegrityError
from tortoise.models import Model
from tortoise.transactions import in_transaction

from models.timeutil import get_clock, now


class JobStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    DEAD = "dead"  # gave up (max_attempts, a permanent error, a configuration never fixed); kept, resendable


class Job(Model):
    id = fields.IntField(primary_key=True)
    kind = fields.CharField(max_length=40, db_index=True)
    key = fields.CharField(max_length=200, null=True, unique=True)
    payload: dict = fields.JSONField(default=dict)
    case: fields.ForeignKeyNullableRelation[Any] = fields.ForeignKeyField(
        "models.Case", null=True, related_name="jobs", on_delete=fields.SET_NULL
    )
    status = fields.CharEnumField(JobStatus, max_length=10, default=JobStatus.PENDING)
    run_at = fields.DatetimeField()
    attempts = fields.IntField(default=0)
    max_attempts = fields.IntField(default=50)
    lease_until = fields.DatetimeField(null=True)
    last_error = fields.TextField(null=True)
    # Since when a configuration error (IP whitelist, secret, template, ...) holds the job back: it is
    # retried slowly without counting attempts until `[jobs] misconfigured_ceiling` from then (`hold`).
    blocked_since = fields.DatetimeField(null=True)
    result: dict = fields.JSONField(default=dict)
    created_at = fields.DatetimeField()
    done_at = fields.DatetimeField(null=True)

    class Meta:
        table = "job"
        # due jobs; the retention sweep; a case's messages in flight (a message waits for an older one)
        indexes = (("status", "run_at"), ("status", "done_at"), ("case_id", "kind", "status"))


async def enqueue(
    kind: str,
    payload: Mapping[str, Any],
    *,
    key: str | None = None,
    case_id: int | None = None,
    run_at: datetime | None = None,
    max_attempts: int = 50,
) -> Job | None:
    """Add a job; with `key`, a second enqueue of the same key is a no-op and returns None."""
    moment = now()
    try:
        async with in_transaction():  # a savepoint: a duplicate key must not abort the caller's transaction
            return await Job.create(
                kind=kind,
                key=key,
                payload=dict(payload),
                case_id=case_id,
                run_at=run_at or moment,
                max_attempts=max_attempts,
                created_at=moment,
            )
    except IntegrityError:
        if key is None:
            raise
        return None


async def claim_due(limit: int, lease_s: float, kinds: list[str] | None = None) -> list[Job]:
    """Claim up to `limit` due jobs for this worker; `lease_s` is real time (the clock may run fast)."""
    moment = now()
    lease_s = get_clock().to_business_seconds(lease_s)
    query = Job.filter(status=JobStatus.PENDING, run_at__lte=moment)
    if kinds:
        query = query.filter(kind__in=kinds)
    candidates = await query.order_by("run_at", "id").limit(limit * 2).values_list("id", flat=True)
    claimed: list[Job] = []
    for job_id in candidates:
        won = await Job.filter(id=job_id, status=JobStatus.PENDING).update(
            status=JobStatus.RUNNING, lease_until=moment + timedelta(seconds=lease_s)
        )
        if won:
            claimed.append(await Job.get(id=job_id))
            if len(claimed) >= limit:
                break
    return claimed


async def complete(job: Job, result: dict[str, Any] | None = None) -> None:
    await Job.filter(id=job.id).update(
        status=JobStatus.DONE, done_at=now(), lease_until=None, result=result or {}, attempts=job.attempts + 1
    )


def backoff_seconds(attempts: int, base: float = 2.0, cap: float = 300.0) -> float:
    return float(min(cap, base * (2 ** max(0, attempts - 1))))


async def in_flight(job_id: int) -> bool:
    """The job is still to run (or running): pending or running."""
    return await Job.filter(id=job_id, status__in=[JobStatus.PENDING, JobStatus.RUNNING]).exists()


async def running(job_id: int) -> bool:
    """Some worker is running the job right now."""
    return await Job.filter(id=job_id, status=JobStatus.RUNNING).exists()


async def make_due(job_ids: list[int]) -> None:
    """Jobs waiting for another one run now (it is through)."""
    await Job.filter(id__in=job_ids, status=JobStatus.PENDING).update(run_at=now())


async def retry_later(
    job: Job,
    error: str,
    delay_s: float | None = None,
    count_attempt: bool = True,
    blocked_since: datetime | None = None,
) -> bool:
    """Put the job back for a later try. Returns False when it has used up its attempts (now dead).

    `blocked_since`: the job waits behind an older one that a configuration error holds back, since
    then (it shares that one's ceiling); None: it is not held back by a configuration error."""
    attempts = job.attempts + (1 if count_attempt else 0)
    if attempts >= job.max_attempts:
        await Job.filter(id=job.id).update(
            status=JobStatus.DEAD, attempts=attempts, last_error=error[:2000], lease_until=None
        )
        return False
    delay = backoff_seconds(attempts) if delay_s is None else delay_s
    await Job.filter(id=job.id).update(
        status=JobStatus.PENDING,
        attempts=attempts,
        last_error=error[:2000],
        lease_until=None,
        run_at=now() + timedelta(seconds=delay),
        blocked_since=blocked_since,
    )
    return True


async def hold(job: Job, error: str, delay_s: float, ceiling_s: float) -> bool:
    """A configuration error holds the job back: it tries again in `delay_s` without counting an
    attempt, until `ceiling_s` have passed since it was first held back; then it is dead (kept, and
    `mashang jobs retry` sends it). Returns False when it is now dead."""
    moment = now()
    since = job.blocked_since or moment
    if (moment - since).total_seconds() >= ceiling_s:
        await Job.filter(id=job.id).update(
            status=JobStatus.DEAD, last_error=error[:2000], lease_until=None, blocked_since=since
        )
        return False
    await Job.filter(id=job.id).update(
        status=JobStatus.PENDING,
        last_error=error[:2000],
        lease_until=None,
        run_at=moment + timedelta(seconds=delay_s),
        blocked_since=since,
    )
    return True


async def renew_lease(job: Job, lease_s: float) -> bool:
    """Extend the lease of a job still running (its worker is alive); False when it is no longer ours."""
    lease_s = get_clock().to_business_seconds(lease_s)
    renewed = await Job.filter(id=job.id, status=JobStatus.RUNNING).update(
        lease_until=now() + timedelta(seconds=lease_s)
    )
    return bool(renewed)


async def release_expired_leases() -> int:
    """Jobs whose worker died mid-run go back to pending."""
    return await Job.filter(status=JobStatus.RUNNING, lease_until__lt=now()).update(
        status=JobStatus.PENDING, lease_until=None
    )


# --- what an operator sees and does (`mashang jobs`) ---

RETRIABLE_BY_OPERATOR = (JobStatus.DEAD, JobStatus.PENDING)


async def listed(*, dead: bool, limit: int) -> tuple[int, list[Job]]:
    """(how many, the first `limit` by id) of the dead jobs, or of those not finished (pending, running)."""
    statuses = [JobStatus.DEAD] if dead else [JobStatus.PENDING, JobStatus.RUNNING]
    query = Job.filter(status__in=statuses)
    total = await query.count()
    rows = await query.order_by("id").limit(max(1, limit)).prefetch_related("case")
    return total, list(rows)


async def dead_ids() -> list[int]:
    return [int(row["id"]) for row in await Job.filter(status=JobStatus.DEAD).order_by("id").values("id")]


async def retriable_ids(ids: list[int]) -> set[int]:
    """Those of `ids` an operator may put back: dead jobs, and pending ones (waiting for a retry)."""
    rows = await Job.filter(id__in=ids, status__in=RETRIABLE_BY_OPERATOR).values("id")
    return {int(row["id"]) for row in rows}


async def retry_now(ids: list[int]) -> int:
    """Dead or pending jobs run again now, their attempts (and a configuration wait) counted from zero."""
    if not ids:
        return 0
    return await Job.filter(id__in=ids, status__in=RETRIABLE_BY_OPERATOR).update(
        status=JobStatus.PENDING, attempts=0, run_at=now(), lease_until=None, blocked_since=None
    )
