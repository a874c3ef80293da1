"""Opening, closing and listing consultation topics (the CLI's `mashang topic`, the triage group's 议题)."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from tortoise.functions import Count

from handlers import payloads
from handlers.cases.masking import excerpt
from handlers.cases.outbox import SEND_CITIZEN
from handlers.texts import miniprogram as mini_texts
from handlers.texts import topics as texts
from models.entities import Citizen, ContactPoint
from models.jobs import enqueue
from models.sla import LOCAL_TZ
from models.timeutil import now
from models.topics import ConsultationTopic, Opinion, OpinionStatus, TopicStatus

KEY = re.compile(r"[a-z0-9-]{1,29}")  # the mini-program scene tp=<key> holds at most 32 characters
TITLE_MAX = 100
BODY_MAX = 5000
SUMMARY_MAX = 2000
TOP = 5


class TopicError(Exception):
    """A topic command that cannot be done; the message says why (Chinese, for the operator)."""


def check_key(key: str) -> str:
    if not KEY.fullmatch(key):
        raise TopicError(texts.BAD_KEY)
    return key


def _text(value: str, limit: int, message: str) -> str:
    value = value.strip()
    if not value or len(value) > limit:
        raise TopicError(message)
    return value


def today() -> date:
    return now().astimezone(ZoneInfo(LOCAL_TZ)).date()


async def create_topic(key: str, title: str, body: str, until: date, points: list[str]) -> ConsultationTopic:
    check_key(key)
    title = _text(title, TITLE_MAX, texts.TITLE_REQUIRED)
    body = _text(body, BODY_MAX, texts.BODY_REQUIRED)
    if until < today():
        raise TopicError(texts.UNTIL_PAST)
    if await ConsultationTopic.exists(key=key):
        raise TopicError(texts.exists(key))
    known = set(await ContactPoint.filter(key__in=points).values_list("key", flat=True))
    missing = [point for point in points if point not in known]
    if missing:
        raise TopicError(texts.unknown_points(missing))
    return await ConsultationTopic.create(key=key, title=title, body=body, until=until, points=points, created_at=now())


def is_open(topic: ConsultationTopic) -> bool:
    """Open to opinions: not closed, and its last day (Beijing time) not past."""
    return topic.status == TopicStatus.OPEN and today() <= topic.until


async def counts(topic_ids: list[int]) -> dict[int, dict[str, int]]:
    """{topic id: {status: opinions}}."""
    rows = (
        await Opinion.filter(topic_id__in=topic_ids)
        .annotate(n=Count("id"))
        .group_by("topic_id", "status")
        .values("topic_id", "status", "n")
    )
    out: dict[int, dict[str, int]] = {}
    for row in rows:
        out.setdefault(row["topic_id"], {})[str(row["status"])] = row["n"]
    return out


async def list_lines(only_open: bool = False) -> list[str]:
    query = ConsultationTopic.all().order_by("-id")
    if only_open:
        query = query.filter(status=TopicStatus.OPEN)
    topics = await query.limit(50)
    if not topics:
        return [texts.NO_TOPICS]
    numbers = await counts([t.id for t in topics])
    return [
        texts.list_line(
            t.key,
            t.title,
            mini_texts.TOPIC_STATUS_ZH["open" if is_open(t) else "closed"],
            t.until,
            numbers.get(t.id, {}).get(OpinionStatus.PUBLISHED, 0),
            numbers.get(t.id, {}).get(OpinionStatus.REVIEW, 0),
        )
        for t in topics
    ]


async def open_topic_counts() -> list[tuple[str, str, int, int]]:
    """(key, title, published, waiting for review) of each topic open to opinions."""
    found = [t for t in await ConsultationTopic.filter(status=TopicStatus.OPEN).order_by("-id").limit(50) if is_open(t)]
    numbers = await counts([t.id for t in found])
    return [
        (
            t.key,
            t.title,
            numbers.get(t.id, {}).get(OpinionStatus.PUBLISHED, 0),
            numbers.get(t.id, {}).get(OpinionStatus.REVIEW, 0),
        )
        for t in found
    ]


@dataclass(frozen=True)
class Closed:
    lines: list[str]
    notified: int


async def close_topic(key: str, summary: str) -> Closed:
    """Post the outcome, send it to every participant (a subscribe message where a consent is left),
    and the summary: counts by day and by contact point, the most supported opinions. In the caller's
    transaction."""
    topic = await ConsultationTopic.get_or_none(key=key)
    if topic is None:
        raise TopicError(texts.not_found(key))
    if topic.status == TopicStatus.CLOSED:
        raise TopicError(texts.already_closed(key))
    summary = _text(summary, SUMMARY_MAX, texts.SUMMARY_REQUIRED)
    moment = now()
    topic.status = TopicStatus.CLOSED
    topic.summary = summary
    topic.closed_at = moment
    await topic.save(update_fields=["status", "summary", "closed_at"])
    opinions = await Opinion.filter(topic=topic).values("id", "citizen_id", "created_at", "point_key", "status")
    participant_ids = sorted({row["citizen_id"] for row in opinions if row["citizen_id"] is not None})
    notified = 0
    outcome = mini_texts.topic_outcome(topic.title, summary)
    for citizen in await Citizen.filter(id__in=participant_ids):
        payload = payloads.send_citizen(
            citizen.openid, citizen.channel, outcome, case_code=None, case_state=None, purpose="topic", topic_key=key
        )
        await enqueue(SEND_CITIZEN, payload, key=f"topic-outcome:{topic.id}:{citizen.id}")
        notified += 1
    local = ZoneInfo(LOCAL_TZ)
    by_day = Counter(row["created_at"].astimezone(local).date().isoformat() for row in opinions)
    by_point = Counter(row["point_key"] or texts.NO_POINT for row in opinions)
    top = await Opinion.filter(topic=topic, status=OpinionStatus.PUBLISHED).order_by("-support_count", "id").limit(TOP)
    lines = texts.closed_head(topic.key, topic.title, len(opinions), len(participant_ids), notified)
    lines.append(texts.BY_DAY)
    lines += [texts.count_line(day, n) for day, n in sorted(by_day.items())]
    lines.append(texts.BY_POINT)
    lines += [texts.count_line(point, n) for point, n in by_point.most_common()]
    lines.append(texts.TOP_OPINIONS)
    lines += [texts.top_line(o.id, o.support_count, excerpt(o.text, 60)) for o in top]
    return Closed(lines, notified)
