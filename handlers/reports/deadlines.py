"""时限: the committee's promise (assigned within 2 days, replied within 1 week, every answered case
visited) per week and per contact point, and the cases overdue now with who holds each.

Counted as `统计` counts (handlers/cases/figures.py), by the week a case was received: 已分拣 the cases
with a first triage decision, 按时交办 those decided by their assignment deadline; 已答复 the cases with
a first reply, 按时答复 those replied by their reply deadline; 应回访 the cases whose return visit is due
(the survey went out, or staff recorded one by phone), 已回访 those with a visit recorded, and
satisfaction the share 满意 or 基本满意 of those. Hotline cases get no deadlines: they count as 新件 only.

The overdue list is now: cases waiting for triage past their assignment deadline, and cases owed a reply
(held by a member or transferred to a department) past their reply deadline, most overdue first. It
takes the contact point, category, district and source filters, not the date range (an overdue case
received before the range is overdue all the same).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tortoise import Tortoise

from handlers.reports.filters import Params, StatsFilter, case_conditions, cases_from, rate, week_sql
from handlers.reports.tables import Figure, Table
from handlers.settings import Settings
from models.entities import CaseState, Category, ContactPoint, Department, Member
from models.state import OWES_REPLY
from models.timeutil import now

OVERDUE_LIMIT = 500
FIGURES = [
    "new_cases",
    "triaged",
    "triaged_on_time",
    "triage_rate",
    "replied",
    "replied_on_time",
    "reply_rate",
    "visits_due",
    "visits_recorded",
    "visit_rate",
    "satisfied",
    "satisfaction",
]
OVERDUE_COLUMNS = [
    "code",
    "stage",
    "state",
    "due_at",
    "overdue_hours",
    "holder_kind",
    "holder_name",
    "point_name",
    "category_name",
]
SUMS = (
    "COUNT(*) AS new_cases, "
    'SUM(CASE WHEN c."triaged_at" IS NOT NULL THEN 1 ELSE 0 END) AS triaged, '
    'SUM(CASE WHEN c."triaged_at" IS NOT NULL AND c."triaged_on_time" THEN 1 ELSE 0 END) AS triaged_on_time, '
    'SUM(CASE WHEN c."first_replied_at" IS NOT NULL THEN 1 ELSE 0 END) AS replied, '
    'SUM(CASE WHEN c."first_replied_at" IS NOT NULL AND c."replied_on_time" THEN 1 ELSE 0 END) AS replied_on_time, '
    'SUM(CASE WHEN c."visit_sent_at" IS NOT NULL OR c."visit_recorded_at" IS NOT NULL THEN 1 ELSE 0 END) '
    "AS visits_due, "
    'SUM(CASE WHEN c."visit_recorded_at" IS NOT NULL THEN 1 ELSE 0 END) AS visits_recorded, '
    'SUM(CASE WHEN c."visit_recorded_at" IS NOT NULL AND c."satisfaction" IN (1, 2) THEN 1 ELSE 0 END) AS satisfied'
)


def figures_of(row: dict[str, Any]) -> dict[str, Any]:
    counts = {name: int(row.get(name) or 0) for name in FIGURES if not name.endswith("rate") and name != "satisfaction"}
    return {
        **counts,
        "triage_rate": rate(counts["triaged_on_time"], counts["triaged"]),
        "reply_rate": rate(counts["replied_on_time"], counts["replied"]),
        "visit_rate": rate(counts["visits_recorded"], counts["visits_due"]),
        "satisfaction": rate(counts["satisfied"], counts["visits_recorded"]),
    }


async def deadlines(filters: StatsFilter, settings: Settings) -> Figure:
    connection = Tortoise.get_connection("default")
    dialect = connection.capabilities.dialect
    weeks = filters.weeks()
    params = Params(dialect)
    period = week_sql('c."created_at"', weeks[0], params)
    where = " AND ".join(case_conditions(filters, params))
    source = cases_from(filters)
    sql = f'SELECT {period} AS period, c."contact_point_id" AS point_id, {SUMS} {source} WHERE {where} GROUP BY 1, 2'
    rows = await connection.execute_query_dict(sql, params.values)
    per_week: list[dict[str, int]] = [{} for _ in weeks]
    per_point: dict[int | None, dict[str, int]] = {}
    for row in rows:
        index = int(row["period"])
        for target in (per_week[index], per_point.setdefault(row["point_id"], {})):
            for name, value in row.items():
                if name not in ("period", "point_id"):
                    target[name] = target.get(name, 0) + int(value or 0)
    points = {p.id: p for p in await ContactPoint.all()}
    point_rows = []
    for point_id, sums in per_point.items():
        point = points.get(point_id) if point_id is not None else None
        key, name = (point.key, point.name) if point else ("", "")
        point_rows.append({"point_key": key, "point_name": name, **figures_of(sums)})
    point_rows.sort(key=lambda r: (-r["new_cases"], r["point_key"]))
    sla = settings.sla
    overdue, overdue_total = await overdue_cases(filters)
    return Figure(
        name="deadlines",
        filters=filters,
        tables={
            "weeks": Table(
                ["week", *FIGURES],
                [{"week": week.isoformat(), **figures_of(per_week[i])} for i, week in enumerate(weeks)],
            ),
            "points": Table(["point_key", "point_name", *FIGURES], point_rows),
            "overdue": Table(OVERDUE_COLUMNS, overdue),
        },
        facts={
            "promise": {
                "assign_within_hours": round(sla.assign_within / 3600, 2),
                "reply_within_days": round(sla.reply_within / 86400, 2),
                "visit_rate": 1.0,
            },
            "weeks_counted": [week.isoformat() for week in weeks],
            "overdue_total": overdue_total,
        },
    )


def _overdue_where(filters: StatsFilter, params: Params, moment: datetime) -> str:
    owes = ", ".join(f"'{state.value}'" for state in sorted(OWES_REPLY))
    late = (
        f'((c."state" = \'{CaseState.RECEIVED.value}\' AND c."assign_due_at" < {params.add(moment)}) '
        f'OR (c."state" IN ({owes}) AND c."reply_due_at" < {params.add(moment)}))'
    )
    return " AND ".join([late, *case_conditions(filters, params, dates=None)])


async def overdue_cases(filters: StatsFilter, limit: int = OVERDUE_LIMIT) -> tuple[list[dict[str, Any]], int]:
    """The `limit` most overdue cases, and how many are overdue in all."""
    connection = Tortoise.get_connection("default")
    params = Params(connection.capabilities.dialect)
    moment = now()
    due = f'CASE WHEN c."state" = \'{CaseState.RECEIVED.value}\' THEN c."assign_due_at" ELSE c."reply_due_at" END'
    sql = (
        f'SELECT c."code", c."state", {due} AS due_at, c."member_id", c."department_id", COUNT(*) OVER () AS total, '
        f'c."contact_point_id", c."category_id" {cases_from(filters)} WHERE {_overdue_where(filters, params, moment)} '
        f'ORDER BY 3, c."code" LIMIT {int(limit)}'
    )
    found = []
    rows = await connection.execute_query_dict(sql, params.values)
    for row in rows:
        stage = "assign" if row["state"] == CaseState.RECEIVED.value else "reply"
        at = row["due_at"]
        found.append({**row, "stage": stage, "due_at": datetime.fromisoformat(at) if isinstance(at, str) else at})
    members = {m.id: m for m in await Member.filter(id__in={r["member_id"] for r in found if r["member_id"]})}
    departments = {d.id: d for d in await Department.filter(id__in={r["department_id"] for r in found})}
    points = {p.id: p for p in await ContactPoint.filter(id__in={r["contact_point_id"] for r in found})}
    categories = {c.id: c for c in await Category.all()}
    listed = []
    for row in found:
        member, department = members.get(row["member_id"]), departments.get(row["department_id"])
        holder: Member | Department | None
        if row["stage"] == "assign":
            kind, holder = "triage", None
        elif row["state"] == CaseState.TRANSFERRED.value:
            kind, holder = "department", department
        else:
            kind, holder = "member", member
        point, category = points.get(row["contact_point_id"]), categories.get(row["category_id"])
        listed.append(
            {
                "code": row["code"],
                "stage": row["stage"],
                "state": row["state"],
                "due_at": row["due_at"],
                "overdue_hours": round((moment - row["due_at"]).total_seconds() / 3600, 1),
                "holder_kind": kind,
                "holder_key": holder.key if holder else None,
                "holder_name": holder.name if holder else "",
                "point_key": point.key if point else None,
                "point_name": point.name if point else "",
                "category_key": category.key if category else None,
                "category_name": category.name if category else "",
            }
        )
    return listed, int(rows[0]["total"]) if rows else 0
