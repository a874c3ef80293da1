"""Leads and topics (线索、专题): staff mark cases as leads of a topic (`线索`), list topics and look at one
(`专题`), take a case out again (`专题 <名> 移除 <编号>`); the draft report (handlers/reports/draft.py)
reads a topic's cases and figures from here. Plain data: handlers/texts/staff.py renders it for the chat.

A case is named by its tracking code, or, for a 12345 hotline case, by its work-order number as well
(`hotline_order.external_id`). QR and hotline cases are leads alike. Marking and removing are recorded
on each case's timeline (`lead.marked`, `lead.removed`, with the topic's name).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from tortoise import Tortoise
from tortoise.transactions import in_transaction

from handlers.texts import commands as command_texts
from handlers.texts import staff as texts
from models.bulk import placeholders
from models.entities import Case, CaseEvent, CaseSource
from models.hotline import HotlineOrder
from models.leads import TOPIC_NAME_MAX, LeadTopic, LeadTopicCase
from models.timeutil import now
from models.tracking import LOCAL_TZ, find_code

MAX_CODES = 50  # cases one `线索` line may mark


class TopicError(Exception):
    """A topic command that cannot be carried out; the message is what staff read (Chinese)."""


@dataclass(frozen=True)
class MarkResult:
    topic: str
    created: bool  # the topic was made by this command
    added: list[str]  # codes marked now
    already: list[str]  # codes that were leads of the topic before
    total: int  # the topic's cases after it


@dataclass(frozen=True)
class TopicSummary:
    name: str
    cases: int
    hotline: int
    created_at: datetime


@dataclass(frozen=True)
class LeadCase:
    case_id: int
    code: str
    source: str
    external_id: str | None  # the hotline's number
    district: str  # "" when unknown
    point_name: str | None  # a QR case's contact point
    created_at: datetime
    state: str
    satisfaction: int | None  # 1 满意, 2 基本满意, 3 不满意: the latest return visit, if answered


@dataclass(frozen=True)
class Excerpt:
    """A representative case of a topic for the draft report: its text masked already."""

    code: str
    external_id: str | None
    district: str
    point_name: str | None
    created_at: datetime
    text: str  # phone and ID numbers, e-mail addresses and names masked


@dataclass(frozen=True)
class TopicFigures:
    """What the chat's `专题 <名>` and the draft report say about a topic's cases."""

    name: str
    cases: list[LeadCase]  # oldest first
    weeks: list[tuple[date, int]]  # (Monday, cases received that week, Beijing time), first to last week
    districts: list[tuple[str, int]]  # most cases first; "" for unknown
    points: list[tuple[str, int]]  # QR cases per contact point, most first
    satisfaction: dict[int, int]  # score -> answered return visits with it

    @property
    def total(self) -> int:
        return len(self.cases)

    @property
    def hotline(self) -> int:
        return sum(case.source == CaseSource.HOTLINE for case in self.cases)

    @property
    def answered(self) -> int:
        return sum(self.satisfaction.values())

    @property
    def satisfied(self) -> int:
        """满意 or 基本满意: the committee's satisfaction rate counts both (handlers/cases/figures.py)."""
        return self.satisfaction.get(1, 0) + self.satisfaction.get(2, 0)


def check_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise TopicError(command_texts.usage(texts.usage("线索")))
    if len(name) > TOPIC_NAME_MAX:
        raise TopicError(texts.topic_name_too_long(TOPIC_NAME_MAX))
    return name


async def find_lead_case(token: str, prefix: str) -> Case:
    """A case by tracking code, or a hotline case by its work-order number."""
    check = find_code(token, prefix)
    if check is not None and check.code is not None and len(token) <= len(check.code) + 2:
        if not check.valid:
            raise TopicError(command_texts.check_digit_failed(check.code))
        case = await Case.get_or_none(code=check.code)
        if case is None:
            raise TopicError(command_texts.no_such_case(check.code))
        return case
    order = await HotlineOrder.get_or_none(external_id=token).prefetch_related("case")
    if order is None:
        raise TopicError(texts.no_such_lead(token))
    return order.case


async def find_topic(name: str) -> LeadTopic:
    topic = await LeadTopic.get_or_none(name=name.strip())
    if topic is None:
        raise TopicError(texts.no_such_topic(name.strip(), [t.name for t in await LeadTopic.all().limit(200)]))
    return topic


async def mark_leads(tokens: list[str], name: str, actor: str, prefix: str) -> MarkResult:
    """`线索 <编号> [<编号>...] <专题名>`: the cases named by `tokens` become leads of the topic `name`
    (made when it does not exist). Every token must name a case, or nothing is marked."""
    name = check_name(name)
    if find_code(name, prefix) is not None:  # "线索 MS… MS…": the topic's name was forgotten
        raise TopicError(texts.topic_name_missing())
    if not tokens:
        raise TopicError(command_texts.usage(texts.usage("线索")))
    if len(tokens) > MAX_CODES:
        raise TopicError(texts.too_many_codes(MAX_CODES))
    cases: dict[int, Case] = {}
    for token in tokens:
        case = await find_lead_case(token, prefix)
        cases.setdefault(case.id, case)
    moment = now()
    async with in_transaction():
        topic = await LeadTopic.get_or_none(name=name)
        created = topic is None
        if topic is None:
            topic = await LeadTopic.create(name=name, created_by=actor, created_at=moment)
        known = set(await LeadTopicCase.filter(topic=topic, case_id__in=list(cases)).values_list("case_id", flat=True))
        added, already = [], []
        for case in cases.values():
            if case.id in known:
                already.append(case.code)
                continue
            await LeadTopicCase.create(topic=topic, case=case, added_by=actor, added_at=moment)
            await CaseEvent.create(
                case=case, kind="lead.marked", actor=actor, detail={"topic": name}, created_at=moment
            )
            added.append(case.code)
        total = await LeadTopicCase.filter(topic=topic).count()
    return MarkResult(topic=name, created=created, added=added, already=already, total=total)


async def remove_lead(name: str, token: str, actor: str, prefix: str) -> tuple[str, int]:
    """`专题 <名> 移除 <编号>`: the case is no longer a lead of the topic. (its code, cases left)"""
    topic = await find_topic(name)
    case = await find_lead_case(token, prefix)
    async with in_transaction():
        deleted = await LeadTopicCase.filter(topic=topic, case=case).delete()
        if not deleted:
            raise TopicError(texts.not_a_lead(case.code, topic.name))
        await CaseEvent.create(
            case=case, kind="lead.removed", actor=actor, detail={"topic": topic.name}, created_at=now()
        )
        left = await LeadTopicCase.filter(topic=topic).count()
    return case.code, left


async def _query(sql: str, params: list[Any]) -> list[dict[str, Any]]:
    return await Tortoise.get_connection("default").execute_query_dict(sql, params)


def _dialect() -> str:
    return str(Tortoise.get_connection("default").capabilities.dialect)


async def list_topics() -> list[TopicSummary]:
    """Every topic with its cases and how many of them came from the hotline, newest topic first."""
    rows = await _query(
        'SELECT t."id" AS id, t."name" AS name, t."created_at" AS created_at, COUNT(l."id") AS n, '
        f"COALESCE(SUM(CASE WHEN c.\"source\" = '{CaseSource.HOTLINE}' THEN 1 ELSE 0 END), 0) AS hotline "
        'FROM "lead_topic" t LEFT JOIN "lead_topic_case" l ON l."topic_id" = t."id" '
        'LEFT JOIN "case" c ON c."id" = l."case_id" '
        'GROUP BY t."id", t."name", t."created_at" ORDER BY t."created_at" DESC, t."id" DESC',
        [],
    )
    topics = {t.id: t for t in await LeadTopic.filter(id__in=[int(row["id"]) for row in rows])}
    return [
        TopicSummary(
            name=str(row["name"]),
            cases=int(row["n"]),
            hotline=int(row["hotline"]),
            created_at=topics[int(row["id"])].created_at,  # as the ORM reads it (SQLite keeps text)
        )
        for row in rows
    ]


async def topic_cases(topic: LeadTopic) -> list[LeadCase]:
    """The topic's cases, oldest first, with what the report needs of each."""
    mark = placeholders(_dialect(), 1, 1)
    rows = await _query(
        'SELECT c."id" AS id, c."code" AS code, c."source" AS source, h."external_id" AS external_id, '
        'COALESCE(NULLIF(c."district", \'\'), p."district", \'\') AS district, p."name" AS point_name, '
        'c."state" AS state, c."satisfaction" AS satisfaction '
        'FROM "lead_topic_case" l JOIN "case" c ON c."id" = l."case_id" '
        'LEFT JOIN "contact_point" p ON p."id" = c."contact_point_id" '
        'LEFT JOIN "hotline_order" h ON h."case_id" = c."id" '
        f'WHERE l."topic_id" = {mark}',
        [topic.id],
    )
    # created_at through the ORM: it reads SQLite's stored text and PostgreSQL's timestamps alike.
    created = dict(await Case.filter(id__in=[int(row["id"]) for row in rows]).values_list("id", "created_at"))
    cases = [
        LeadCase(
            case_id=int(row["id"]),
            code=str(row["code"]),
            source=str(row["source"]),
            external_id=row["external_id"],
            district=str(row["district"] or ""),
            point_name=row["point_name"] if row["source"] != CaseSource.HOTLINE else None,
            created_at=created[int(row["id"])],
            state=str(row["state"]),
            satisfaction=int(row["satisfaction"]) if row["satisfaction"] is not None else None,
        )
        for row in rows
    ]
    cases.sort(key=lambda case: (case.created_at, case.case_id))
    return cases


def monday_of(moment: datetime) -> date:
    day = moment.astimezone(LOCAL_TZ).date()
    return day - timedelta(days=day.weekday())


def _ranked(counter: Counter[str]) -> list[tuple[str, int]]:
    return sorted(counter.items(), key=lambda item: (-item[1], item[0] == "", item[0]))


def figures_of(name: str, cases: list[LeadCase]) -> TopicFigures:
    weekly = Counter(monday_of(case.created_at) for case in cases)
    weeks: list[tuple[date, int]] = []
    if weekly:
        week, last = min(weekly), max(weekly)
        while week <= last:
            weeks.append((week, weekly.get(week, 0)))
            week += timedelta(days=7)
    return TopicFigures(
        name=name,
        cases=cases,
        weeks=weeks,
        districts=_ranked(Counter(case.district for case in cases)),
        points=_ranked(Counter(case.point_name for case in cases if case.point_name)),
        satisfaction=dict(Counter(case.satisfaction for case in cases if case.satisfaction is not None)),
    )


async def topic_figures(name: str) -> TopicFigures:
    topic = await find_topic(name)
    return figures_of(topic.name, await topic_cases(topic))
