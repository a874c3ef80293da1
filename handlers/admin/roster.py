"""Roster import: contact points, members, staff, departments and categories from TOML, upserted.

Importing the same file twice changes nothing the second time. A bad entry stops the import before
anything is written, with an error naming the file, the entry and the field.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tortoise.models import Model
from tortoise.transactions import in_transaction

from handlers.texts import roster as texts
from models.entities import Category, ContactPoint, ContactPointKind, Department, Member, Staff, StaffRole

KEY_RE = re.compile(r"[a-z0-9-]{1,40}")
SECTIONS = ("departments", "categories", "members", "staff", "contact_points")


class RosterError(ValueError):
    pass


SECTION_ZH = {
    "departments": "部门",
    "categories": "类别",
    "members": "委员",
    "staff": "工作人员",
    "contact_points": "联系点",
}


@dataclass
class ImportReport:
    created: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    unchanged: dict[str, int] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return any(self.created.values()) or any(self.updated.values())

    def summary(self) -> str:
        parts = []
        for section in SECTIONS:
            c, u, n = (
                self.created.get(section, 0),
                self.updated.get(section, 0),
                self.unchanged.get(section, 0),
            )
            if c or u or n:
                parts.append(f"{SECTION_ZH.get(section, section)}：新增 {c}、更新 {u}、未变 {n}")
        return "；".join(parts) if parts else "花名册是空的"


class _Entry:
    def __init__(self, source: str, section: str, index: int, data: Any) -> None:
        self.source, self.section, self.index = source, section, index
        if not isinstance(data, dict):
            raise RosterError(f"{source}：[[{section}]] 第 {index + 1} 项：应是一个表")
        self.data = data
        key = data.get("key")
        # Counted from 1, as a person counts the [[section]] tables in the file.
        self.where = f"{source}：[[{section}]] 第 {index + 1} 项" + (f"（key {key!r}）" if isinstance(key, str) else "")

    def fail(self, name: str, why: str) -> RosterError:
        return RosterError(f"{self.where}：字段 {name} {why}")

    def text(self, name: str, *, required: bool = True, default: str = "", max_len: int = 200) -> str:
        value = self.data.get(name)
        if value is None:
            if required:
                raise self.fail(name, "缺失")
            return default
        if not isinstance(value, str) or (required and not value.strip()):
            raise self.fail(name, "应是非空的文字")
        if len(value) > max_len:
            raise self.fail(name, f"超过 {max_len} 个字")
        return value.strip()

    def key(self) -> str:
        value = self.text("key")
        if not KEY_RE.fullmatch(value):
            raise self.fail("key", f"应为 1 至 40 个小写字母、数字或「-」（[a-z0-9-]{{1,40}}），实际是 {value!r}")
        return value

    def string_list(self, name: str) -> list[str]:
        value = self.data.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.fail(name, "应是文字的列表")
        return list(value)

    def boolean(self, name: str, default: bool = False) -> bool:
        value = self.data.get(name, default)
        if not isinstance(value, bool):
            raise self.fail(name, "应是 true 或 false")
        return value

    def choice(self, name: str, choices: list[str], default: str | None = None) -> str:
        value = self.data.get(name, default)
        if value not in choices:
            raise self.fail(name, f"应是 {' | '.join(choices)} 之一，实际是 {value!r}")
        return str(value)

    def degrees(self, name: str, limit: float) -> float | None:
        value = self.data.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or not -limit <= value <= limit:
            raise self.fail(name, f"应是 -{limit:g} 到 {limit:g} 之间的度数")
        return float(value)

    def check_unknown(self, allowed: set[str]) -> None:
        for name in self.data:
            if name not in allowed:
                raise self.fail(name, f"不是已知的字段（已知：{', '.join(sorted(allowed))}）")


def _department(entry: _Entry) -> dict[str, Any]:
    return {"name": entry.text("name")}


def _category(entry: _Entry) -> dict[str, Any]:
    return {"name": entry.text("name"), "keywords": entry.string_list("keywords")}


def _member(entry: _Entry) -> dict[str, Any]:
    return {
        "name": entry.text("name"),
        "sector": entry.text("sector", required=False),
        "committee": entry.text("committee", required=False),
        "wecom_userid": entry.text("wecom_userid", required=False, max_len=64) or None,
        "active": entry.boolean("active", True),
    }


def _staff(entry: _Entry) -> dict[str, Any]:
    return {
        "name": entry.text("name"),
        "wecom_userid": entry.text("wecom_userid", max_len=64),
        "role": StaffRole(entry.choice("role", [r.value for r in StaffRole], "triage")),
        "active": entry.boolean("active", True),
    }


def _contact_point(entry: _Entry) -> dict[str, Any]:
    return {
        "name": entry.text("name"),
        "kind": ContactPointKind(entry.choice("kind", [k.value for k in ContactPointKind], "other")),
        "district": entry.text("district", required=False),
        "member_keys": entry.string_list("members"),
        "auto_assign": entry.boolean("auto_assign"),
        **_coordinates(entry),
    }


def _coordinates(entry: _Entry) -> dict[str, float | None]:
    """WGS-84 latitude and longitude for the console's map: both or neither."""
    latitude, longitude = entry.degrees("latitude", 90), entry.degrees("longitude", 180)
    if (latitude is None) != (longitude is None):
        missing = "latitude" if latitude is None else "longitude"
        raise entry.fail(missing, "缺失（纬度 latitude 和经度 longitude 要一起给）")
    return {"latitude": latitude, "longitude": longitude}


_PARSERS: dict[str, Callable[[_Entry], dict[str, Any]]] = {
    "departments": _department,
    "categories": _category,
    "members": _member,
    "staff": _staff,
    "contact_points": _contact_point,
}
_FIELDS: dict[str, set[str]] = {
    "departments": {"key", "name"},
    "categories": {"key", "name", "keywords"},
    "members": {"key", "name", "sector", "committee", "wecom_userid", "active"},
    "staff": {"key", "name", "wecom_userid", "role", "active"},
    "contact_points": {"key", "name", "kind", "district", "members", "auto_assign", "latitude", "longitude"},
}


def parse_roster(path: str | Path) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """Validate the whole file; returns (key, values) per section, or raises RosterError."""
    source = str(path)
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RosterError(f"{source}：文件不存在") from None
    except tomllib.TOMLDecodeError as exc:
        raise RosterError(f"{source}：不是合法的 TOML：{exc}") from None
    for name in raw:
        if name not in SECTIONS:
            raise RosterError(f"{source}：未知的段 [[{name}]]（已知：{', '.join(SECTIONS)}）")
    parsed: dict[str, list[tuple[str, dict[str, Any]]]] = {s: [] for s in SECTIONS}
    for section in SECTIONS:
        entries = raw.get(section, [])
        if not isinstance(entries, list):
            raise RosterError(f"{source}：{section} 应是表的数组（[[{section}]]）")
        seen: set[str] = set()
        for index, data in enumerate(entries):
            entry = _Entry(source, section, index, data)
            key = entry.key()
            if key in seen:
                raise entry.fail("key", "在本段里重复")
            seen.add(key)
            entry.check_unknown(_FIELDS[section])
            parsed[section].append((key, _PARSERS[section](entry)))
            _check_userid_case(entry, parsed[section])
    member_keys = {key for key, _ in parsed["members"]}
    for index, (key, values) in enumerate(parsed["contact_points"]):
        for member_key in values["member_keys"]:
            if member_key not in member_keys:
                raise RosterError(
                    f"{source}：[[contact_points]] 第 {index + 1} 项（key {key!r}）：字段 members "
                    f"里的委员 {member_key!r} 不在花名册里"
                )
    return parsed


def _check_userid_case(entry: _Entry, so_far: list[tuple[str, dict[str, Any]]]) -> None:
    """WeCom ignores case when it checks a userid's uniqueness ("系统进行唯一性检查时会忽略大小写",
    https://developer.work.weixin.qq.com/document/path/90195): two entries of one section whose userids
    differ only in case are one WeCom account, and would be matched as one (`handlers/cases/people.py`)."""
    _, values = so_far[-1]
    userid = values.get("wecom_userid")
    if not userid:
        return
    for index, (other_key, other) in enumerate(so_far[:-1]):
        theirs = other.get("wecom_userid")
        if theirs and theirs.casefold() == userid.casefold():
            where = texts.in_this_file(index + 1, entry.section)
            raise RosterError(f"{entry.where}: {texts.userid_case_clash(userid, theirs, other_key, where)}")


async def _check_userids_against_stored(source: str, section: str, entries: list[tuple[str, dict[str, Any]]]) -> None:
    """A row already stored (and not in this file) whose userid differs only in case from an entry's."""
    model: Any = _MODELS[section]
    wanted = {
        values["wecom_userid"].casefold(): (key, values["wecom_userid"])
        for key, values in entries
        if values.get("wecom_userid")
    }
    if not wanted:
        return
    keys = [key for key, _ in entries]
    for row in await model.filter(wecom_userid__not_isnull=True).exclude(key__in=keys):
        clash = wanted.get(str(row.wecom_userid).casefold())
        if clash is not None:
            key, userid = clash
            clashing = texts.userid_case_clash(userid, row.wecom_userid, row.key, texts.already_stored(section))
            raise RosterError(f"{source}: [[{section}]] (key {key!r}): {clashing}")


_MODELS: dict[str, type[Model]] = {
    "departments": Department,
    "categories": Category,
    "members": Member,
    "staff": Staff,
    "contact_points": ContactPoint,
}


async def import_roster(path: str | Path) -> ImportReport:
    parsed = parse_roster(path)
    report = ImportReport()
    async with in_transaction():
        for section in ("members", "staff"):
            await _check_userids_against_stored(str(path), section, parsed[section])
        for section in SECTIONS:
            model = _MODELS[section]
            created = updated = unchanged = 0
            for key, values in parsed[section]:
                row: Any = await model.get_or_none(key=key)
                if row is None:
                    await model.create(key=key, **values)
                    created += 1
                    continue
                changes = {name: value for name, value in values.items() if getattr(row, name) != value}
                if changes:
                    for name, value in changes.items():
                        setattr(row, name, value)
                    await row.save(update_fields=list(changes))
                    updated += 1
                else:
                    unchanged += 1
            report.created[section], report.updated[section], report.unchanged[section] = (
                created,
                updated,
                unchanged,
            )
    return report
