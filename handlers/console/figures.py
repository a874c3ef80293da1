"""The console's figure pages (图谱, 时限, 委员, 联系点): the figures of handlers/reports/ (the very data
`/api/v1/stats` serves and the exports hold) turned into what a page shows: tables with Chinese headers
and formatted cells, links to the cases behind a number, and the charts (handlers/console/charts.py)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from markupsafe import Markup

from handlers.admin.roster import KEY_RE
from handlers.console import charts
from handlers.console.queue import ALL, NO_CATEGORY
from handlers.reports.deadlines import deadlines
from handlers.reports.filters import FilterError, StatsFilter, parse_filters
from handlers.reports.heatmap import BY_DISTRICT, BY_POINT, heatmap
from handlers.reports.members import member_figures
from handlers.reports.points import point_figures
from handlers.reports.tables import Figure, Table
from handlers.settings import Settings
from handlers.texts import console as texts
from handlers.texts import stats as stats_texts
from models.entities import Category, ContactPoint, Member
from models.qr import QrCode
from models.tracking import LOCAL_TZ

PREFIX = "/console"
RATES = {"triage_rate", "reply_rate", "visit_rate", "satisfaction"}
HEAT_STEPS = 5  # heat-1 … heat-5 in console.css


@dataclass
class Column:
    key: str
    title: str


@dataclass
class Cell:
    text: str
    href: str = ""
    css: str = ""


@dataclass
class ShownTable:
    name: str  # the figure's table, for its CSV export
    caption: str
    columns: list[Column]
    rows: list[list[Cell]]
    total: int | None = None  # more rows than shown (the overdue list)
    empty: str = texts.NOTHING_TO_SHOW


@dataclass
class FigurePage:
    name: str  # map | deadlines | members | points
    title: str
    filters: StatsFilter | None
    query: dict[str, str]  # the filters as given, for the form and the export links
    error: str = ""
    options: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    charts: list[Markup] = field(default_factory=list)
    tables: list[ShownTable] = field(default_factory=list)
    facts: list[tuple[str, str]] = field(default_factory=list)
    heat: HeatGrid | None = None
    export_base: str = ""
    detail: bool = False  # one member's or one point's page: no point or member to choose

    def export_href(self, fmt: str, table: str = "") -> str:
        query = {**self.query, "format": fmt, **({"table": table} if table else {})}
        return f"{self.export_base}?{urlencode(query)}"


@dataclass
class HeatGrid:
    weeks: list[str]
    rows: list[tuple[Cell, list[Cell]]]  # (place, one cell per week)


def shown(value: Any, key: str = "") -> str:
    """A value as a page shows it: rates in per cent, times in Beijing time, 是/否, — for nothing."""
    if value is None or value == "":
        return "—"
    if key in RATES and isinstance(value, int | float):
        return f"{value * 100:.1f}%"
    if isinstance(value, bool):
        return stats_texts.YES_ZH if value else stats_texts.NO_ZH
    if isinstance(value, datetime):
        return value.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def cases_href(**query: str) -> str:
    """The 件 list with these filters (every state): the cases behind a number."""
    return f"{PREFIX}/cases?" + urlencode({"state": ALL, **{k: v for k, v in query.items() if v}})


def _week_range(week: str) -> dict[str, str]:
    monday = date.fromisoformat(week)
    return {"since": monday.isoformat(), "until": (monday + timedelta(days=6)).isoformat()}


def _range(filters: StatsFilter) -> dict[str, str]:
    return {"since": filters.since.isoformat(), "until": filters.until.isoformat()}


def _common(filters: StatsFilter) -> dict[str, str]:
    """The case-list filters a figure's filters mean (contact point, category, district, source)."""
    return {
        "point": filters.point.key if filters.point else "",
        "category": filters.category.key if filters.category else "",
        "district": filters.district or "",
        "source": filters.source or "",
    }


def link_for(key: str, row: Mapping[str, Any], filters: StatsFilter) -> str:
    """Where a cell leads: a case's page, a member's or a point's page, or the cases it counts."""
    if key == "code" and row.get("code"):
        return f"{PREFIX}/cases/{row['code']}"
    if key == "member_name" and row.get("member_key"):
        return f"{PREFIX}/members/{row['member_key']}?" + urlencode(_range(filters))
    if key in ("point_name", "name") and (row.get("point_key") or row.get("key")):
        return f"{PREFIX}/points/{row.get('point_key') or row.get('key')}"
    if key in ("new_cases", "cases", "count") and not row.get(key):
        return ""  # nothing behind a zero
    if key in ("new_cases", "cases", "count") and row.get("week"):
        scope = {**_common(filters), **_week_range(str(row["week"]))}
        if row.get("point_key"):
            scope["point"] = str(row["point_key"])
        return cases_href(**scope)
    if key in ("cases", "new_cases") and row.get("point_key"):
        return cases_href(**{**_common(filters), **_range(filters), "point": str(row["point_key"])})
    return ""


def table_of(
    figure: Figure, name: str, columns: list[str], caption: str, *, linked: bool = True, total: int | None = None
) -> ShownTable:
    table: Table = figure.tables[name]
    heads = [Column(key, stats_texts.COLUMNS.get(key, key)) for key in columns]
    rows = []
    for row in table.rows:
        cells = []
        for key in columns:
            css = "num" if isinstance(row.get(key), int | float) and not isinstance(row.get(key), bool) else ""
            if key == "overdue" and row.get(key):
                css = "late"
            cells.append(Cell(shown(row.get(key), key), link_for(key, row, figure.filters) if linked else "", css))
        rows.append(cells)
    return ShownTable(name, caption, heads, rows, total)


async def _by_key(model: type[Member] | type[ContactPoint], key: str | None) -> Any:
    """The roster row of a key from a URL; a key the roster could not hold is never looked up."""
    if not key or not KEY_RE.fullmatch(key):
        return None
    return await model.get_or_none(key=key)


async def _options() -> dict[str, list[tuple[str, str]]]:
    points = [(p.key, p.name) for p in await ContactPoint.all().order_by("key")]
    categories = [(c.key, c.name) for c in await Category.all().order_by("key")]
    districts = sorted({p.district for p in await ContactPoint.all() if p.district})
    return {
        "points": points,
        "categories": categories,
        "districts": [(d, d) for d in districts],
        "sources": texts.SOURCE_OPTIONS,
    }


FORM_FIELDS = ("since", "until", "point", "category", "district", "source")


async def read_filters(
    query: Mapping[str, str], *, monthly: bool = False, extra: tuple[str, ...] = ()
) -> tuple[StatsFilter, dict[str, str], str]:
    """The page's filters; a bad one is named on the page and the defaults are shown instead."""
    given = {k: v for k, v in query.items() if k in (*FORM_FIELDS, *extra) and v}
    kept = {k: v for k, v in given.items() if k in FORM_FIELDS}
    try:
        return await parse_filters(kept, monthly=monthly), given, ""
    except FilterError as bad:
        label = texts.FILTER_LABELS.get(bad.field, bad.field)
        return await parse_filters({}, monthly=monthly), {}, f"{label}：{bad.message}"


# ---- 图谱 ------------------------------------------------------------------------------------------


def _heat_css(count: int, most: int, hot: bool) -> str:
    step = 0 if count == 0 else max(1, min(HEAT_STEPS, round(HEAT_STEPS * count / max(1, most))))
    return f"heat heat-{step}" + (" hot" if hot else "")


async def map_page(query: Mapping[str, str]) -> FigurePage:
    filters, given, error = await read_filters(query, extra=("by",))
    by = given.get("by", BY_POINT)
    if by not in (BY_POINT, BY_DISTRICT):
        by, error = BY_POINT, texts.BAD_BY
    figure = await heatmap(filters, by)
    weeks: list[str] = figure.facts["weeks"]
    grid: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0] * len(weeks))
    hot_weeks: dict[tuple[str, str], set[int]] = defaultdict(set)
    for row in figure.tables["cells"].rows:
        place = (str(row["place_key"]), str(row["place_name"] or texts.NO_PLACE))
        index = weeks.index(row["week"])
        grid[place][index] += int(row["count"])
        if row["hot"]:
            hot_weeks[place].add(index)
    most = max((n for counts in grid.values() for n in counts), default=0)
    heat_rows = []
    for (key, name), counts in sorted(grid.items(), key=lambda item: (-sum(item[1]), item[0])):
        place_query = {"point": key} if by == BY_POINT else {"district": key}
        head = Cell(name, f"{PREFIX}/points/{key}" if by == BY_POINT and key else "")
        cells = []
        for index, count in enumerate(counts):
            scope = {**_common(filters), **place_query, **_week_range(weeks[index])}
            hot = index in hot_weeks[(key, name)]
            label = f"{count}{' ▲' if hot else ''}" if count else ""
            linked = count and (by == BY_DISTRICT or key)  # the cases of no contact point have no filter
            cells.append(Cell(label, cases_href(**scope) if linked else "", _heat_css(count, most, hot)))
        heat_rows.append((head, cells))
    hot_rows = [row for row in figure.tables["cells"].rows if row["hot"]]
    hot_table = Table(figure.tables["cells"].columns, hot_rows)
    figure.tables["hot"] = hot_table
    hot_shown = table_of(
        figure, "hot", ["week", "place_name", "category_name", "count", "hotline", "baseline"], texts.HOT_SPOTS
    )
    for cells, row in zip(hot_shown.rows, hot_rows, strict=True):
        scope = {**_common(filters), **_week_range(row["week"])}
        scope |= {"point": row["place_key"]} if by == BY_POINT else {"district": row["place_key"]}
        scope["category"] = row["category_key"] or NO_CATEGORY
        cells[3].href = cases_href(**scope)
    del figure.tables["hot"]
    on_map = [
        charts.MapPoint(
            name=str(p["name"]),
            href=f"{PREFIX}/points/{p['key']}",
            latitude=float(p["latitude"]),
            longitude=float(p["longitude"]),
            cases=int(p["cases"]),
            satisfaction=p["satisfaction"],
        )
        for p in figure.tables["points"].rows
    ]
    weekly = [sum(counts[i] for counts in grid.values()) for i in range(len(weeks))]
    page = FigurePage(
        "map",
        texts.PAGE_TITLES["map"],
        filters,
        given,
        error,
        await _options(),
        heat=HeatGrid([w[5:] for w in weeks], heat_rows),
        export_base=f"{PREFIX}/export/map",
    )
    page.options["by"] = [(by_key, texts.BY_OPTIONS_ZH[by_key]) for by_key in (BY_POINT, BY_DISTRICT)]
    page.charts.append(
        charts.bar_chart(
            [w[5:] for w in weeks],
            [charts.Series(texts.SERIES["cases"], weekly, "s1")],
            y_title=texts.AXIS_CASES,
            x_title=texts.AXIS_WEEK,
            caption=texts.WEEKLY_CASES,
        )
    )
    if on_map:
        page.charts.append(charts.point_map(on_map, texts.POINT_MAP))
    else:
        page.facts.append((texts.POINTS_ON_MAP, texts.NO_COORDINATES))
    page.tables.append(hot_shown)
    page.tables.append(
        table_of(figure, "points", ["name", "district", "cases", "rated", "satisfaction"], texts.POINTS_ON_MAP)
    )
    page.facts.insert(0, (texts.HOT_RULE_LABEL, texts.HOT_RULE))
    return page


# ---- 时限 ------------------------------------------------------------------------------------------


async def deadlines_page(query: Mapping[str, str], settings: Settings) -> FigurePage:
    filters, given, error = await read_filters(query)
    figure = await deadlines(filters, settings)
    weeks = figure.tables["weeks"].rows
    labels = [row["week"][5:] for row in weeks]
    page = FigurePage(
        "deadlines",
        texts.PAGE_TITLES["deadlines"],
        filters,
        given,
        error,
        await _options(),
        export_base=f"{PREFIX}/export/deadlines",
    )
    promise = figure.facts["promise"]
    page.charts.append(
        charts.line_chart(
            labels,
            [
                *(
                    charts.Series(texts.SERIES[name], [row[name] for row in weeks], css)
                    for name, css in (("triage_rate", "s1"), ("reply_rate", "s2"), ("visit_rate", "s3"))
                ),
                charts.Series(texts.SERIES["promise"], [1.0] * len(weeks), "target"),
            ],
            y_title=texts.AXIS_RATE,
            x_title=texts.AXIS_WEEK,
            caption=texts.PROMISE_CHART,
        )
    )
    page.facts = [
        (texts.PROMISE_LABEL, texts.promise(promise["assign_within_hours"], promise["reply_within_days"])),
        (texts.OVERDUE_NOW, str(figure.facts["overdue_total"])),
    ]
    page.tables.append(
        table_of(
            figure,
            "overdue",
            ["code", "stage", "state", "due_at", "overdue_hours", "holder_kind", "holder_name", "point_name"],
            texts.OVERDUE_LIST,
            total=figure.facts["overdue_total"],
        )
    )
    week_columns = ["week", "new_cases", "triaged", "triage_rate", "replied", "reply_rate", "visits_due", "visit_rate"]
    page.tables.append(table_of(figure, "weeks", [*week_columns, "satisfaction"], texts.BY_WEEK))
    page.tables.append(
        table_of(
            figure,
            "points",
            ["point_name", "new_cases", "triage_rate", "reply_rate", "visit_rate", "satisfaction"],
            texts.BY_POINT,
        )
    )
    return page


# ---- 委员 ------------------------------------------------------------------------------------------

MEMBER_COUNTS = ["assigned", "accepted", "replied", "replied_on_time", "avg_days_to_reply", "satisfaction", "opinions"]


async def members_page(query: Mapping[str, str], member_key: str | None = None) -> FigurePage | None:
    """The members' record, or (`member_key`) one member's 履职画像; None: no such member."""
    member = await _by_key(Member, member_key)
    if member_key is not None and member is None:
        return None
    filters, given, error = await read_filters(query, monthly=True)
    if member is not None:
        filters = StatsFilter(
            filters.since, filters.until, filters.point, filters.category, filters.district, filters.source, member
        )
    figure = await member_figures(filters)
    title = texts.PAGE_TITLES["members"] if member is None else texts.member_title(member.name)
    page = FigurePage(
        "members",
        title,
        filters,
        given,
        error,
        await _options(),
        export_base=f"{PREFIX}/export/members" + (f"/{member.key}" if member else ""),
        detail=member is not None,
    )
    if member is None:
        page.tables.append(
            table_of(figure, "members", ["member_name", *MEMBER_COUNTS, "open_cases"], texts.MEMBERS_TOTAL)
        )
        return page
    months: list[str] = figure.facts["months"]
    by_month = {row["month"]: row for row in figure.tables["rows"].rows}
    page.charts.append(
        charts.bar_chart(
            months,
            [
                charts.Series(texts.SERIES[name], [by_month.get(m, {}).get(name, 0) for m in months], css)
                for name, css in (("assigned", "s1"), ("replied", "s2"), ("replied_on_time", "s3"))
            ],
            y_title=texts.AXIS_CASES,
            x_title=texts.AXIS_MONTH,
            caption=texts.MEMBER_MONTHS,
        )
    )
    page.tables.append(table_of(figure, "rows", ["month", *MEMBER_COUNTS], texts.BY_MONTH, linked=False))
    page.tables.append(
        table_of(
            figure,
            "open_cases",
            ["code", "state", "assigned_at", "reply_due_at", "overdue", "point_name", "category_name"],
            texts.OPEN_CASES,
        )
    )
    return page


# ---- 联系点 ----------------------------------------------------------------------------------------


async def points_page(query: Mapping[str, str], point_key: str | None = None) -> FigurePage | None:
    """Every contact point's figures, or (`point_key`) one point's weeks and codes; None: no such point."""
    point = await _by_key(ContactPoint, point_key)
    if point_key is not None and point is None:
        return None
    filters, given, error = await read_filters(query)
    if point is not None:
        filters = StatsFilter(filters.since, filters.until, point, filters.category, None, filters.source)
    figure = await point_figures(filters)
    page = FigurePage(
        "points",
        texts.PAGE_TITLES["points"] if point is None else texts.point_title(point.name),
        filters,
        given,
        error,
        await _options(),
        export_base=f"{PREFIX}/export/points" + (f"/{point.key}" if point else ""),
        detail=point is not None,
    )
    columns = ["point_name", "district", "scans", "new_followers", "cases", "rated", "satisfaction", "codes"]
    if point is None:
        page.tables.append(table_of(figure, "totals", columns, texts.POINTS_TOTAL))
        return page
    weeks = figure.tables["weeks"].rows
    labels = [row["week"][5:] for row in weeks]
    page.charts.append(
        charts.bar_chart(
            labels,
            [
                charts.Series(texts.SERIES[name], [row[name] for row in weeks], css)
                for name, css in (("scans", "s1"), ("new_followers", "s2"), ("cases", "s3"))
            ],
            y_title=texts.AXIS_COUNTS,
            x_title=texts.AXIS_WEEK,
            caption=texts.POINT_WEEKS,
        )
    )
    page.tables.append(
        table_of(
            figure,
            "weeks",
            ["week", "scans", "new_followers", "cases", "rated", "satisfaction"],
            texts.BY_WEEK,
        )
    )
    codes = table_of(figure, "codes", ["kind_name", "scene", "created_at", "revoked"], texts.CODES, linked=False)
    codes.empty = texts.NO_CODES
    codes.columns.append(Column("download", texts.DOWNLOAD))
    for cells, row in zip(codes.rows, figure.tables["codes"].rows, strict=True):
        scene = quote(str(row["scene"]), safe="")
        cells.append(Cell(texts.DOWNLOAD_CODE, f"{PREFIX}/points/{point.key}/code.png?scene={scene}"))
        cells.append(Cell(texts.DOWNLOAD_POSTER, f"{PREFIX}/points/{point.key}/poster.png?scene={scene}"))
    codes.columns.append(Column("poster", texts.POSTER))
    page.tables.append(codes)
    return page


async def export_figure(
    name: str, query: Mapping[str, str], settings: Settings, key: str | None = None
) -> Figure | None:
    """The figure a page shows, for its CSV or XLSX export (the page's filters); None: no such member or point."""
    if name == "map":
        filters, given, _ = await read_filters(query, extra=("by",))
        by = given.get("by", BY_POINT)
        return await heatmap(filters, by if by in (BY_POINT, BY_DISTRICT) else BY_POINT)
    if name == "deadlines":
        return await deadlines((await read_filters(query))[0], settings)
    if name == "members":
        member = await _by_key(Member, key)
        if key and member is None:
            return None
        filters = (await read_filters(query, monthly=True))[0]
        if member is not None:
            filters = StatsFilter(
                filters.since, filters.until, filters.point, filters.category, filters.district, filters.source, member
            )
        return await member_figures(filters)
    point = await _by_key(ContactPoint, key)
    if key and point is None:
        return None
    filters = (await read_filters(query))[0]
    if point is not None:
        filters = StatsFilter(filters.since, filters.until, point, filters.category, None, filters.source)
    return await point_figures(filters)


async def code_of(point_key: str, scene: str) -> QrCode | None:
    """One code made for a contact point (its scene), with the point; None for any other."""
    point = await _by_key(ContactPoint, point_key)
    if point is None or not scene or len(scene) > 64 or not scene.isprintable():
        return None
    return await QrCode.get_or_none(contact_point=point, scene=scene).prefetch_related("contact_point")
