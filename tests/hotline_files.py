"""Hotline exports as the hotline's systems write them, for the tests: CSV in UTF-8 (with or without
BOM) or GB18030, and XLSX; a mapping like the one in docs/operations.md."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

HEADERS = ["工单编号", "受理时间", "诉求内容", "所属区县", "诉求类别", "办理状态", "事发地址", "来电号码"]

MAPPING = """\
[columns]            # our field = the file's column header
external_id = "工单编号"
received_at = "受理时间"
text = "诉求内容"
district = "所属区县"
category = "诉求类别"
status = "办理状态"     # optional
address = "事发地址"    # optional
phone = "来电号码"      # optional

[time]
format = "%Y-%m-%d %H:%M:%S"

[categories]
"交通出行" = "transport"
"医疗卫生" = "health"
"教育" = "education"

[status]
"已办结" = "closed"
"办理中" = "open"
"已受理" = "open"
"""


def write_mapping(folder: Path, text: str = MAPPING) -> Path:
    path = folder / "mapping.toml"
    path.write_text(text, encoding="utf-8")
    return path


def order(
    number: str,
    received: str,
    text: str = "路口红绿灯坏了",
    district: str = "吴兴区",
    category: str = "交通出行",
    status: str = "办理中",
    address: str = "",
    phone: str = "",
) -> list[Any]:
    return [number, received, text, district, category, status, address, phone]


def write_csv(
    path: Path,
    rows: Sequence[Sequence[Any]],
    *,
    encoding: str = "utf-8",
    bom: bool = False,
    headers: Sequence[str] = HEADERS,
) -> Path:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")  # as Excel and most exporters write it
    writer.writerow(headers)
    writer.writerows(rows)
    data = buffer.getvalue().encode(encoding)
    path.write_bytes((codecs.BOM_UTF8 if bom else b"") + data)
    return path


def write_xlsx(
    path: Path, rows: Sequence[Sequence[Any]], *, sheet: str = "工单", bom: bool = False, extra_sheet: bool = True
) -> Path:
    """`bom`: the first header cell starts with U+FEFF, as some exporters write it into the cell."""
    import openpyxl

    workbook = openpyxl.Workbook()
    if extra_sheet:  # the export's first sheet is a cover page: --sheet picks the right one
        workbook.active.title = "说明"
        workbook.active.append(["本表由 12345 热线系统导出"])
        worksheet = workbook.create_sheet(sheet)
    else:
        worksheet = workbook.active
        worksheet.title = sheet
    headers = list(HEADERS)
    if bom:
        headers[0] = "\ufeff" + headers[0]
    worksheet.append(headers)
    for row in rows:
        worksheet.append(list(row))
    workbook.save(path)
    return path


def beijing(moment: datetime) -> str:
    from models.tracking import LOCAL_TZ

    return moment.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M:%S")
