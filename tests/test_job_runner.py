"""The job runner makes way for a burst of callbacks: while one lasts it runs one job at a time
(when the inbox calls a burst: tests/test_inbox.py). Due times, backoff and leases are business time:
a manual clock moves past them without waiting."""

from __future__ import annotations

import asyncio

import pytest

from bot.job_runner import JobRunner, RetryLater
from models.jobs import Job, JobStatus, backoff_seconds, claim_due, enqueue, release_expired_leases
from models.timeutil import ManualClock

SLOW = "test.slow"
FLAKY = "test.flaky"


async def run_jobs_while(busy: bool, count: int = 6) -> tuple[int, int]:
    """Run `count` slow jobs with the runner told that callbacks are (or are not) waiting; return the
    most jobs that ran at once and how many finished."""
    running = 0
    most = 0

    async def slow_job(job: Job) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.02)
        running -= 1

    # Real time: the pause is 19 times a job's wall time so that the callbacks keep 95% of it; a manual
    # clock would not measure that. Its cap (1 s in service) is what the six pauses add up to, so the
    # test caps it at 50 ms: one at a time and all done are the same, without 3 s of waiting.
    runner = JobRunner(
        concurrency=4, poll_interval_s=0.01, yield_to=lambda: busy, yield_pause_s=0.01, yield_pause_max_s=0.05
    )
    runner.register(SLOW, slow_job)
    for index in range(count):
        await enqueue(SLOW, {"n": index}, key=f"slow:{index}")
    runner.start()
    try:
        for _ in range(400):
            if await Job.filter(kind=SLOW, status=JobStatus.DONE).count() == count:
                break
            await asyncio.sleep(0.01)
    finally:
        await runner.stop()
    return most, await Job.filter(kind=SLOW, status=JobStatus.DONE).count()


@pytest.mark.usefixtures("db")
async def test_jobs_run_side_by_side_when_no_callback_waits() -> None:
    most, done = await run_jobs_while(busy=False)
    assert done == 6
    assert most > 1


@pytest.mark.usefixtures("db")
async def test_jobs_run_one_at_a_time_but_still_finish_while_callbacks_wait() -> None:
    most, done = await run_jobs_while(busy=True)
    assert done == 6
    assert most == 1


@pytest.mark.usefixtures("db")
async def test_a_failed_job_runs_again_when_its_backoff_has_passed_on_the_business_clock(
    manual_clock: ManualClock,
) -> None:
    tries: list[int] = []

    async def flaky_job(job: Job) -> None:
        tries.append(job.attempts)
        if len(tries) == 1:
            raise RetryLater("WeChat is down")

    runner = JobRunner()
    runner.register(FLAKY, flaky_job)
    await enqueue(FLAKY, {})
    await runner.run_until_idle()
    assert tries == [0]
    manual_clock.advance(backoff_seconds(1) - 0.01)
    await runner.run_until_idle()
    assert tries == [0]  # not due yet
    manual_clock.advance(0.01)
    await runner.run_until_idle()
    assert tries == [0, 1]
    assert (await Job.get(kind=FLAKY)).status == JobStatus.DONE


@pytest.mark.usefixtures("db")
async def test_the_lease_of_a_job_whose_worker_died_ends_on_the_business_clock(manual_clock: ManualClock) -> None:
    await enqueue(FLAKY, {})
    (job,) = await claim_due(1, lease_s=120)
    manual_clock.advance(119)
    assert await release_expired_leases() == 0
    assert not await claim_due(1, lease_s=120)  # still its worker's
    manual_clock.advance(2)
    assert await release_expired_leases() == 1
    (again,) = await claim_due(1, lease_s=120)
    assert again.id == job.id


async def test_a_running_job_keeps_renewing_its_short_lease_and_a_dead_workers_job_is_free_within_one(
    db: None,
) -> None:
    """Leases are real time (a worker's liveness), so this test waits a fraction of a second for real."""
    import asyncio

    from bot.job_runner import JobRunner
    from models.jobs import Job, enqueue, release_expired_leases

    started, finish = asyncio.Event(), asyncio.Event()

    async def slow(job: Job) -> dict:
        started.set()
        await finish.wait()
        return {}

    runner = JobRunner(lease_s=0.3)
    runner.register("slow", slow)
    await enqueue("slow", {})
    assert await runner.run_due_once() == 1
    await started.wait()
    (job,) = await Job.filter(kind="slow")
    first_lease = job.lease_until
    await asyncio.sleep(0.5)  # longer than the lease: renewed meanwhile, not released
    assert await release_expired_leases() == 0
    (job,) = await Job.filter(kind="slow")
    assert job.lease_until > first_lease
    await runner.cancel_running()  # the worker dies: nobody renews
    await asyncio.sleep(0.35)
    assert await release_expired_leases() == 1
    finish.set()
