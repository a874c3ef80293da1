"""The filters every console figure takes (date range, contact point, category, district, source), read
and checked from plain strings (a query string, CLI options), and the SQL they put in a WHERE.

Dates are Beijing calendar days. Weekly figures count whole weeks, Monday to Sunday: the range grows
to the Monday before `since` and the Sunday after `until` (the figure says which weeks it counts).
Monthly figures (members) count whole calendar months likewise. A filter naming a contact point or a
category that the roster does not have is an error (`FilterError` names the field), not an empty figure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from handlers.texts import stats as texts
from models.entities import CaseSource, Category, ContactPoint, Member
from models.timeutil import now
from models.tracking import LOCAL_TZ

DEFAULT_WEEKS = 12  # without `since`: the last 12 weeks
MAX_DAYS = 371  # 53 weeks
DEFAULT_MONTHS = 6
MAX_MONTHS = 24
TEXT_MAX = 100
SOURCES = (CaseSource.QR, CaseSource.HOTLINE)
FIELDS = ("since", "until", "point", "category", "district", "source")


class FilterError(ValueError):
    """A filter's value is not acceptable: `field` names it, `message` (Chinese) says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class StatsFilter:
    since: date
    until: date  # inclusive
    point: ContactPoint | None = None
    category: Category | None = None
    district: str | None = None
    source: str | None = None
    member: Member | None = None  # the members figure only

    def to_json(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "point": self.point.key if self.point else None,
            "category": self.category.key if self.category else None,
            "district": self.district,
            "source": self.source,
            **({"member": self.member.key} if self.member else {}),
        }

    def described(self) -> list[tuple[str, str]]:
        """The filters in Chinese, for an export's first sheet."""
        return texts.filter_lines(
            self.since,
            self.until,
            self.point.name if self.point else None,
            self.category.name if self.category else None,
            self.district,
            self.source,
            self.member.name if self.member else None,
        )

    # ---- ranges -------------------------------------------------------------------------------------

    def weeks(self) -> list[date]:
        """The Mondays of the whole weeks the range covers."""
        first = self.since - timedelta(days=self.since.weekday())
        return [first + timedelta(weeks=index) for index in range((self.until - first).days // 7 + 1)]

    def months(self) -> list[date]:
        """The first days of the calendar months the range covers."""
        months, cursor = [], self.since.replace(day=1)
        while cursor <= self.until:
            months.append(cursor)
            cursor = next_month(cursor)
        return months


def next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def start_of(day: date) -> datetime:
    """Beijing midnight at the start of `day`, in UTC."""
    return datetime.combine(day, time(), tzinfo=LOCAL_TZ).astimezone(UTC)


def today() -> date:
    return now().astimezone(LOCAL_TZ).date()


def _day(query: Mapping[str, str], name: str) -> date | None:
    value = query.get(name)
    if value is None or value == "":
        return None
    try:
        return date.fromisoformat(value) if len(value) == 10 else _bad_date(name, value)
    except ValueError:
        return _bad_date(name, value)


def _bad_date(name: str, value: str) -> date:
    raise FilterError(name, texts.not_a_date(value[:20]))


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _text(query: Mapping[str, str], name: str) -> str | None:
    value = query.get(name)
    if value is None or not value.strip():
        return None
    if len(value) > TEXT_MAX:
        raise FilterError(name, texts.too_long(TEXT_MAX))
    if _CONTROL.search(value):  # a NUL byte is an error on PostgreSQL: it never reaches a query
        raise FilterError(name, texts.CONTROL_CHARACTERS)
    return value.strip()


def month_value(text: str, name: str = "month") -> date:
    """YYYY-MM: the first day of that month."""
    try:
        if len(text) != 7:
            raise ValueError(text)
        return date.fromisoformat(f"{text}-01")
    except ValueError:
        raise FilterError(name, texts.not_a_month(text[:20])) from None


async def parse_filters(query: Mapping[str, str], *, monthly: bool = False, extra: tuple[str, ...] = ()) -> StatsFilter:
    """Read the filters of a query string. Unknown parameters are an error too (a typo must not be
    taken for "no filter"); `extra` names the other parameters the caller reads itself."""
    for name in query:
        if name not in FIELDS and name not in extra and not (monthly and name == "member"):
            raise FilterError(name, texts.UNKNOWN_PARAMETER)
    until = _day(query, "until") or today()
    since = _day(query, "since")
    if monthly:
        if since is None:
            first = until.replace(day=1)
            for _ in range(DEFAULT_MONTHS - 1):
                first = (first - timedelta(days=1)).replace(day=1)
            since = first
        since = since.replace(day=1)
        until = next_month(until.replace(day=1)) - timedelta(days=1)
    else:
        if since is None:
            since = until - timedelta(days=7 * DEFAULT_WEEKS - 1)
        since = since - timedelta(days=since.weekday())
        until = until + timedelta(days=6 - until.weekday())
    if since > until:
        raise FilterError("since", texts.SINCE_AFTER_UNTIL)
    if monthly:
        months = (until.year - since.year) * 12 + until.month - since.month + 1
        if months > MAX_MONTHS:
            raise FilterError("since", texts.range_too_long_months(MAX_MONTHS))
    elif (until - since).days + 1 > MAX_DAYS:
        raise FilterError("since", texts.range_too_long_weeks(MAX_DAYS // 7))
    point = category = member = None
    if (key := _text(query, "point")) is not None:
        point = await ContactPoint.get_or_none(key=key)
        if point is None:
            raise FilterError("point", texts.NO_SUCH_POINT)
    if (key := _text(query, "category")) is not None:
        category = await Category.get_or_none(key=key)
        if category is None:
            raise FilterError("category", texts.NO_SUCH_CATEGORY)
    if monthly and (key := _text(query, "member")) is not None:
        member = await Member.get_or_none(key=key)
        if member is None:
            raise FilterError("member", texts.NO_SUCH_MEMBER)
    source = _text(query, "source")
    if source is not None and source not in SOURCES:
        raise FilterError("source", texts.BAD_SOURCE)
    return StatsFilter(since, until, point, category, _text(query, "district"), source, member)


# ---- SQL ------------------------------------------------------------------------------------------------

DISTRICT_SQL = "COALESCE(NULLIF(c.\"district\", ''), p.\"district\", '')"


def cases_from(filters: StatsFilter, *, district: bool = False) -> str:
    """`FROM "case" c`, joined with its contact point `p` when a district is asked for (a QR case's
    district is its point's): the join costs a lookup per case."""
    if district or filters.district is not None:
        return 'FROM "case" c LEFT JOIN "contact_point" p ON p."id" = c."contact_point_id"'
    return 'FROM "case" c'


class Params:
    """Bound parameters in the dialect's style (`?` or `$n`), datetimes as each dialect compares them."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self.values: list[Any] = []

    def add(self, value: Any) -> str:
        if isinstance(value, datetime):
            value = value.astimezone(UTC)
            if self.dialect == "sqlite":  # SQLite compares the stored UTC text
                value = value.isoformat(" ")
        elif isinstance(value, date) and self.dialect == "sqlite":
            value = value.isoformat()  # as a DateField is stored
        self.values.append(value)
        return "?" if self.dialect == "sqlite" else f"${len(self.values)}"


def case_conditions(filters: StatsFilter, params: Params, *, dates: str | None = 'c."created_at"') -> list[str]:
    """WHERE conditions on `"case" c` (joined with its contact point `p`) for the filters; `dates`: the
    column the date range applies to (None: no date range)."""
    conditions = []
    if dates is not None:
        conditions.append(f"{dates} >= {params.add(start_of(filters.since))}")
        conditions.append(f"{dates} < {params.add(start_of(filters.until + timedelta(days=1)))}")
    if filters.point is not None:
        conditions.append(f'c."contact_point_id" = {params.add(filters.point.id)}')
    if filters.category is not None:
        conditions.append(f'c."category_id" = {params.add(filters.category.id)}')
    if filters.district is not None:
        conditions.append(f"{DISTRICT_SQL} = {params.add(filters.district)}")
    if filters.source is not None:
        conditions.append(f'c."source" = {params.add(filters.source)}')
    return conditions


def bucket_sql(column: str, starts: list[date], params: Params) -> str:
    """The index of the period (week or month) `column` falls in: 0 for the first of `starts`, ...; -1
    before the first (the range's WHERE leaves none after the last)."""
    whens = " ".join(
        f"WHEN {column} < {params.add(start_of(start))} THEN {index - 1}" for index, start in enumerate(starts)
    )
    return f"CASE {whens} ELSE {len(starts) - 1} END"


def week_sql(column: str, first: date, params: Params, *, is_date: bool = False) -> str:
    """The index of the week `column` falls in, counted from the week starting on Monday `first` (0);
    Beijing time has no daylight saving, so a week is 7 × 86,400 s. Arithmetic rather than a CASE of
    53 bounds: it costs the same whatever the range. Only for rows at or after `first`."""
    if params.dialect == "sqlite":
        start = params.add(first if is_date else start_of(first))
        return f"CAST((julianday({column}) - julianday({start})) / 7 AS INTEGER)"
    if is_date:
        return f"(({column} - {params.add(first)}::date) / 7)"
    return (
        f"CAST(FLOOR(EXTRACT(EPOCH FROM ({column} - {params.add(start_of(first))}::timestamptz)) / 604800) AS INTEGER)"
    )


def rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None
