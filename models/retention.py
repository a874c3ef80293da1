"""Pruning what only mattered for a while: handled inbox rows and finished jobs.

An inbox row exists so that a WeChat retry (seconds later) is recognised and a crash loses nothing;
once handled, the case keeps the message and its timeline keeps what was sent. A done job's key stops
a second enqueue of the same work, which only happens around the time it ran. Both tables would
otherwise grow with every callback forever, and the inbox holds citizens' raw messages.
Pending and failed rows, and dead jobs (an operator's to-do), are never pruned.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from tortoise.expressions import Q
from tortoise.models import Model

from models.entities import InboundMessage, InboxStatus
from models.jobs import Job, JobStatus
from models.timeutil import now

CHUNK = 2000  # rows per DELETE: a sweep never holds the database for long


@dataclass(frozen=True)
class Pruned:
    inbox_rows: int
    jobs: int


async def prune(keep_inbox_s: float, keep_jobs_s: float, chunk: int = CHUNK) -> Pruned:
    """Delete inbox rows handled more than `keep_inbox_s` ago and jobs done more than `keep_jobs_s`
    ago (0 keeps them forever), `chunk` rows per statement."""
    moment = now()
    inbox_rows = jobs = 0
    if keep_inbox_s > 0:
        cutoff = moment - timedelta(seconds=keep_inbox_s)
        old_inbox = Q(status=InboxStatus.DONE, processed_at__lt=cutoff)
        inbox_rows = await _delete_in_chunks(InboundMessage, old_inbox, chunk)
    if keep_jobs_s > 0:
        cutoff = moment - timedelta(seconds=keep_jobs_s)
        jobs = await _delete_in_chunks(Job, Q(status=JobStatus.DONE, done_at__lt=cutoff), chunk)
    return Pruned(inbox_rows, jobs)


async def _delete_in_chunks(model: type[Model], condition: Q, chunk: int) -> int:
    deleted = 0
    while True:
        ids = list(await model.filter(condition).limit(chunk).values_list("id", flat=True))
        if ids:
            deleted += await model.filter(id__in=ids).delete()
        if len(ids) < chunk:
            return deleted
        await asyncio.sleep(0)  # let callbacks in between chunks
