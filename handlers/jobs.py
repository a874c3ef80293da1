"""Which job kinds exist and what runs them, declared here and mounted by the app (bot.app).

Two sorts:
- handled here: the domain's own durable work (a new case's set-up, deadline timers, the return visit).
  Each is a coroutine `run(job, ...)` whose further parameters (`redis`, `settings`) are filled by name once,
  when the app mounts it; all of them only write to the database, so each runs in one transaction with
  marking its job done.
- delivered by the bot: messages and downloads whose payloads handlers enqueue (handlers.cases.outbox) and
  whose senders live in bot.outbound. The app must mount a runner for every one of them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from handlers.cases import actions, deadlines, follow_ups, visits
from handlers.cases.media import DOWNLOAD_MEDIA
from handlers.cases.outbox import SEND_KINDS
from handlers.miniprogram.identity import FETCH_UNIONID
from handlers.topics.opinions import MEDIA_CHECK


@dataclass(frozen=True)
class HandledJob:
    kind: str
    run: Callable[..., Awaitable[dict[str, Any]]]
    transactional: bool = True


HANDLED: tuple[HandledJob, ...] = (
    HandledJob(actions.CASE_CREATED, actions.run_case_created),
    HandledJob(follow_ups.FOLLOW_UPS, follow_ups.run_follow_ups),
    HandledJob(deadlines.SLA_REMIND, deadlines.run_reminder),
    HandledJob(deadlines.SLA_OVERDUE, deadlines.run_overdue),
    HandledJob(visits.VISIT_START, visits.run_visit_start),
    HandledJob(visits.VISIT_TIMEOUT, visits.run_visit_timeout),
)

DELIVERED_BY_BOT: tuple[str, ...] = (*SEND_KINDS, DOWNLOAD_MEDIA, FETCH_UNIONID, MEDIA_CHECK)
