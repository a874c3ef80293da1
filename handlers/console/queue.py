"""The console's queue (`/console`): cases by filter, the untriaged ones in the order of `待办`.

Filters come from the query string, each bounded; an unknown value of a choice is a clear error, never
a silent "everything". Text search: on PostgreSQL `summary LIKE '%…%'` served by the pg_trgm GIN index
of migration 0030 (trigrams work on Chinese text where a B-tree cannot); on SQLite a plain LIKE. A text
that is a tracking code finds that case by its code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from tortoise.expressions import Q, RawSQL
from tortoise.queryset import QuerySet

from handlers.cases.actions import where
from handlers.cases.masking import excerpt
from handlers.settings import Settings
from handlers.texts import console as texts
from models.entities import CASE_STATE_ZH, Case, CaseSource, CaseState, Category, ContactPoint
from models.sla import LOCAL_TZ
from models.state import OWES_REPLY
from models.timeutil import now
from models.tracking import find_code

PAGE_SIZE = 100
TEXT_MAX = 50
ALL = "all"
NO_CATEGORY = "none"
SOURCES = (CaseSource.QR, CaseSource.HOTLINE)


class BadFilter(ValueError):
    """A filter value that cannot be used; the message is Chinese, shown above the queue."""


@dataclass(frozen=True)
class Filters:
    point: str = ""
    category: str = ""
    district: str = ""
    state: str = CaseState.RECEIVED  # the untriaged queue unless asked otherwise ("all": every state)
    source: str = ""
    since: date | None = None
    until: date | None = None
    text: str = ""

    def query(self) -> dict[str, str]:
        """The query string that gives these filters back (for links and the live refresh)."""
        values = {
            "point": self.point,
            "category": self.category,
            "district": self.district,
            "state": self.state,
            "source": self.source,
            "since": self.since.isoformat() if self.since else "",
            "until": self.until.isoformat() if self.until else "",
            "q": self.text,
        }
        return {k: v for k, v in values.items() if v}

    @property
    def is_queue(self) -> bool:
        return self.state == CaseState.RECEIVED


def _day(text: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        raise BadFilter(texts.bad_date(text[:20])) from None


def parse_filters(query: Mapping[str, str]) -> Filters:
    def value(name: str, limit: int = 40) -> str:
        return str(query.get(name, "")).strip()[:limit]

    state = value("state") or CaseState.RECEIVED
    if state != ALL and state not in {s.value for s in CaseState}:
        raise BadFilter(f"没有这个状态：{state}")
    source = value("source")
    if source and source not in SOURCES:
        raise BadFilter(f"没有这个来源：{source}")
    filters = Filters(
        point=value("point"),
        category=value("category"),
        district=value("district", 100),
        state=state,
        source=source,
        since=_day(value("since")),
        until=_day(value("until")),
        text=value("q", TEXT_MAX),
    )
    if filters.since and filters.until and filters.since > filters.until:
        filters = replace(filters, since=filters.until, until=filters.since)
    return filters


@dataclass(frozen=True)
class QueueRow:
    code: str
    urgent: bool
    overdue: bool
    where: str
    district: str
    category: str
    state_zh: str
    source_zh: str
    summary: str
    created: str
    due: str  # the deadline the case runs against now ("—" when none)
    due_left: str
    member: str


@dataclass(frozen=True)
class Options:
    points: list[tuple[str, str]]
    categories: list[tuple[str, str]]
    districts: list[str]
    states: list[tuple[str, str]] = field(default_factory=list)
    sources: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class QueueView:
    filters: Filters
    rows: list[QueueRow]
    total: int
    overdue: int
    options: Options

    @property
    def summary(self) -> str:
        return texts.queue_count(self.total, len(self.rows), self.overdue)


def _local_start(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=ZoneInfo(LOCAL_TZ))


def filtered(filters: Filters, settings: Settings) -> tuple[QuerySet[Case], QuerySet[Case]]:
    """The filtered queryset and the same with its order (queue order for the untriaged)."""
    cases = Case.all()
    if filters.state != ALL:
        cases = cases.filter(state=filters.state)
    if filters.point:
        cases = cases.filter(contact_point__key=filters.point)
    if filters.category == NO_CATEGORY:
        cases = cases.filter(category_id__isnull=True)
    elif filters.category:
        cases = cases.filter(category__key=filters.category)
    if filters.district:
        cases = cases.filter(Q(contact_point__district=filters.district) | Q(district=filters.district))
    if filters.source:
        cases = cases.filter(source=filters.source)
    if filters.since:
        cases = cases.filter(created_at__gte=_local_start(filters.since))
    if filters.until:
        cases = cases.filter(created_at__lt=_local_start(filters.until + timedelta(days=1)))
    if filters.text:
        code = find_code(filters.text, settings.tracking_prefix)
        if code is not None and code.valid:
            cases = cases.filter(code=code.code)
        else:
            cases = cases.filter(summary__contains=filters.text)
    if filters.is_queue:
        # `待办`'s order (handlers/cases/queue.py: score): urgent first, then the assignment deadline (a case
        # without one last), then arrival.
        ordered = cases.annotate(no_due=RawSQL('CASE WHEN "case"."assign_due_at" IS NULL THEN 1 ELSE 0 END'))
        ordered = ordered.order_by("-urgent", "no_due", "assign_due_at", "id")
    else:
        ordered = cases.order_by("-created_at", "-id")
    return cases, ordered


def _overdue(case: Case, moment: datetime) -> tuple[datetime | None, bool]:
    if case.state == CaseState.RECEIVED:
        due = case.assign_due_at if case.source != CaseSource.HOTLINE else None
    elif CaseState(case.state) in OWES_REPLY:
        due = case.reply_due_at
    else:
        due = None
    return due, bool(due and due < moment)


def row_of(case: Case, moment: datetime) -> QueueRow:
    due, late = _overdue(case, moment)
    point = case.contact_point
    district = case.district or (point.district if point else "") or ""
    return QueueRow(
        code=case.code,
        urgent=case.urgent,
        overdue=late,
        where=where(case),
        district=district,
        category=case.category.name if case.category else texts.NO_CATEGORY,
        state_zh=case.state_zh,
        source_zh=texts.SOURCE_ZH.get(case.source, case.source),
        summary=excerpt(case.summary, 80),
        created=texts.console_time(case.created_at),
        due=texts.console_time(due) if due else "—",
        due_left=texts.time_left(due, moment)[0] if due else "",
        member=case.member.name if case.member else "",
    )


async def options() -> Options:
    points = await ContactPoint.all().order_by("key").values_list("key", "name")
    categories = await Category.all().order_by("id").values_list("key", "name")
    districts = sorted({str(d) for d in await ContactPoint.all().values_list("district", flat=True) if d})
    return Options(
        points=[(str(k), str(n)) for k, n in points],
        categories=[(str(k), str(n)) for k, n in categories] + [(NO_CATEGORY, texts.NO_CATEGORY)],
        districts=districts,
        states=[(ALL, texts.STATE_ALL)] + [(s.value, CASE_STATE_ZH[s]) for s in CaseState],
        sources=[(s, texts.SOURCE_ZH[s]) for s in SOURCES],
    )


async def queue_view(filters: Filters, settings: Settings, limit: int = PAGE_SIZE) -> QueueView:
    moment = now()
    cases, ordered = filtered(filters, settings)
    found = await ordered.limit(limit).prefetch_related("contact_point", "category", "member")
    total = await cases.count()
    if filters.is_queue:
        overdue = await cases.filter(assign_due_at__lt=moment, source=CaseSource.QR).count()
    else:
        overdue = sum(1 for case in found if _overdue(case, moment)[1])
    return QueueView(filters, [row_of(case, moment) for case in found], total, overdue, await options())
