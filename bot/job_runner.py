"""Runs durable jobs: claims due rows, runs the handler registered for their kind, retries with backoff.

Handlers raise `RetryLater` (or any exception) to try again later, `GiveUp` to mark the job dead,
`Misconfigured` when a setting an administrator fixes in minutes (an IP whitelist, a secret, a
template) refuses the job: it is retried every `misconfigured_retry_s` without counting attempts, and
is dead (kept, resendable with `mashang jobs retry`) once `misconfigured_ceiling_s` have passed since it
was first refused. A `RetryLater` with a `cause` (a `Misconfigured` always has one) is passed to
`on_alert`, which tells the operators (bot/outbound/alerts.py).
Every job is tracked; shutdown waits for running jobs and leaves the rest in the database.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from tortoise.transactions import in_transaction

from models import jobs
from models.jobs import Job

log = logging.getLogger(__name__)

WAITERS_MAX = 10_000  # jobs waiting for another job to be through, remembered at most
JobHandler = Callable[[Job], Awaitable[dict[str, Any] | None]]


class RetryLater(Exception):
    """Try again after `delay_s`; with `after_job`, as soon as that job (running in this process) is
    through, whichever comes first. `after_running`: that job was running when this one looked; if
    its run has ended since (say it went back to wait), this one looks again at once."""

    def __init__(
        self,
        reason: str,
        delay_s: float | None = None,
        count_attempt: bool = True,
        after_job: int | None = None,
        *,
        after_running: bool = False,
        cause: Any = None,
        blocked_since: datetime | None = None,
    ) -> None:
        super().__init__(reason)
        self.delay_s = delay_s
        self.count_attempt = count_attempt
        self.after_job = after_job
        self.after_running = after_running
        self.cause = cause  # what an operator is told about (once per cause and period), if anything
        self.blocked_since = blocked_since  # waits behind an older job held back by a configuration error


class Misconfigured(RetryLater):
    """A setting an administrator must fix refuses the job (`cause` says which): retried slowly without
    counting attempts, dead after the runner's ceiling (see the module's doc)."""

    def __init__(self, reason: str, cause: Any) -> None:
        super().__init__(reason, count_attempt=False, cause=cause)


class GiveUp(Exception):
    """A permanent failure: retrying cannot help (the job is marked dead and kept)."""


class JobRunner:
    """Runs due jobs, `concurrency` at a time.

    `yield_to` tells when callbacks arrive in a burst: then the runner takes one job at a time and
    pauses after each for 19 times what it took (between `yield_pause_s` and `yield_pause_max_s`), so
    that jobs get about 5% of the time and answering WeChat keeps the rest, while the jobs still move
    (a due job waits about a second for each job ahead of it, not for the end of the burst). Under a burst a job's
    statements queue behind the callbacks', so 19 times its wall time is often past the cap: with a
    cap of 0.25 s a job of 20 ms CPU took about 8% of the time, with 1 s it takes 2%.
    """

    def __init__(
        self,
        concurrency: int = 4,
        poll_interval_s: float = 0.1,
        lease_s: float = 20.0,
        yield_to: Callable[[], bool] | None = None,
        yield_pause_s: float = 0.05,
        yield_pause_max_s: float = 1.0,
        misconfigured_retry_s: float = 600.0,
        misconfigured_ceiling_s: float = 86400.0,
        on_alert: Callable[[Job, RetryLater], Awaitable[None]] | None = None,
    ) -> None:
        """`misconfigured_retry_s`, `misconfigured_ceiling_s`: business seconds."""
        self.misconfigured_retry_s = misconfigured_retry_s
        self.misconfigured_ceiling_s = misconfigured_ceiling_s
        self.on_alert = on_alert
        self.handlers: dict[str, JobHandler] = {}
        self.transactional: set[str] = set()
        self.concurrency = concurrency
        self.yield_to = yield_to
        self.yield_pause_s = yield_pause_s
        self.yield_pause_max_s = yield_pause_max_s
        self.poll_interval_s = poll_interval_s
        self.lease_s = lease_s
        self._running: set[asyncio.Task[None]] = set()
        self._running_ids: set[int] = set()
        self._finished_ids: collections.deque[int] = collections.deque(maxlen=256)
        self._waiting_on: dict[int, set[int]] = {}
        self._wake = asyncio.Event()
        self._stopping = False
        self._loop_task: asyncio.Task[None] | None = None

    def register(self, kind: str, handler: JobHandler, *, transactional: bool = False) -> None:
        """`transactional`: the handler only writes to the database (timers, announcements), so it runs
        in one transaction with marking the job done: a crash leaves neither half behind, and a retry
        cannot send a notice twice."""
        self.handlers[kind] = handler
        if transactional:
            self.transactional.add(kind)

    async def run_job(self, job: Job) -> None:
        """Run one claimed job, renewing its short lease while it runs: a live worker keeps its job,
        and after a crash (kill -9) the job is free again within one lease, not minutes later."""
        renewing = asyncio.create_task(self._renew(job), name=f"lease-{job.id}")
        self._running_ids.add(job.id)
        try:
            await self._run_job(job)
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
            self._running_ids.discard(job.id)
            self._finished_ids.append(job.id)
            waiting = self._waiting_on.pop(job.id, set())
            if waiting:
                with contextlib.suppress(Exception):  # they still run after their own delay
                    await jobs.make_due(list(waiting))
                self._wake.set()

    async def _renew(self, job: Job) -> None:
        while True:
            await asyncio.sleep(self.lease_s / 3)  # real time: the lease is (models.jobs.claim_due)
            try:
                if not await jobs.renew_lease(job, self.lease_s):
                    return
            except Exception:  # the database is away: the next renewal tries again
                log.warning("renewing the lease of job %s failed; trying again", job.id, exc_info=True)

    async def _run_job(self, job: Job) -> None:
        handler = self.handlers.get(job.kind)
        if handler is None:
            await jobs.retry_later(job, f"no handler for job kind {job.kind!r}", delay_s=60)
            return
        try:
            if job.kind in self.transactional:
                async with in_transaction():
                    await jobs.complete(job, await handler(job))
                return
            result = await handler(job)
        except Misconfigured as exc:
            delay = exc.delay_s if exc.delay_s is not None else self.misconfigured_retry_s
            if await jobs.hold(job, str(exc), delay, self.misconfigured_ceiling_s):
                log.warning(
                    "job %s (%s) waits for a configuration fix, next try in %.0f s: %s", job.id, job.kind, delay, exc
                )
            else:
                log.error(
                    "job %s (%s) is dead: the configuration was not fixed within %.0f h (%s); "
                    "after fixing it, `mashang jobs retry --all-dead` sends it",
                    job.id,
                    job.kind,
                    self.misconfigured_ceiling_s / 3600,
                    exc,
                )
            await self._alert(job, exc)
        except RetryLater as exc:
            alive = await jobs.retry_later(job, str(exc), exc.delay_s, exc.count_attempt, exc.blocked_since)
            if exc.after_job is not None:
                through = exc.after_job in self._finished_ids and not await jobs.in_flight(exc.after_job)
                # It was running when this one looked and its run ended since (in this process): its
                # end woke nobody yet, so look again now rather than after the delay.
                ended = exc.after_running and exc.after_job not in self._running_ids and not await jobs.running(
                    exc.after_job
                )
                if through or ended:
                    await jobs.make_due([job.id])  # it was through before this one looked back
                else:
                    if len(self._waiting_on) > WAITERS_MAX:  # older jobs run by other processes: forget
                        self._waiting_on.clear()
                    self._waiting_on.setdefault(exc.after_job, set()).add(job.id)
            if exc.count_attempt:  # a failure (WeChat down, say), not a wait for a rate limit: the log shows it
                outcome = "will retry" if alive else f"gave up after {job.max_attempts} attempts"
                log.warning("job %s (%s) failed, %s: %s", job.id, job.kind, outcome, exc)
            if exc.cause is not None:
                await self._alert(job, exc)
        except GiveUp as exc:
            log.warning("job %s (%s) gave up: %s", job.id, job.kind, exc)
            await _mark_dead(job, str(exc))
        except Exception as exc:
            log.exception("job %s (%s) failed", job.id, job.kind)
            await jobs.retry_later(job, repr(exc))
        else:
            await jobs.complete(job, result)

    async def _alert(self, job: Job, exc: RetryLater) -> None:
        if self.on_alert is None:
            return
        try:
            await self.on_alert(job, exc)
        except Exception:  # telling the operators must not change what happens to the job
            log.exception("alert about job %s (%s) failed: %s", job.id, job.kind, exc)

    async def run_due_once(self, limit: int | None = None) -> int:
        """Claim and run one batch of due jobs (also used by tests and scripts to step the queue)."""
        free = (self.concurrency if limit is None else limit) - len(self._running)
        if free <= 0:
            return 0
        claimed = await jobs.claim_due(free, self.lease_s, list(self.handlers) or None)
        for job in claimed:
            task = asyncio.create_task(self.run_job(job), name=f"job-{job.id}-{job.kind}")
            self._running.add(task)
            task.add_done_callback(self._running.discard)
        return len(claimed)

    async def _loop(self) -> None:
        await jobs.release_expired_leases()
        sweeps = 0
        loop = asyncio.get_running_loop()
        while not self._stopping:
            yielding = self.yield_to is not None and self.yield_to()
            limit = 1 if yielding else self.concurrency
            began = loop.time()
            try:
                started = await self.run_due_once(limit)
                sweeps += 1
                if sweeps % 50 == 0:  # a dead worker's jobs (leases run out) go back to the queue
                    await jobs.release_expired_leases()
            except Exception:
                log.exception("job loop iteration failed; continuing")
                started = 0
            if started == 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_interval_s)
            elif len(self._running) >= limit:
                await asyncio.wait(set(self._running), return_when=asyncio.FIRST_COMPLETED)
            if yielding and started:
                # The job's wall time (what it ran for, with the burst's callbacks in between), capped so
                # that a job waiting on the network does not hold the next one back for long.
                await asyncio.sleep(min(self.yield_pause_max_s, max(self.yield_pause_s, 19 * (loop.time() - began))))

    def start(self) -> None:
        self._stopping = False
        self._loop_task = asyncio.create_task(self._loop(), name="job-runner")

    async def stop(self, timeout_s: float = 10.0) -> None:
        self._stopping = True
        self._wake.set()
        if self._loop_task is not None:
            await self._loop_task
            self._loop_task = None
        if self._running:
            await asyncio.wait(set(self._running), timeout=timeout_s)

    async def cancel_running(self) -> None:
        """Abandon running jobs as a dying process would: their leases expire and they run again."""
        for task in list(self._running):
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)

    async def run_until_idle(self, timeout_s: float = 10.0) -> None:
        """Run jobs until none is due or running (tests and scripts)."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while asyncio.get_running_loop().time() < deadline:
            started = await self.run_due_once()
            if self._running:
                await asyncio.wait(set(self._running))
                continue
            if started == 0:
                return
        raise TimeoutError("jobs still running after the timeout")


async def _mark_dead(job: Job, reason: str) -> None:
    await Job.filter(id=job.id).update(
        status=jobs.JobStatus.DEAD, attempts=job.attempts + 1, last_error=reason[:2000], lease_until=None
    )
