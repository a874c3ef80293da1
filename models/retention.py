"""Pruning what only mattered for a while: handled inbox rows, finished jobs, and the mini-program's
abandoned uploads and stored answers to retried requests.

An inbox row exists so that a WeChat retry (seconds later) is recognised and a crash loses nothing;
once handled, the case keeps the message and its timeline keeps what was sent. A done job's key stops
a second enqueue of the same work, which only happens around the time it ran. Both tables would
otherwise grow with every callback forever, and the inbox holds citizens' raw messages.
An upload that never went into a message (the citizen left the page) is a file of a stranger's that
nothing points to; an Idempotency-Key answer only matters while the front end may retry (minutes).
Pending and failed rows, dead jobs (an operator's to-do) and uploads used in a case are never pruned.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import dataclass
from datetime import timedelta

from tortoise.expressions import Q
from tortoise.models import Model

from models.entities import InboundMessage, InboxStatus
from models.jobs import Job, JobStatus
from models.miniprogram import IdempotentRequest, Upload
from models.timeutil import now

CHUNK = 2000  # rows per DELETE: a sweep never holds the database for long


@dataclass(frozen=True)
class Pruned:
    inbox_rows: int
    jobs: int
    uploads: int = 0
    requests: int = 0

    def __bool__(self) -> bool:
        return any((self.inbox_rows, self.jobs, self.uploads, self.requests))


async def prune(
    keep_inbox_s: float,
    keep_jobs_s: float,
    keep_uploads_s: float = 0,
    keep_requests_s: float = 0,
    chunk: int = CHUNK,
) -> Pruned:
    """Delete inbox rows handled more than `keep_inbox_s` ago, jobs done more than `keep_jobs_s` ago,
    unused uploads (row and file) older than `keep_uploads_s` and Idempotency-Key answers older than
    `keep_requests_s` (0 keeps them forever), `chunk` rows per statement."""
    moment = now()
    inbox_rows = jobs = uploads = requests = 0
    if keep_inbox_s > 0:
        cutoff = moment - timedelta(seconds=keep_inbox_s)
        old_inbox = Q(status=InboxStatus.DONE, processed_at__lt=cutoff)
        inbox_rows = await _delete_in_chunks(InboundMessage, old_inbox, chunk)
    if keep_jobs_s > 0:
        cutoff = moment - timedelta(seconds=keep_jobs_s)
        jobs = await _delete_in_chunks(Job, Q(status=JobStatus.DONE, done_at__lt=cutoff), chunk)
    if keep_uploads_s > 0:
        uploads = await _prune_unused_uploads(moment - timedelta(seconds=keep_uploads_s), chunk)
    if keep_requests_s > 0:
        cutoff = moment - timedelta(seconds=keep_requests_s)
        requests = await _delete_in_chunks(IdempotentRequest, Q(created_at__lt=cutoff), chunk)
    return Pruned(inbox_rows, jobs, uploads, requests)


async def _prune_unused_uploads(cutoff: object, chunk: int) -> int:
    deleted = 0
    while True:
        rows = (
            await Upload.filter(message_id__isnull=True, created_at__lt=cutoff).limit(chunk).values_list("id", "path")
        )
        if rows:
            # The row first: a file without a row is only disk, a row without its file would be offered.
            deleted += await Upload.filter(id__in=[row[0] for row in rows], message_id__isnull=True).delete()
            await asyncio.to_thread(_unlink_all, [str(row[1]) for row in rows])
        if len(rows) < chunk:
            return deleted
        await asyncio.sleep(0)


def _unlink_all(paths: list[str]) -> None:
    for path in paths:
        with contextlib.suppress(OSError):
            os.unlink(path)


async def _delete_in_chunks(model: type[Model], condition: Q, chunk: int) -> int:
    deleted = 0
    while True:
        ids = list(await model.filter(condition).limit(chunk).values_list("id", flat=True))
        if ids:
            deleted += await model.filter(id__in=ids).delete()
        if len(ids) < chunk:
            return deleted
        await asyncio.sleep(0)  # let callbacks in between chunks
