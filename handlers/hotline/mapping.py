"""The mapping of a hotline export (MAPPING.toml): which column holds what, the time format, and how
the file's categories and statuses map to ours (docs/operations.md has a complete example).

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
    format = "%Y-%m-%d %H:%M:%S"   # Beijing time
    [categories]          # the file's value = a roster category key
    "市容环卫" = "city"
    [status]              # the file's value = open | closed
    "已办结" = "closed"
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from handlers.texts import hotline as texts

REQUIRED = ("external_id", "received_at", "text", "district", "category")
OPTIONAL = ("status", "address", "phone")
DEFAULT_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
STATUSES = ("open", "closed")


class MappingError(ValueError):
    """The mapping cannot be used; the message (Chinese) says why."""


@dataclass(frozen=True)
class Mapping:
    columns: dict[str, str]  # our field -> the file's header
    time_format: str = DEFAULT_TIME_FORMAT
    categories: dict[str, str] = field(default_factory=dict)  # the file's value -> roster category key
    status: dict[str, str] = field(default_factory=dict)  # the file's value -> open | closed


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise MappingError(texts.must_be_text(where))
    return value.strip()


def _table(data: dict[str, Any], name: str) -> dict[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise MappingError(texts.must_be_text(f"[{name}]"))
    return value


def parse_mapping(text: str) -> Mapping:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MappingError(texts.not_toml(str(exc))) from exc
    for name in data:
        if name not in ("columns", "time", "categories", "status"):
            raise MappingError(texts.unknown_section(name))
    columns: dict[str, str] = {}
    for name, header in _table(data, "columns").items():
        if name not in REQUIRED + OPTIONAL:
            raise MappingError(texts.unknown_field(name))
        columns[name] = _text(header, f"[columns] {name}")
    for name in REQUIRED:
        if name not in columns:
            raise MappingError(texts.missing_field(name))
    time = _table(data, "time")
    time_format = _text(time.get("format", DEFAULT_TIME_FORMAT), "[time] format")
    if "%" not in time_format or _format_fails(time_format):
        raise MappingError(texts.bad_time_format(time_format))
    # The file's values are matched as written, spaces around them aside (so are the cells).
    categories = {
        str(value).strip(): _text(key, f'[categories] "{value}"') for value, key in _table(data, "categories").items()
    }
    status: dict[str, str] = {}
    for value, target in _table(data, "status").items():
        if target not in STATUSES:
            raise MappingError(texts.bad_status_value(value, str(target)))
        status[str(value).strip()] = target
    if status and "status" not in columns:
        raise MappingError(texts.STATUS_WITHOUT_COLUMN)
    if "status" in columns and not status:
        raise MappingError(texts.STATUS_WITHOUT_MAPPING)
    return Mapping(columns, time_format, categories, status)


def _format_fails(time_format: str) -> bool:
    """A format strptime cannot even parse its own output with (an unknown directive, say)."""
    sample = datetime(2026, 12, 31, 23, 59, 58)
    try:
        datetime.strptime(sample.strftime(time_format), time_format)
    except ValueError:
        return True
    return False


def load_mapping(path: str | Path) -> Mapping:
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise MappingError(getattr(exc, "strerror", None) or str(exc)) from exc
    return parse_mapping(text)
