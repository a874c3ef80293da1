"""The job runner makes way for a burst of callbacks: while one lasts it runs one job at a time."""

from __future__ import annotations

import asyncio

import pytest

from bot.job_runner import JobRunner
from handlers.events import CitizenEvent, Reply
from handlers.inbox import Inbox
from handlers.routing import Router
from models.jobs import Job, JobStatus, enqueue
from models.timeutil import now

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


def text_event(sender: str, number: int) -> CitizenEvent:
    return CitizenEvent(
        channel="oa", sender=sender, kind="message", created_at=now(), msg_type="text", text="你好", msg_id=str(number)
    )


@pytest.mark.usefixtures("db")
async def test_the_inbox_calls_a_burst_only_when_callbacks_come_fast() -> None:
    """Jobs make way for a burst of callbacks, not for one slow callback in a quiet hour."""
    release = asyncio.Event()
    router = Router("test")

    @router.handler()
    async def wait_for_release(event: CitizenEvent) -> Reply:
        await release.wait()
        return Reply("好的")

    inbox = Inbox(router, {}, burst_rate_per_s=100.0)
    try:
        slow = asyncio.create_task(inbox.accept(text_event("o-slow", 1), 5.0))
        for _ in range(40):
            await asyncio.sleep(0.01)
        assert not inbox.busy()  # one callback waiting for a long time is a trickle
        burst = [asyncio.create_task(inbox.accept(text_event(f"o-burst-{n}", 100 + n), 5.0)) for n in range(60)]
        await asyncio.sleep(0.06)
        assert inbox.busy()
        release.set()
        answers = await asyncio.gather(slow, *burst)
        assert all(answer.reply == "好的" for answer in answers)
        await asyncio.sleep(0.6)
        assert not inbox.busy()  # the burst is over
    finally:
        release.set()
        await inbox.close()
