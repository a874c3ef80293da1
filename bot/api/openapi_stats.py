"""The `/stats/...` part of the OpenAPI document (bot/api/openapi.py merges it): the console's figures
for a staff member's read-only token. The rows' fields are the tables' columns of handlers/reports/."""

from __future__ import annotations

from typing import Any

from handlers.reports.deadlines import FIGURES, OVERDUE_COLUMNS
from handlers.reports.heatmap import CELL_COLUMNS, POINT_COLUMNS
from handlers.reports.members import COUNTS, OPEN_COLUMNS
from handlers.reports.points import CODE_COLUMNS, TOTAL_COLUMNS, WEEK_COLUMNS

INTEGER = {"type": "integer"}
NUMBER = {"type": "number"}
RATE = {"type": ["number", "null"], "minimum": 0, "maximum": 1, "description": "0 to 1; null when nothing to count"}
TEXT = {"type": "string"}
NULLABLE_TEXT = {"type": ["string", "null"]}
DAY = {"type": "string", "format": "date"}
TIME = {"type": ["string", "null"], "format": "date-time"}
TYPES: dict[str, Any] = {
    "latitude": NUMBER,
    "longitude": NUMBER,
    "baseline": NUMBER,
    "hot": {"type": "boolean"},
    "revoked": {"type": "boolean"},
    "overdue": {"type": "boolean"},
    "week": DAY,
    "month": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"},
    "avg_days_to_reply": {"type": ["number", "null"]},
    "overdue_hours": NUMBER,
    "due_at": TIME,
    "assigned_at": TIME,
    "reply_due_at": TIME,
    "created_at": TIME,
    "expire_at": TIME,
    "stage": {"enum": ["assign", "reply"]},
    "holder_kind": {"enum": ["triage", "member", "department"]},
    "category_key": NULLABLE_TEXT,
    "category_name": NULLABLE_TEXT,
    "holder_key": NULLABLE_TEXT,
    "point_key": NULLABLE_TEXT,
    "url": NULLABLE_TEXT,
    "page": NULLABLE_TEXT,
    "file_path": NULLABLE_TEXT,
}
TEXTS = {
    "place_key",
    "place_name",
    "district",
    "key",
    "name",
    "point_name",
    "code",
    "state",
    "holder_name",
    "member_key",
    "member_name",
    "kind",
    "kind_name",
    "scene",
}


def _type(column: str) -> Any:
    if column in TYPES:
        return TYPES[column]
    if column.endswith("rate") or column == "satisfaction":
        return RATE
    return TEXT if column in TEXTS else INTEGER


def rows(columns: list[str], *more: str) -> dict[str, Any]:
    names = [*columns, *more]
    return {
        "type": "array",
        "items": {
            "type": "object",
            "required": list(columns),
            "properties": {name: _type(name) for name in dict.fromkeys(names)},
        },
    }


FILTERS_SCHEMA = {
    "type": "object",
    "required": ["since", "until", "point", "category", "district", "source"],
    "properties": {
        "since": DAY,
        "until": DAY,
        "point": NULLABLE_TEXT,
        "category": NULLABLE_TEXT,
        "district": NULLABLE_TEXT,
        "source": {"enum": ["qr", "hotline", None]},
        "member": TEXT,
    },
}
WEEKS = {"type": "array", "items": DAY}


def _figure(name: str, tables: dict[str, Any], facts: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["figure", "filters", *facts, *tables],
        "properties": {
            "figure": {"const": name},
            "filters": {"$ref": "#/components/schemas/StatsFilters"},
            **facts,
            **tables,
        },
    }


SCHEMAS: dict[str, Any] = {
    "StatsFilters": FILTERS_SCHEMA,
    "StatsMap": _figure(
        "map",
        {"cells": rows(CELL_COLUMNS), "points": rows(POINT_COLUMNS)},
        {"by": {"enum": ["point", "district"]}, "weeks": WEEKS},
    ),
    "StatsDeadlines": _figure(
        "deadlines",
        {
            "weeks": rows(["week", *FIGURES]),
            "points": rows(["point_key", "point_name", *FIGURES]),
            "overdue": rows(OVERDUE_COLUMNS, "holder_key", "point_key", "category_key"),
        },
        {
            "promise": {
                "type": "object",
                "required": ["assign_within_hours", "reply_within_days", "visit_rate"],
                "properties": {"assign_within_hours": NUMBER, "reply_within_days": NUMBER, "visit_rate": NUMBER},
            },
            "weeks_counted": WEEKS,
            "overdue_total": INTEGER,
        },
    ),
    "StatsMembers": _figure(
        "members",
        {
            "rows": rows(["member_key", "member_name", "month", *COUNTS]),
            "members": rows(["member_key", "member_name", *COUNTS, "open_cases"]),
            "open_cases": rows(OPEN_COLUMNS, "point_key", "category_key"),
        },
        {"months": {"type": "array", "items": TYPES["month"]}},
    ),
    "StatsPoints": _figure(
        "points",
        {"weeks": rows(WEEK_COLUMNS), "totals": rows(TOTAL_COLUMNS), "codes": rows(CODE_COLUMNS, "kind", "expire_at")},
        {"weeks_counted": WEEKS},
    ),
}
# open_cases is there only when the figure is asked for one member.
SCHEMAS["StatsMembers"]["required"].remove("open_cases")


def _query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema or TEXT}


FILTER_PARAMETERS = [
    _query("since", "First day, YYYY-MM-DD (Beijing); weekly figures start on its Monday; default 12 weeks ago", DAY),
    _query("until", "Last day, YYYY-MM-DD (Beijing); weekly figures end on its Sunday; default today", DAY),
    _query("point", "A contact point's roster key"),
    _query("category", "A category's roster key"),
    _query("district", "A district (a hotline case's own, a QR case's contact point's)"),
    _query("source", "qr (scanned codes) or hotline (12345 imports)", {"enum": ["qr", "hotline"]}),
    _query(
        "format",
        "json (default), csv (UTF-8 with BOM, one table) or xlsx (every table)",
        {"enum": list(("json", "csv", "xlsx"))},
    ),
    _query("table", "For format=csv: which table (default the first)"),
]


def _errors(error: Any) -> dict[str, Any]:
    return {
        "401": error("No staff token, or a forged or revoked one (a citizen's token too)"),
        "403": error("The token's staff member is no longer active"),
        "422": error("A parameter's value is not acceptable, or an unknown parameter: error.field names it"),
        "503": error("Our storage is unavailable for a moment: try again"),
    }


def stats_paths(error: Any) -> dict[str, Any]:
    """The paths; `error(description)` is the document's answer with the Error schema."""

    def operation(summary: str, schema: str, *extra: dict[str, Any]) -> dict[str, Any]:
        return {
            "get": {
                "summary": summary,
                "security": [{"staff": []}],
                "parameters": [*FILTER_PARAMETERS, *extra],
                "responses": {
                    "200": {
                        "description": "The figure (JSON), or its export (format=csv|xlsx, as an attachment)",
                        "content": {
                            "application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}},
                            "text/csv": {"schema": {"type": "string"}},
                            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                                "schema": {"type": "string", "contentMediaType": "application/octet-stream"}
                            },
                        },
                    },
                    **_errors(error),
                },
            }
        }

    return {
        "/stats/map": operation(
            "图谱: cases by contact point (or district) × category × week, hot spots marked; points on the map",
            "StatsMap",
            _query("by", "point (default) or district", {"enum": ["point", "district"]}),
        ),
        "/stats/deadlines": operation(
            "时限: on-time assignment, reply and return-visit rates per week and contact point; overdue cases",
            "StatsDeadlines",
        ),
        "/stats/members": operation(
            "委员履职: per member and month, assigned, accepted, replied (on time), days to reply, satisfaction",
            "StatsMembers",
            _query("member", "One member's roster key (then their open cases are listed too)"),
        ),
        "/stats/points": operation(
            "联系点: scans, new followers, cases and satisfaction per contact point and week; their codes",
            "StatsPoints",
        ),
    }
