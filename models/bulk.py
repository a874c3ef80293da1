"""Multi-row statements for hot paths where one ORM statement per row costs too much.

Intake under load writes a batch of cases in a handful of statements instead of ~18 per message.
Values go through each field's own `to_db_value` and unset fields get the model's defaults, so the
rows read back through the ORM exactly as if `Model.create` had written them. Works on SQLite and
PostgreSQL (the two dialects we run on).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.fields import BigIntField, CharField, DatetimeField, Field, IntField, JSONField, TextField
from tortoise.fields.data import JSON_DUMPS
from tortoise.fields.relational import RelationalField
from tortoise.models import Model

from models.timeutil import now

MAX_PARAMETERS = 30_000  # SQLite allows 32,766 bound parameters per statement, PostgreSQL 65,535


def quote(name: str) -> str:
    return f'"{name}"'


def placeholders(connection: BaseDBAsyncClient | str, start: int, count: int) -> str:
    """`?, ?, ?` for SQLite, `$4, $5, $6` for PostgreSQL (1-based `start`); a connection or its dialect."""
    dialect = connection if isinstance(connection, str) else connection.capabilities.dialect
    if dialect == "postgres":
        return ", ".join(f"${index}" for index in range(start, start + count))
    return ", ".join("?" * count)


def in_list(connection: BaseDBAsyncClient | str, values: Sequence[Any], start: int = 1) -> str:
    return f"({placeholders(connection, start, len(values))})"


@dataclass(frozen=True)
class _Column:
    name: str
    column: str
    to_db: Callable[[Any], Any]
    default: Callable[[], Any]
    per_row_default: bool  # the default is a fresh value per row (a factory other than dict/list/now)
    per_call_default: bool  # the default is "now": one moment for the whole statement


def _converter(model: type[Model], field: Field) -> Callable[[Any], Any]:
    """The field's own to_db_value, short-cut where it only re-validates (a measurable share of a batch):
    plain numbers and text pass as they are (text keeps its length check), aware datetimes as they are,
    JSON objects go straight to the field's encoder, and NULL stays NULL in a nullable column."""
    slow = functools.partial(field.to_db_value, instance=model)
    convert: Callable[[Any], Any]
    if type(field) in (IntField, BigIntField, TextField):
        convert = _identity
    elif type(field) is CharField:
        limit = field.max_length

        def convert(value: Any) -> Any:
            if isinstance(value, str) and len(value) > limit:
                raise ValueError(f"{model.__name__}.{field.model_field_name}: longer than {limit}")
            return value

    elif type(field) is DatetimeField:

        def convert(value: Any) -> Any:
            if type(value) is datetime and value.tzinfo is not None:
                return value
            return slow(value)

    elif type(field) is JSONField:
        # Tortoise's default encoder is json.dumps with compact separators, which builds a JSONEncoder
        # per call; one built once writes the same text.
        encoder = _compact_json if field.encoder is JSON_DUMPS and _tortoise_uses_json_dumps() else field.encoder

        def convert(value: Any) -> Any:
            return encoder(value) if type(value) in (dict, list) else slow(value)

    else:
        convert = slow
    if not field.null or convert is _identity:
        return convert

    def nullable(value: Any) -> Any:
        return None if value is None else convert(value)

    return nullable


_compact_json = json.JSONEncoder(separators=(",", ":")).encode


def _tortoise_uses_json_dumps() -> bool:
    """Tortoise's default is json.dumps with compact separators, or orjson where that is installed
    (which writes other text): the prebuilt encoder stands in only for the former."""
    return isinstance(JSON_DUMPS, functools.partial) and JSON_DUMPS.func is json.dumps


def _identity(value: Any) -> Any:
    return value


def _default(field: Field) -> tuple[Callable[[], Any], bool, bool]:
    """(default, a fresh value per row, one "now" per statement)."""
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        return now, False, True
    value = field.default
    if value in (dict, list):  # converted to "{}" / "[]": the same text for every row
        return value, False, False
    if callable(value):
        return value, True, False
    return (lambda: value), False, False


@functools.cache
def _columns(model: type[Model]) -> tuple[_Column, ...]:
    """Every column `Model.create` would write, the generated key excluded."""
    meta = model._meta
    columns = []
    for name, column in meta.fields_db_projection.items():
        field = meta.fields_map[name]
        if isinstance(field, RelationalField) or (field.pk and field.generated):
            continue
        default, per_row, per_call = _default(field)
        columns.append(_Column(name, column, _converter(model, field), default, per_row, per_call))
    return tuple(columns)


RowBuilder = Callable[[dict[str, Any]], list[Any]]


def _row_builder(model: type[Model], present: frozenset[str]) -> RowBuilder:
    """Turns a row dict with exactly the `present` keys into its column values: defaults of the absent
    columns are converted once per call, not once per row."""
    compiled, constant_columns = _compiled_builder(model, present)
    moment = now()
    constants = [
        column.to_db(moment if column.per_call_default else column.default()) for column in constant_columns
    ]
    return functools.partial(compiled, constants=constants)


@functools.cache
def _compiled_builder(
    model: type[Model], present: frozenset[str]
) -> tuple[Callable[..., list[Any]], tuple[_Column, ...]]:
    """One list display per (model, keys), generated the way dataclasses generate `__init__`:
    `[constants[0], convert1(row["a"]), row["b"], ...]` (a loop over the columns per row was a tenth
    of a batch's CPU). Returns it with the columns whose per-call constants it takes."""
    namespace: dict[str, Any] = {}
    parts = []
    constant_columns: list[_Column] = []
    for index, column in enumerate(_columns(model)):
        if column.name in present:
            value = f"row[{column.name!r}]"
            if column.to_db is _identity:
                parts.append(value)
            else:
                namespace[f"convert{index}"] = column.to_db
                parts.append(f"convert{index}({value})")
        elif column.per_row_default:
            namespace[f"convert{index}"] = column.to_db
            namespace[f"default{index}"] = column.default
            parts.append(f"convert{index}(default{index}())")
        else:
            parts.append(f"constants[{len(constant_columns)}]")
            constant_columns.append(column)
    source = f"def build(row, constants):\n    return [{', '.join(parts)}]\n"
    exec(source, namespace)  # the names in it are our own models' field names, never input
    return namespace["build"], tuple(constant_columns)


Statement = tuple[str, list[Any]]


def insert_statements(
    dialect: str,
    model: type[Model],
    rows: Sequence[dict[str, Any]],
    *,
    returning: Sequence[str] = (),
    on_conflict: str = "",
) -> list[Statement]:
    """The INSERTs (as few as the parameter limit allows) that write `rows`, without running them.

    `rows` hold field names (foreign keys as `<name>_id`); `on_conflict` is a literal clause such as
    `ON CONFLICT ("key") DO NOTHING`; `returning` lists columns to read back (rows skipped by the
    conflict clause return nothing, so match results by a natural key, never by position).
    """
    if not rows:
        return []
    columns = _columns(model)
    head, width = _insert_head(model)
    builders: dict[frozenset[str], RowBuilder] = {}
    per_statement = max(1, MAX_PARAMETERS // width)
    tail = f" {on_conflict}" if on_conflict else ""
    if returning:
        tail += " RETURNING " + ", ".join(quote(column) for column in returning)
    statements: list[Statement] = []
    build: RowBuilder | None = None
    keys = -1  # how many keys the rows `build` was made for have
    for offset in range(0, len(rows), per_statement):
        chunk = rows[offset : offset + per_statement]
        values: list[Any] = []
        for row in chunk:
            # Rows of one call usually have the same keys: as many keys, all of which `build` finds,
            # are the same keys (a missing one raises KeyError before anything is added).
            if build is not None and len(row) == keys:
                try:
                    values.extend(build(row))
                    continue
                except KeyError:
                    pass
            present = frozenset(row)
            build = builders.get(present)
            if build is None:
                unknown = present - {column.name for column in columns}
                if unknown:
                    raise ValueError(f"{model.__name__} has no column for {sorted(unknown)}")
                build = builders[present] = _row_builder(model, present)
            keys = len(present)
            values.extend(build(row))
        statements.append((head + _groups_text(dialect, len(chunk), width) + tail, values))
    return statements


@functools.cache
def _insert_head(model: type[Model]) -> tuple[str, int]:
    columns = _columns(model)
    names = ", ".join(quote(column.column) for column in columns)
    return f"INSERT INTO {quote(model._meta.db_table)} ({names}) VALUES ", len(columns)


@functools.lru_cache(maxsize=512)
def _groups_text(dialect: str, rows: int, width: int) -> str:
    if dialect == "postgres":
        return ", ".join(
            "(" + ", ".join(f"${row * width + column + 1}" for column in range(width)) + ")" for row in range(rows)
        )
    group = "(" + ", ".join("?" * width) + ")"
    return ", ".join([group] * rows)
