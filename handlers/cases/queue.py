"""The triage queue: untriaged cases by urgency and deadline, in a Redis sorted set.

The database is the truth; the set is an index. It is rebuilt from the database at start, updated after
commits, and readers drop entries whose case has moved on. Taking the next case is ZRANGE 0 0 and
counting is ZCARD: both stay fast at a million entries.

A Redis flush or restart while the service runs loses the set and its marker key (written by each
rebuild): the next reader finds the marker gone and rebuilds first, so a case added after the flush
does not stand for the whole queue. `check`, run every few minutes, also repairs an index that drifted
from the database (counts compared: one ZCARD and one indexed COUNT).
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime

import redis.asyncio as aioredis

from handlers.settings import Settings
from models.after_commit import defer
from models.entities import Case, CaseState

log = logging.getLogger(__name__)

URGENT_BONUS = 10**10  # urgent cases sort before every normal case
REBUILD_LOCK_S = 300  # one rebuild at a time across processes; a crashed one's lock lapses


def score(due_at: datetime | None, urgent: bool) -> float:
    base = due_at.timestamp() if due_at else 4 * 10**9
    return base - (URGENT_BONUS if urgent else 0)


def queue_key(settings: Settings) -> str:
    return settings.key("triage", "queue")


def built_key(settings: Settings) -> str:
    """Present while the index holds every waiting case (set by a rebuild; a flush removes it)."""
    return settings.key("triage", "queue", "built")


def _member(case_id: int) -> str:
    """Zero-padded: Redis orders members of equal score as strings, and "000000000010" after
    "000000000009" keeps cases with the same deadline in the order they came ("10" sorts before "9")."""
    return f"{case_id:012d}"


def _every_form(case_ids: list[int]) -> list[str]:
    """What to remove for these cases: the padded member and the unpadded one an older version wrote."""
    return [*map(_member, case_ids), *map(str, case_ids)]


def changes_channel(settings: Settings) -> str:
    """Redis pub/sub channel: a case joined or left the queue (after the commit). The web console's
    live queue listens (`bot/web/console.py`), in whichever process it runs."""
    return settings.key("triage", "queue", "changes")


async def enqueue_case(redis: aioredis.Redis, settings: Settings, case: Case) -> None:
    key, member, value = queue_key(settings), _member(case.id), score(case.assign_due_at, case.urgent)
    note = json.dumps({"op": "add", "code": case.code})

    async def add() -> None:
        async with redis.pipeline(transaction=False) as pipe:
            pipe.zadd(key, {member: value})
            pipe.publish(changes_channel(settings), note)
            await pipe.execute()

    await defer(add)


async def dequeue_case(redis: aioredis.Redis, settings: Settings, case: Case) -> None:
    key, members = queue_key(settings), _every_form([case.id])
    note = json.dumps({"op": "remove", "code": case.code})

    async def remove() -> None:
        async with redis.pipeline(transaction=False) as pipe:
            pipe.zrem(key, *members)
            pipe.publish(changes_channel(settings), note)
            await pipe.execute()

    await defer(remove)


async def ensure_built(redis: aioredis.Redis, settings: Settings) -> None:
    """Rebuild the index first when Redis lost it (flushed, restarted empty)."""
    if not await redis.exists(built_key(settings)):
        await rebuild_once(redis, settings)


async def queue_size(redis: aioredis.Redis, settings: Settings) -> int:
    async with redis.pipeline(transaction=False) as pipe:
        pipe.exists(built_key(settings))
        pipe.zcard(queue_key(settings))
        built, size = await pipe.execute()
    if not built:
        return await rebuild_once(redis, settings)
    return int(size)


async def overdue_count(redis: aioredis.Redis, settings: Settings, moment: datetime) -> int:
    """Untriaged cases past their assignment deadline, from the scores alone: normal cases score their
    deadline (positive), urgent ones their deadline minus URGENT_BONUS (negative)."""
    await ensure_built(redis, settings)
    key, cutoff = queue_key(settings), moment.timestamp()
    async with redis.pipeline(transaction=False) as pipe:
        pipe.zcount(key, 0, f"({cutoff}")
        pipe.zcount(key, "-inf", f"({cutoff - URGENT_BONUS}")
        normal, urgent = await pipe.execute()
    return int(normal) + int(urgent)


async def next_case_ids(redis: aioredis.Redis, settings: Settings, count: int) -> list[int]:
    await ensure_built(redis, settings)
    members = await redis.zrange(queue_key(settings), 0, count - 1)
    return [int(str(m.decode() if isinstance(m, bytes) else m)) for m in members]


async def queued_cases(redis: aioredis.Redis, settings: Settings, count: int) -> list[Case]:
    """The first `count` untriaged cases, dropping stale entries on the way."""
    ids = await next_case_ids(redis, settings, count * 2)
    if not ids:
        return []
    cases = {c.id: c for c in await Case.filter(id__in=ids).prefetch_related("contact_point")}
    stale = [i for i in ids if i not in cases or cases[i].state != CaseState.RECEIVED]
    if stale:
        await redis.zrem(queue_key(settings), *_every_form(stale))
    return [cases[i] for i in ids if i not in stale][:count]


async def rebuild(redis: aioredis.Redis, settings: Settings, batch: int = 5000) -> int:
    """Replace the index with every case the database says is waiting for triage."""
    key = queue_key(settings)
    temp = key + ":rebuild"
    await redis.delete(temp)
    total, last_id = 0, 0
    while True:
        rows = await (
            Case.filter(state=CaseState.RECEIVED, id__gt=last_id)
            .order_by("id")
            .limit(batch)
            .values_list("id", "assign_due_at", "urgent")
        )
        if not rows:
            break
        await redis.zadd(temp, {_member(case_id): score(due, urgent) for case_id, due, urgent in rows})
        total += len(rows)
        last_id = rows[-1][0]
    if total:
        await redis.rename(temp, key)
    else:
        await redis.delete(key)
    await redis.set(built_key(settings), "1")
    return total


async def rebuild_once(redis: aioredis.Redis, settings: Settings) -> int:
    """`rebuild`, unless another reader or process is at it already (then the set as it is now)."""
    lock = settings.key("triage", "queue", "rebuilding")
    if not await redis.set(lock, "1", nx=True, ex=REBUILD_LOCK_S):
        return int(await redis.zcard(queue_key(settings)))
    try:
        total = await rebuild(redis, settings)
    finally:
        await redis.delete(lock)
    log.info("triage queue rebuilt from the database: cases waiting: %d", total)
    return total


async def check(redis: aioredis.Redis, settings: Settings, settle_s: float = 2.0) -> int | None:
    """Rebuild the index when it is missing or holds another number of cases than the database says
    wait for triage (asked twice, `settle_s` apart, so that a change between commit and index update
    is not taken for drift). Returns the cases rebuilt, None when the index was in step."""

    async def in_step() -> bool:
        async with redis.pipeline(transaction=False) as pipe:
            pipe.exists(built_key(settings))
            pipe.zcard(queue_key(settings))
            built, size = await pipe.execute()
        return bool(built) and int(size) == await Case.filter(state=CaseState.RECEIVED).count()

    if await in_step():
        return None
    if settle_s > 0:
        await asyncio.sleep(settle_s)
        if await in_step():
            return None
    return await rebuild_once(redis, settings)
