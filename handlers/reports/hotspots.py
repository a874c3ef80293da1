"""Hot spots (热点): categories × districts, and categories × contact points, whose count of cases in the
last 7 days stands out against their own recent weeks. Plain data, for the triage group's `统计 热点`,
`mashang report hotspots` and a future web console alike (handlers/texts/reports.py renders it).

The test: for each place and category, X = its cases of the last 7 days and λ = the mean of its cases
per 7 days over the `weeks` (8) periods of 7 days before. Under "nothing has changed" X is Poisson(λ);
the place is a hot spot when P(X ≥ x) < `alpha` (0.001) and x ≥ `min_count` (5). A place with no case
at all in the weeks before (λ = 0) and at least 5 now is a hot spot (p = 0). One-sided: a fall is not
news here. With a few hundred places and categories tested each time, an `alpha` of 0.001 keeps false
alarms to about one in several weeks.

Counted: cases from both sources (QR codes and the 12345 hotline), by when they were received, in every
state but 不予受理 (rejected: spam and the like). A hotline case's district is the one its work order
names; a QR case's is its contact point's. Cases of no category count as 其他.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise import Tortoise

from models.bulk import placeholders
from models.entities import CaseSource, CaseState, Category, ContactPoint
from models.timeutil import now

WEEK = timedelta(days=7)
DEFAULT_WEEKS = 8
DEFAULT_ALPHA = 0.001
MIN_COUNT = 5
BY_DISTRICT = "district"
BY_POINT = "point"


@dataclass(frozen=True)
class HotSpot:
    kind: str  # BY_DISTRICT or BY_POINT
    category_key: str | None  # None: no category (其他)
    category_name: str | None
    district: str  # "" when unknown; for a contact point, its district
    point_key: str | None  # BY_POINT only
    point_name: str | None
    count: int  # cases in the last 7 days
    hotline: int  # of which from the 12345 hotline
    weekly: tuple[int, ...]  # the weeks before, oldest first
    baseline: float  # their mean: the expected count
    p_value: float  # P(X >= count) for X ~ Poisson(baseline)

    @property
    def hotline_share(self) -> float:
        return self.hotline / self.count if self.count else 0.0

    @property
    def ratio(self) -> float | None:
        """How many times the baseline (None when the baseline is 0)."""
        return self.count / self.baseline if self.baseline else None


@dataclass(frozen=True)
class HotSpotReport:
    start: datetime  # the last 7 days: [start, end), UTC
    end: datetime
    weeks: int
    alpha: float
    min_count: int
    total: int  # cases in the last 7 days
    hotline_total: int
    tested: int  # places × categories with at least min_count cases in the last 7 days
    hotspots: list[HotSpot]


def poisson_upper_tail(count: int, mean: float) -> float:
    """P(X >= count) for X ~ Poisson(mean), without scipy: summed in log space, stable for large means."""
    if count <= 0:
        return 1.0
    if mean <= 0:
        return 0.0
    log_mean = math.log(mean)

    def term(k: int) -> float:
        return math.exp(k * log_mean - mean - math.lgamma(k + 1))

    if count <= mean:  # the lower part is the short sum
        return max(0.0, min(1.0, 1.0 - math.fsum(term(k) for k in range(count))))
    # Beyond the mean each term is smaller than the one before by mean/k: sum until they no longer count.
    total, k, current = 0.0, count, term(count)
    while current > 0 and current > total * 1e-17:
        total += current
        k += 1
        current *= mean / k
    return min(1.0, total)


def _bound(dialect: str, moment: datetime) -> Any:
    """A bound as Tortoise stores datetimes: SQLite compares the UTC text."""
    moment = moment.astimezone(UTC)
    return moment.isoformat(" ") if dialect == "sqlite" else moment


def counts_statement(dialect: str, end: datetime, weeks: int) -> tuple[str, list[Any]]:
    """Cases per (period, category, district, contact point, source) over the last weeks + 1 periods of
    7 days before `end`: period 0 is the last 7 days, 1 the 7 days before, and so on."""
    bounds = [end - WEEK * (index + 1) for index in range(weeks + 1)]
    marks = placeholders(dialect, 1, weeks + 3).split(", ")  # the periods' bounds, then the range's
    periods = " ".join(f'WHEN c."created_at" >= {mark} THEN {index}' for index, mark in enumerate(marks[: weeks + 1]))
    sql = (
        f'SELECT CASE {periods} ELSE {weeks + 1} END AS period, c."category_id" AS category_id, '
        "COALESCE(NULLIF(c.\"district\", ''), p.\"district\", '') AS district, "
        'c."contact_point_id" AS point_id, c."source" AS source, COUNT(*) AS n '
        'FROM "case" c LEFT JOIN "contact_point" p ON p."id" = c."contact_point_id" '
        f'WHERE c."created_at" >= {marks[weeks + 1]} AND c."created_at" < {marks[weeks + 2]} '
        f"AND c.\"state\" <> '{CaseState.REJECTED.value}' "
        "GROUP BY 1, 2, 3, 4, 5"
    )
    return sql, [*(_bound(dialect, bound) for bound in bounds), _bound(dialect, bounds[-1]), _bound(dialect, end)]


async def find_hotspots(
    at: datetime | None = None,
    weeks: int = DEFAULT_WEEKS,
    alpha: float = DEFAULT_ALPHA,
    min_count: int = MIN_COUNT,
) -> HotSpotReport:
    """The hot spots of the 7 days before `at` (now), against the `weeks` periods of 7 days before them."""
    if weeks < 1:
        raise ValueError("weeks must be at least 1")
    end = at or now()
    connection = Tortoise.get_connection("default")
    rows = await connection.execute_query_dict(*counts_statement(connection.capabilities.dialect, end, weeks))
    # key -> counts per period (0 = the last 7 days), and the hotline's cases of the last 7 days
    series: dict[tuple[str, Any, Any], list[int]] = defaultdict(lambda: [0] * (weeks + 1))
    hotline: dict[tuple[str, Any, Any], int] = defaultdict(int)
    total = hotline_total = 0
    for row in rows:
        period, count = int(row["period"]), int(row["n"])
        if period > weeks:
            continue
        category, from_hotline = row["category_id"], row["source"] == CaseSource.HOTLINE
        keys = [(BY_DISTRICT, category, row["district"] or "")]
        if row["point_id"] is not None:
            keys.append((BY_POINT, category, int(row["point_id"])))
        for key in keys:
            series[key][period] += count
            if period == 0 and from_hotline:
                hotline[key] += count
        if period == 0:
            total += count
            hotline_total += count if from_hotline else 0
    candidates = [(key, counts) for key, counts in series.items() if counts[0] >= min_count]
    categories = {c.id: c for c in await Category.all()}
    point_ids = {key[2] for key, _ in candidates if key[0] == BY_POINT}
    points = {p.id: p for p in await ContactPoint.filter(id__in=point_ids)} if point_ids else {}
    found = []
    for (kind, category_id, place), counts in candidates:
        before = tuple(reversed(counts[1:]))
        baseline = sum(before) / weeks
        p_value = poisson_upper_tail(counts[0], baseline)
        if p_value >= alpha:
            continue
        category = categories.get(category_id)
        point = points.get(place) if kind == BY_POINT else None
        found.append(
            HotSpot(
                kind=kind,
                category_key=category.key if category else None,
                category_name=category.name if category else None,
                district=(point.district if point else "") if kind == BY_POINT else str(place),
                point_key=point.key if point else None,
                point_name=point.name if point else None,
                count=counts[0],
                hotline=hotline[(kind, category_id, place)],
                weekly=before,
                baseline=baseline,
                p_value=p_value,
            )
        )
    found.sort(key=lambda spot: (spot.p_value, -spot.count, spot.kind, spot.category_key or "", spot.district))
    return HotSpotReport(
        start=end - WEEK,
        end=end,
        weeks=weeks,
        alpha=alpha,
        min_count=min_count,
        total=total,
        hotline_total=hotline_total,
        tested=len(candidates),
        hotspots=found,
    )
