"""联系点: per contact point and week, its scans and new followers (the daily counters of
handlers/admin/qr_stats.py, by Beijing day), its cases and their satisfaction; and the codes made for it.

Cases are counted by the week they were received, in every state but 不予受理, like the map; the
category and source filters apply to the cases only (a scan has neither). Every contact point of the
roster is listed (those revoked too), with zeros for the weeks nothing happened: a point that brings
nothing in is what the figure is for. Posters are drawn from a point's code when asked for
(`mashang qr poster`), so the codes are what is listed.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from tortoise import Tortoise

from handlers.reports.filters import Params, StatsFilter, case_conditions, cases_from, rate, week_sql
from handlers.reports.tables import Figure, Table
from models.entities import CaseState, ContactPoint
from models.qr import QR_KIND_ZH, ContactPointDaily, QrCode, QrKind

WEEK_COLUMNS = [
    "point_key",
    "point_name",
    "district",
    "week",
    "scans",
    "new_followers",
    "cases",
    "rated",
    "satisfied",
    "satisfaction",
]
TOTAL_COLUMNS = [
    "point_key",
    "point_name",
    "district",
    "scans",
    "new_followers",
    "cases",
    "rated",
    "satisfied",
    "satisfaction",
    "codes",
]
CODE_COLUMNS = ["point_key", "point_name", "kind_name", "scene", "url", "page", "file_path", "created_at", "revoked"]
SUMMED = ("scans", "new_followers", "cases", "rated", "satisfied")


async def point_figures(filters: StatsFilter) -> Figure:
    query = ContactPoint.all().order_by("key")
    if filters.point is not None:
        query = query.filter(id=filters.point.id)
    if filters.district is not None:
        query = query.filter(district=filters.district)
    points = await query
    weeks = filters.weeks()
    sums: dict[tuple[str, int], dict[str, int]] = defaultdict(dict)

    def add(key: str, index: int, name: str, value: int) -> None:
        slot = sums[(key, index)]
        slot[name] = slot.get(name, 0) + value

    keys = {p.key for p in points}
    for row in await _daily_counts(filters, weeks[0]):
        if row["point_key"] in keys:
            add(row["point_key"], int(row["period"]), "scans", int(row["scans"] or 0))
            add(row["point_key"], int(row["period"]), "new_followers", int(row["followers"] or 0))
    by_id = {p.id: p for p in points}
    for row in await _case_counts(filters, weeks) if points else []:
        point = by_id.get(row["point_id"])
        if point is not None:
            for name in ("cases", "rated", "satisfied"):
                add(point.key, int(row["period"]), name, int(row[name] or 0))
    codes = await QrCode.filter(contact_point_id__in=list(by_id)).order_by("contact_point_id", "id") if by_id else []
    code_counts: dict[int, int] = defaultdict(int)
    for code in codes:
        code_counts[code.contact_point_id] += 1  # type: ignore[attr-defined]
    week_rows, totals = [], []
    for point in points:
        total: dict[str, int] = {}
        for index, week in enumerate(weeks):
            found = sums.get((point.key, index), {})
            week_rows.append(_row(point, {name: found.get(name, 0) for name in SUMMED}, week=week.isoformat()))
            for name in SUMMED:
                total[name] = total.get(name, 0) + found.get(name, 0)
        totals.append({**_row(point, total), "codes": code_counts[point.id]})
    return Figure(
        name="points",
        filters=filters,
        tables={
            "weeks": Table(WEEK_COLUMNS, week_rows),
            "totals": Table(TOTAL_COLUMNS, totals),
            "codes": Table(CODE_COLUMNS, [_code(code, by_id[code.contact_point_id]) for code in codes]),  # type: ignore[attr-defined]
        },
        facts={"weeks_counted": [week.isoformat() for week in weeks]},
    )


def _row(point: ContactPoint, counts: dict[str, int], **extra: Any) -> dict[str, Any]:
    return {
        "point_key": point.key,
        "point_name": point.name,
        "district": point.district,
        **extra,
        **counts,
        "satisfaction": rate(counts.get("satisfied", 0), counts.get("rated", 0)),
    }


def _code(code: QrCode, point: ContactPoint) -> dict[str, Any]:
    return {
        "point_key": point.key,
        "point_name": point.name,
        "kind": str(code.kind),
        "kind_name": QR_KIND_ZH[QrKind(code.kind)],
        "scene": code.scene,
        "url": code.url,
        "page": code.page,
        "file_path": code.file_path,
        "created_at": code.created_at,
        "expire_at": code.expire_at,
        "revoked": code.revoked_at is not None,
    }


async def _daily_counts(filters: StatsFilter, first: date) -> list[dict[str, Any]]:
    """The daily counters summed per point and week (in SQL: a year of days of every point is many rows)."""
    connection = Tortoise.get_connection("default")
    params = Params(connection.capabilities.dialect)
    period = week_sql('d."day"', first, params, is_date=True)
    sql = (
        f'SELECT {period} AS period, d."point_key" AS point_key, SUM(d."scans") AS scans, '
        f'SUM(d."new_followers") AS followers FROM "{ContactPointDaily._meta.db_table}" d '
        f'WHERE d."day" >= {params.add(filters.since)} AND d."day" <= {params.add(filters.until)} GROUP BY 1, 2'
    )
    return await connection.execute_query_dict(sql, params.values)


async def _case_counts(filters: StatsFilter, weeks: list[Any]) -> list[dict[str, Any]]:
    connection = Tortoise.get_connection("default")
    params = Params(connection.capabilities.dialect)
    period = week_sql('c."created_at"', weeks[0], params)
    conditions = case_conditions(filters, params)
    conditions += [f"c.\"state\" <> '{CaseState.REJECTED.value}'", 'c."contact_point_id" IS NOT NULL']
    sql = (
        f'SELECT {period} AS period, c."contact_point_id" AS point_id, COUNT(*) AS cases, '
        'SUM(CASE WHEN c."visit_recorded_at" IS NOT NULL THEN 1 ELSE 0 END) AS rated, '
        'SUM(CASE WHEN c."visit_recorded_at" IS NOT NULL AND c."satisfaction" IN (1, 2) THEN 1 ELSE 0 END) '
        f"AS satisfied {cases_from(filters)} WHERE {' AND '.join(conditions)} GROUP BY 1, 2"
    )
    return await connection.execute_query_dict(sql, params.values)
