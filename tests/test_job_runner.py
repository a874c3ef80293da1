"""The job runner makes way for a burst of callbacks: while one lasts it runs one job at a time
(when the inbox calls a burst: tests/test_inbox.py)."""

from __future__ import annotations

import asyncio

import pytest

from bot.job_runner import JobRunner
from models.jobs import Job, JobStatus, enqueue

SLOW = "test.slow"


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

    runner = JobRunner(concurrency=4, poll_interval_s=0.01, yield_to=lambda: busy, yield_pause_s=0.01)
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

