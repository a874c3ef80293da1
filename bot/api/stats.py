"""`/api/v1/stats/...`: the console's figures (handlers/reports/) for the committee's own dashboards, as
JSON, or as CSV or XLSX with `?format=`. Read-only, for a staff member's token (`mashang staff token
<key>`, `Authorization: Bearer mst_...`): a citizen's mini-program token is refused here (401), as a
staff token is on the citizen's routes. A staff member no longer active gets 403.

Filters (query parameters, every figure): since, until (YYYY-MM-DD, Beijing days), point, category
(roster keys), district, source (qr | hotline); the map also takes by (point | district), the members
figure member (a roster key). A bad value is 422 with `error.field` naming the parameter, an unknown
parameter too. `format=csv` exports one table (`table=`, else the figure's first), `format=xlsx` all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web

from bot.api.context import resources
from bot.api.errors import JSON_HEADERS, ApiError
from handlers.admin.stats_tokens import staff_of
from handlers.reports.deadlines import deadlines
from handlers.reports.export import FORMATS, export
from handlers.reports.filters import FilterError, StatsFilter, parse_filters
from handlers.reports.heatmap import BY_DISTRICT, BY_POINT, heatmap
from handlers.reports.members import member_figures
from handlers.reports.points import point_figures
from handlers.reports.tables import Figure
from handlers.texts import stats as texts
from models.entities import Staff

COMMON = ("format", "table")


def _unauthorized() -> ApiError:
    return ApiError(
        401, "unauthorized", texts.UNAUTHORIZED, headers={"WWW-Authenticate": 'Bearer realm="mashang-stats"'}
    )


async def current_staff(request: web.Request) -> Staff:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    staff = await staff_of(token.strip()) if scheme.lower() == "bearer" else None
    if staff is None:
        raise _unauthorized()
    if not staff.active:
        raise ApiError(403, "staff_disabled", texts.STAFF_DISABLED)
    return staff


def _choice(query: Mapping[str, str], name: str, choices: tuple[str, ...], default: str, message: str) -> str:
    value = query.get(name) or default
    if value not in choices:
        raise ApiError(422, "invalid", message, name)
    return value


async def _answer(request: web.Request, figure: Figure, fmt: str) -> web.StreamResponse:
    table = request.query.get("table") or None
    if table is not None and table not in figure.tables:
        raise ApiError(422, "invalid", texts.no_such_table(list(figure.tables)), "table")
    if fmt == "json":
        return web.json_response(figure.to_json(), headers=JSON_HEADERS)
    exported = await export(figure, fmt, table)
    return web.Response(
        body=exported.body,
        headers={
            "Content-Type": exported.content_type,
            "Content-Disposition": f'attachment; filename="{exported.filename}"',
            **JSON_HEADERS,
        },
    )


FigureOf = Callable[[web.Request, StatsFilter], Awaitable[Figure]]


def stats_route(
    figure_of: FigureOf, *, monthly: bool = False, extra: tuple[str, ...] = ()
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        await current_staff(request)
        fmt = _choice(request.query, "format", FORMATS, "json", texts.BAD_FORMAT)
        try:
            filters = await parse_filters(request.query, monthly=monthly, extra=(*COMMON, *extra))
        except FilterError as exc:
            raise ApiError(422, "invalid", exc.message, exc.field) from None
        return await _answer(request, await figure_of(request, filters), fmt)

    return handler


async def _map(request: web.Request, filters: StatsFilter) -> Figure:
    by = _choice(request.query, "by", (BY_POINT, BY_DISTRICT), BY_POINT, texts.BAD_BY)
    return await heatmap(filters, by)


async def _deadlines(request: web.Request, filters: StatsFilter) -> Figure:
    return await deadlines(filters, resources(request).settings)


async def _members(request: web.Request, filters: StatsFilter) -> Figure:
    return await member_figures(filters)


async def _points(request: web.Request, filters: StatsFilter) -> Figure:
    return await point_figures(filters)


def add_stats_routes(api: web.Application) -> None:
    api.router.add_get("/stats/map", stats_route(_map, extra=("by",)))
    api.router.add_get("/stats/deadlines", stats_route(_deadlines))
    api.router.add_get("/stats/members", stats_route(_members, monthly=True))
    api.router.add_get("/stats/points", stats_route(_points))
