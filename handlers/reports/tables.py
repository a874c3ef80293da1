"""A console figure as plain data: named tables of rows (dicts keyed by English field names), plus the
figure's own facts (the weeks it counts, the committee's promise, ...). JSON is the rows as they are;
the CSV and XLSX exports (handlers/reports/export.py) put the Chinese headers of handlers/texts/stats.py
over the same rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from handlers.reports.filters import StatsFilter


@dataclass
class Table:
    columns: list[str]  # the rows' keys, in the order exported
    rows: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Figure:
    name: str  # map | deadlines | members | points
    filters: StatsFilter
    tables: dict[str, Table]  # the first is the one a CSV export holds unless another is asked for
    facts: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "figure": self.name,
            "filters": self.filters.to_json(),
            **self.facts,
            **{name: [_plain(row) for row in table.rows] for name, table in self.tables.items()},
        }


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    return {key: value.isoformat() if isinstance(value, datetime) else value for key, value in row.items()}
