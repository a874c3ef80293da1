"""委员履职画像: per member and month, the cases assigned to them and what became of those cases, and the
cases they hold now. The console's members pages and `mashang report members` (issue 17) show this.

A month counts the cases assigned to the member in it (by the time of the case's latest assignment,
Beijing time) that the member still holds or held last: a case handed on to another member counts for
the other member, in the month of that assignment; a case transferred to a department counts for nobody.
Of those cases:

- 接收 accepted: the member accepted it (`收`);
- 答复 replied: the member answered it (`答`) after that assignment; 按时答复 by its reply deadline;
- 平均答复天数: from the assignment to the member's first answer after it, in days (natural time);
- satisfaction: of the cases whose return visit was recorded, the share 满意 or 基本满意.

在办件 open cases: the cases the member holds now (assigned, accepted, waiting for the citizen, reopened),
whenever assigned; listed one by one when the figure is asked for one member.
议题意见 opinions: what the member gave in consultation topics (码上商量, `议` in WeCom) in the month,
less any staff refused.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from tortoise import Tortoise

from handlers.reports.filters import Params, StatsFilter, bucket_sql, case_conditions, cases_from, rate, start_of
from handlers.reports.tables import Figure, Table
from models.entities import Category, ContactPoint, Member
from models.state import HELD_BY_MEMBER
from models.timeutil import now
from models.topics import OpinionStatus

COUNTS = [
    "assigned",
    "accepted",
    "replied",
    "replied_on_time",
    "avg_days_to_reply",
    "rated",
    "satisfied",
    "satisfaction",
    "opinions",
]
ROW_COLUMNS = ["member_key", "member_name", "month", *COUNTS]
MEMBER_COLUMNS = ["member_key", "member_name", *COUNTS, "open_cases"]
OPEN_COLUMNS = ["code", "state", "assigned_at", "reply_due_at", "overdue", "point_name", "category_name"]
OPEN_LIMIT = 500


def _days(dialect: str, later: str, earlier: str) -> str:
    if dialect == "sqlite":
        return f"(julianday({later}) - julianday({earlier}))"
    return f"(EXTRACT(EPOCH FROM ({later} - {earlier})) / 86400.0)"


def _figures(sums: dict[str, Any]) -> dict[str, Any]:
    counts = {name: int(sums.get(name) or 0) for name in ("assigned", "accepted", "replied", "replied_on_time")}
    rated, satisfied = int(sums.get("rated") or 0), int(sums.get("satisfied") or 0)
    days = float(sums.get("reply_days") or 0.0)
    return {
        **counts,
        "avg_days_to_reply": round(days / counts["replied"], 2) if counts["replied"] else None,
        "rated": rated,
        "satisfied": satisfied,
        "satisfaction": rate(satisfied, rated),
    }


async def member_figures(filters: StatsFilter) -> Figure:
    connection = Tortoise.get_connection("default")
    dialect = connection.capabilities.dialect
    months = filters.months()
    params = Params(dialect)
    period = bucket_sql('c."assigned_at"', months, params)
    conditions = case_conditions(filters, params, dates='c."assigned_at"')
    if filters.member is not None:
        conditions.append(f'c."member_id" = {params.add(filters.member.id)}')
    replied = 'c."member_replied_at" IS NOT NULL'
    days = _days(dialect, 'c."member_replied_at"', 'c."assigned_at"')
    sql = (
        f'SELECT {period} AS period, c."member_id" AS member_id, COUNT(*) AS assigned, '
        'SUM(CASE WHEN c."accepted_at" IS NOT NULL THEN 1 ELSE 0 END) AS accepted, '
        f"SUM(CASE WHEN {replied} THEN 1 ELSE 0 END) AS replied, "
        f'SUM(CASE WHEN {replied} AND c."member_replied_at" <= c."reply_due_at" THEN 1 ELSE 0 END) '
        f"AS replied_on_time, SUM(CASE WHEN {replied} THEN {days} ELSE 0 END) AS reply_days, "
        'SUM(CASE WHEN c."visit_recorded_at" IS NOT NULL THEN 1 ELSE 0 END) AS rated, '
        'SUM(CASE WHEN c."visit_recorded_at" IS NOT NULL AND c."satisfaction" IN (1, 2) THEN 1 ELSE 0 END) '
        f'AS satisfied {cases_from(filters)} WHERE c."member_id" IS NOT NULL AND {" AND ".join(conditions)} '
        "GROUP BY 1, 2"
    )
    sums: dict[tuple[int, int], dict[str, Any]] = {}
    for row in await connection.execute_query_dict(sql, params.values):
        sums[(int(row["member_id"]), int(row["period"]))] = row
    if filters.member is not None:
        members = [filters.member]
    else:
        active = await Member.filter(active=True).order_by("key")
        counted = {member_id for member_id, _ in sums}
        others = await Member.filter(id__in=counted, active=False).order_by("key") if counted else []
        members = [*active, *others]  # a member no longer active still has their record
    open_counts = await _open_counts(filters)
    opinions = await _opinion_counts(filters, months)
    rows, totals = [], []
    for member in members:
        total: dict[str, Any] = {}
        for index, month in enumerate(months):
            found = sums.get((member.id, index), {})
            rows.append(
                {
                    "member_key": member.key,
                    "member_name": member.name,
                    "month": month.strftime("%Y-%m"),
                    **_figures(found),
                    "opinions": opinions.get((member.id, index), 0),
                }
            )
            total["opinions"] = total.get("opinions", 0) + opinions.get((member.id, index), 0)
            for name in ("assigned", "accepted", "replied", "replied_on_time", "reply_days", "rated", "satisfied"):
                total[name] = total.get(name, 0) + (found.get(name) or 0)
        totals.append(
            {
                "member_key": member.key,
                "member_name": member.name,
                **_figures(total),
                "opinions": total.get("opinions", 0),
                "open_cases": open_counts.get(member.id, 0),
            }
        )
    tables = {"rows": Table(ROW_COLUMNS, rows), "members": Table(MEMBER_COLUMNS, totals)}
    if filters.member is not None:
        tables["open_cases"] = Table(OPEN_COLUMNS, await open_cases(filters))
    return Figure(
        name="members",
        filters=filters,
        tables=tables,
        facts={"months": [month.strftime("%Y-%m") for month in months]},
    )


async def _opinion_counts(filters: StatsFilter, months: list[date]) -> dict[tuple[int, int], int]:
    """(member id, month index) → the opinions the member gave in 码上商量 topics (议 in WeCom) that
    month, not counting any staff refused (不通过). A topic has no category or district: of the filters
    only the contact point (the one the opinion came through) and the member apply."""
    connection = Tortoise.get_connection("default")
    params = Params(connection.capabilities.dialect)
    period = bucket_sql('o."created_at"', months, params)
    conditions = [
        'o."member_id" IS NOT NULL',
        f"o.\"status\" <> '{OpinionStatus.REJECTED.value}'",
        f'o."created_at" >= {params.add(start_of(filters.since))}',
        f'o."created_at" < {params.add(start_of(filters.until + timedelta(days=1)))}',
    ]
    if filters.member is not None:
        conditions.append(f'o."member_id" = {params.add(filters.member.id)}')
    if filters.point is not None:
        conditions.append(f'o."point_key" = {params.add(filters.point.key)}')
    sql = (
        f'SELECT {period} AS period, o."member_id" AS member_id, COUNT(*) AS n FROM "opinion" o '
        f"WHERE {' AND '.join(conditions)} GROUP BY 1, 2"
    )
    rows = await connection.execute_query_dict(sql, params.values)
    return {(int(row["member_id"]), int(row["period"])): int(row["n"]) for row in rows}


def _held(params: Params) -> str:
    return f'c."state" IN ({", ".join(params.add(state.value) for state in sorted(HELD_BY_MEMBER))})'


async def _open_counts(filters: StatsFilter) -> dict[int, int]:
    connection = Tortoise.get_connection("default")
    params = Params(connection.capabilities.dialect)
    conditions = [_held(params), 'c."member_id" IS NOT NULL', *case_conditions(filters, params, dates=None)]
    if filters.member is not None:
        conditions.append(f'c."member_id" = {params.add(filters.member.id)}')
    where = " AND ".join(conditions)
    sql = f'SELECT c."member_id" AS member_id, COUNT(*) AS n {cases_from(filters)} WHERE {where} GROUP BY 1'
    return {int(row["member_id"]): int(row["n"]) for row in await connection.execute_query_dict(sql, params.values)}


async def open_cases(filters: StatsFilter) -> list[dict[str, Any]]:
    assert filters.member is not None
    connection = Tortoise.get_connection("default")
    params = Params(connection.capabilities.dialect)
    conditions = [_held(params), f'c."member_id" = {params.add(filters.member.id)}']
    conditions += case_conditions(filters, params, dates=None)
    sql = (
        'SELECT c."code", c."state", c."assigned_at", c."reply_due_at", c."contact_point_id", c."category_id" '
        f'{cases_from(filters)} WHERE {" AND ".join(conditions)} ORDER BY c."reply_due_at", c."code" LIMIT {OPEN_LIMIT}'
    )
    rows = await connection.execute_query_dict(sql, params.values)
    points = {p.id: p for p in await ContactPoint.filter(id__in={r["contact_point_id"] for r in rows})}
    categories = {c.id: c for c in await Category.all()}
    moment = now()
    listed = []
    for row in rows:
        assigned, due = _moment(row["assigned_at"]), _moment(row["reply_due_at"])
        point, category = points.get(row["contact_point_id"]), categories.get(row["category_id"])
        listed.append(
            {
                "code": row["code"],
                "state": row["state"],
                "assigned_at": assigned,
                "reply_due_at": due,
                "overdue": due is not None and due < moment,
                "point_key": point.key if point else None,
                "point_name": point.name if point else "",
                "category_key": category.key if category else None,
                "category_name": category.name if category else "",
            }
        )
    return listed


def _moment(value: Any) -> datetime | None:
    """A timestamp of a raw row: SQLite gives the stored text."""
    return datetime.fromisoformat(value) if isinstance(value, str) else value
