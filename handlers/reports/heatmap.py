"""图谱: cases by contact point (or district) × category × week, with the hot spots marked, and the contact
points that have coordinates with their cases and satisfaction (the console's map).

Counted like the hot spots (handlers/reports/hotspots.py): cases from both sources by the week they were
received (Monday to Sunday, Beijing time), in every state but 不予受理; a case of no category counts as
其他; a hotline case's district is its work order's, a QR case's its contact point's. By contact point,
the cases of no contact point (the hotline's, and those written without scanning) are one row, "".

A cell is hot by the hot spots' test: its count against the mean of the same place and category over the
8 weeks before that week, P(X ≥ count) < 0.001 for X ~ Poisson(mean), and at least 5 cases. The weeks
before the range are read for that, but only the range's weeks are listed.

Satisfaction (the map): of the cases whose return visit was recorded, the share 满意 or 基本满意.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tortoise import Tortoise

from handlers.reports.filters import DISTRICT_SQL, Params, StatsFilter, case_conditions, cases_from, rate, week_sql
from handlers.reports.filters import start_of as day_start
from handlers.reports.hotspots import DEFAULT_ALPHA, MIN_COUNT, poisson_upper_tail
from handlers.reports.hotspots import DEFAULT_WEEKS as BASELINE_WEEKS
from handlers.reports.tables import Figure, Table
from models.entities import CaseSource, CaseState, Category, ContactPoint

BY_POINT = "point"
BY_DISTRICT = "district"
CELL_COLUMNS = [
    "place_key",
    "place_name",
    "district",
    "category_key",
    "category_name",
    "week",
    "count",
    "hotline",
    "baseline",
    "hot",
]
POINT_COLUMNS = ["key", "name", "district", "latitude", "longitude", "cases", "rated", "satisfied", "satisfaction"]


async def heatmap(filters: StatsFilter, by: str = BY_POINT) -> Figure:
    connection = Tortoise.get_connection("default")
    weeks = filters.weeks()
    first = weeks[0] - timedelta(weeks=BASELINE_WEEKS)  # the weeks before the range: the first cells' baseline
    total = BASELINE_WEEKS + len(weeks)
    params = Params(connection.capabilities.dialect)
    period = week_sql('c."created_at"', first, params)
    conditions = case_conditions(filters, params, dates=None)
    conditions.append(f'c."created_at" >= {params.add(day_start(first))}')
    conditions.append(f'c."created_at" < {params.add(day_start(filters.until + timedelta(days=1)))}')
    conditions.append(f"c.\"state\" <> '{CaseState.REJECTED.value}'")
    place = 'c."contact_point_id"' if by == BY_POINT else DISTRICT_SQL
    sql = (
        f'SELECT {period} AS period, {place} AS place, c."category_id" AS category_id, '
        f"SUM(CASE WHEN c.\"source\" = '{CaseSource.HOTLINE}' THEN 1 ELSE 0 END) AS hotline, COUNT(*) AS n "
        f"{cases_from(filters, district=by == BY_DISTRICT)} WHERE {' AND '.join(conditions)} GROUP BY 1, 2, 3"
    )
    series: dict[tuple[Any, Any], list[int]] = {}
    hotline: dict[tuple[Any, Any, int], int] = {}
    for row in await connection.execute_query_dict(sql, params.values):
        key, index = (row["place"], row["category_id"]), int(row["period"])
        counts = series.get(key)
        if counts is None:
            counts = series[key] = [0] * total
        counts[index] += int(row["n"])
        if row["hotline"]:
            hotline[(*key, index)] = int(row["hotline"])
    categories = {c.id: (c.key, c.name) for c in await Category.all()}
    points = {p.id: p for p in await ContactPoint.all()}
    labels = [week.isoformat() for week in weeks]
    cells = []
    for (place_id, category_id), counts in series.items():
        category_key, category_name = categories.get(category_id, (None, None))
        if by == BY_POINT:
            point = points.get(place_id)
            place_key, place_name, district = (point.key, point.name, point.district) if point else ("", "", "")
        else:
            place_key = place_name = district = str(place_id or "")
        window = sum(counts[:BASELINE_WEEKS])  # the 8 weeks before the current one
        for offset, label in enumerate(labels):
            index = BASELINE_WEEKS + offset
            count = counts[index]
            if count:
                baseline = window / BASELINE_WEEKS
                hot = bool(place_key) and count >= MIN_COUNT and poisson_upper_tail(count, baseline) < DEFAULT_ALPHA
                cells.append(
                    {
                        "place_key": place_key,
                        "place_name": place_name,
                        "district": district,
                        "category_key": category_key,
                        "category_name": category_name,
                        "week": label,
                        "count": count,
                        "hotline": hotline.get((place_id, category_id, index), 0),
                        "baseline": round(baseline, 2),
                        "hot": hot,
                    }
                )
            window += count - counts[index - BASELINE_WEEKS]
    cells.sort(key=lambda c: (c["week"], c["place_key"], c["category_key"] or ""))
    return Figure(
        name="map",
        filters=filters,
        tables={
            "cells": Table(CELL_COLUMNS, cells),
            "points": Table(POINT_COLUMNS, await _points_on_map(filters, points)),
        },
        facts={"by": by, "weeks": labels},
    )


async def _points_on_map(filters: StatsFilter, points: dict[int, ContactPoint]) -> list[dict[str, Any]]:
    connection = Tortoise.get_connection("default")
    params = Params(connection.capabilities.dialect)
    conditions = case_conditions(filters, params)
    conditions.append(f"c.\"state\" <> '{CaseState.REJECTED.value}'")
    conditions.append('c."contact_point_id" IS NOT NULL')
    sql = (
        'SELECT c."contact_point_id" AS point_id, COUNT(*) AS n, '
        'SUM(CASE WHEN c."visit_recorded_at" IS NOT NULL THEN 1 ELSE 0 END) AS rated, '
        'SUM(CASE WHEN c."visit_recorded_at" IS NOT NULL AND c."satisfaction" IN (1, 2) THEN 1 ELSE 0 END) '
        f"AS satisfied {cases_from(filters)} WHERE {' AND '.join(conditions)} GROUP BY 1"
    )
    counts = {int(row["point_id"]): row for row in await connection.execute_query_dict(sql, params.values)}
    found = []
    for point in sorted(points.values(), key=lambda p: p.key):
        if point.latitude is None or point.longitude is None:
            continue
        if filters.point is not None and point.id != filters.point.id:
            continue
        if filters.district is not None and point.district != filters.district:
            continue
        row = counts.get(point.id, {})
        rated, satisfied = int(row.get("rated") or 0), int(row.get("satisfied") or 0)
        found.append(
            {
                "key": point.key,
                "name": point.name,
                "district": point.district,
                "latitude": point.latitude,
                "longitude": point.longitude,
                "cases": int(row.get("n") or 0),
                "rated": rated,
                "satisfied": satisfied,
                "satisfaction": rate(satisfied, rated),
            }
        )
    return found
