"""A citizen's follow-ups to the member who holds the case, gathered into digests.

A citizen can write a thousand messages in seconds. Forwarded one by one they filled the member's WeCom
queue (30 messages a minute) for half an hour. Instead a follow-up only makes sure that a digest job
waits for its case: the first goes out at once, each later one at least DIGEST_INTERVAL after the one
before, carrying every follow-up since, up to what one message holds (DIGEST_MAX_ITEMS, about
DIGEST_MAX_CHARS characters); the rest waits for the next digest. Nothing is dropped: the messages are on
the case, and the digests carry each exactly once (`follow_up_forward` remembers how far they got).
A citizen writing more than PACE_LIMIT messages a minute is asked, politely, to slow down; what they
write is stored all the same.

The citizen's transaction and the digest job both lock the case's `follow_up_forward` row first
(PostgreSQL; SQLite runs one transaction at a time), so a follow-up is either read by a digest job
already under way or, the job having freed its key, queues the next one.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import redis.asyncio as aioredis
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from handlers import payloads
from handlers.cases.masking import excerpt
from handlers.cases.media import LABELS
from handlers.cases.outbox import send_to_member
from handlers.settings import Settings
from handlers.texts import citizen as citizen_texts
from handlers.texts import member as member_texts
from models.entities import Case, CaseMessage, FollowUpForward, Member
from models.jobs import Job, enqueue
from models.state import TERMINAL
from models.timeutil import now

FOLLOW_UPS = "case.follow_ups"
DIGEST_INTERVAL = timedelta(minutes=1)
DIGEST_MAX_ITEMS = 30
DIGEST_MAX_CHARS = 600  # a WeCom text holds 2,048 bytes: about 680 Chinese characters
ITEM_CHARS = 200  # one follow-up in a digest of several
PACE_LIMIT = 20  # a citizen's messages within PACE_WINDOW_S before they are asked to slow down
PACE_WINDOW_S = 60


async def over_pace(redis: aioredis.Redis, settings: Settings, openid: str) -> bool:
    """Count a citizen's message; True past PACE_LIMIT within PACE_WINDOW_S (a Redis counter with a TTL).
    The message is kept all the same: only the answer changes."""
    key = settings.key("pace", openid)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.incr(key)
        pipe.ttl(key)
        count, ttl = await pipe.execute()
    if int(ttl) < 0:  # a new counter (or one a crash left without its TTL)
        await redis.expire(key, PACE_WINDOW_S)
    return int(count) > PACE_LIMIT


def pending_key(case_id: int) -> str:
    """The key of the digest job waiting for a case (at most one waits; a running one lets go of it)."""
    return f"{FOLLOW_UPS}:{case_id}"


async def _locked_mark(case_id: int) -> FollowUpForward | None:
    return await FollowUpForward.filter(case_id=case_id).select_for_update().first()


async def gather(case: Case, message: CaseMessage) -> None:
    """A follow-up on a case a member holds: see that a digest will carry it."""
    mark = await _locked_mark(case.id)
    if mark is None:  # the case's first follow-up to a member: digests start from this one
        try:
            async with in_transaction():  # a savepoint: a concurrent first must not abort the caller
                mark = await FollowUpForward.create(case_id=case.id, through_message_id=message.id - 1)
        except IntegrityError:
            mark = await _locked_mark(case.id)
    moment = now()
    sent_at = mark.sent_at if mark is not None else None
    run_at = moment if sent_at is None else max(moment, sent_at + DIGEST_INTERVAL)
    await enqueue(FOLLOW_UPS, payloads.follow_ups(case.id), key=pending_key(case.id), case_id=case.id, run_at=run_at)


def message_text(message: CaseMessage) -> str:
    return f"{LABELS.get(message.msg_type, '')}{message.content}"


async def run_follow_ups(job: Job) -> dict[str, Any]:
    """Forward what the citizen added since the last digest to the member holding the case now."""
    case_id = payloads.read(job.payload, payloads.FollowUps)["case_id"]
    mark = await _locked_mark(case_id)
    # From here on a follow-up queues the next digest instead of counting on this one.
    await Job.filter(id=job.id).update(key=f"{pending_key(case_id)}:{job.id}")
    case = await Case.get_or_none(id=case_id)
    if mark is None or case is None:
        return {"skipped": "no case"}
    member_id: int | None = case.member_id  # type: ignore[attr-defined]
    member = await Member.get_or_none(id=member_id) if member_id is not None else None
    if member is None or case.state in TERMINAL:
        return {"skipped": "no member holds the case"}
    rows = (
        await CaseMessage.filter(case_id=case_id, direction="in", id__gt=mark.through_message_id)
        .order_by("id")
        .limit(DIGEST_MAX_ITEMS)
    )
    if not rows:
        return {"skipped": "nothing new"}
    taken: list[CaseMessage] = []
    used = 0
    for row in rows:
        size = len(excerpt(message_text(row), ITEM_CHARS)) + 4
        if taken and used + size > DIGEST_MAX_CHARS:
            break
        taken.append(row)
        used += size
    left = await CaseMessage.filter(case_id=case_id, direction="in", id__gt=taken[-1].id).count()
    interval = citizen_texts.duration_zh(DIGEST_INTERVAL.total_seconds())
    text = member_texts.citizen_follow_ups(case.code, [message_text(row) for row in taken], left, interval)
    await send_to_member(member, text, case=case, low_priority=True)  # assignments and notices go first
    moment = now()
    mark.through_message_id = taken[-1].id
    mark.sent_at = moment
    await mark.save(update_fields=["through_message_id", "sent_at"])
    if left:
        next_run = moment + DIGEST_INTERVAL
        await enqueue(
            FOLLOW_UPS, payloads.follow_ups(case_id), key=pending_key(case_id), case_id=case_id, run_at=next_run
        )
    return {"forwarded": len(taken), "left": left}
