"""Every console figure as CSV (UTF-8 with a BOM, so that Excel opens the Chinese right) or XLSX
(openpyxl: a sheet of the filters, then one sheet per table), with the filters applied: the same rows
as the JSON, under Chinese headers. Building an XLSX is slow, blocking work: `export` runs it in a
thread. The console's pages and the `/api/v1/stats` routes both call `export`."""

from __future__ import annotations

import asyncio
import csv
import io
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from handlers.reports.tables import Figure, Table
from handlers.texts import stats as texts
from models.tracking import LOCAL_TZ

FORMATS = ("json", "csv", "xlsx")
CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Export:
    body: bytes
    content_type: str
    filename: str  # ASCII, e.g. stats-map-2026-09-07-2026-11-29.csv


def cell(value: Any) -> Any:
    """A value as a spreadsheet shows it: local time, 是/否, and text that a spreadsheet would take
    for a formula (=, +, -, @) quoted with an apostrophe (CSV injection)."""
    if isinstance(value, bool):
        return texts.YES_ZH if value else texts.NO_ZH
    if isinstance(value, datetime):
        return value.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return "" if value is None else value


def _header(table: Table) -> list[str]:
    return [texts.COLUMNS.get(column, column) for column in table.columns]


def to_csv(table: Table) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(_header(table))
    for row in table.rows:
        writer.writerow([cell(row.get(column)) for column in table.columns])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def to_xlsx(figure: Figure) -> bytes:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    filters = book.create_sheet(texts.FILTERS_SHEET)
    for label, value in figure.filters.described():
        filters.append([label, value])
    for name, table in figure.tables.items():
        sheet = book.create_sheet(texts.TABLE_TITLES.get(name, name)[:31])  # Excel's limit on a sheet name
        sheet.append(_header(table))
        for row in table.rows:
            sheet.append([cell(row.get(column)) for column in table.columns])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def filename(figure: Figure, extension: str, table: str | None = None) -> str:
    span = f"{figure.filters.since.isoformat()}-{figure.filters.until.isoformat()}"
    return f"stats-{figure.name}{'-' + table if table else ''}-{span}.{extension}"


async def export(figure: Figure, fmt: str, table: str | None = None) -> Export:
    """`fmt` csv (the table named `table`, else the figure's first) or xlsx (every table)."""
    if fmt == "csv":
        name = table or next(iter(figure.tables))
        return Export(to_csv(figure.tables[name]), CSV_TYPE, filename(figure, "csv", name))
    if fmt == "xlsx":
        return Export(await asyncio.to_thread(to_xlsx, figure), XLSX_TYPE, filename(figure, "xlsx"))
    raise ValueError(f"unknown export format {fmt!r}")
