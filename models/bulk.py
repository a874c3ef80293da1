"""Multi-row statements for hot paths where one ORM statement per row costs too much.

Intake under load writes a batch of cases in a handful of statements instead of ~18 per message.
Values go through each field's own `to_db_value` and unset fields get the model's defaults, so the
rows read back through the ORM exactly as if `Model.create` had written them. Works on SQLite and
PostgreSQL (the two dialects we run on).
"""

from __future__ import annotations

import functools
import itertools
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.fields import BigIntField, CharField, DatetimeField, Field, IntField, JSONField, TextField
from tortoise.fields.data import JSON_DUMPS
from tortoise.fields.relational import RelationalField
from tortoise.models import Model

from models.timeutil import now

T = TypeVar("T")
_LENGTH = re.compile(r"\(\d+\)$")
MAX_PARAMETERS = 30_000  # SQLite allows 32,766 bound parameters per statement


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
    omittable: bool  # nullable, default None, no database default: left out, the column is NULL anyway
    is_datetime: bool
    pg_type: str  # the column's PostgreSQL type, for `unnest($1::<type>[])`


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
        omittable = field.null and field.default is None and not field.has_db_default() and not per_call
        columns.append(
            _Column(
                name,
                column,
                _converter(model, field),
                default,
                per_row,
                per_call,
                omittable,
                isinstance(field, DatetimeField),
                field.get_for_dialect("postgres", "SQL_TYPE"),
            )
        )
    return tuple(columns)


RowBuilder = Callable[[dict[str, Any]], list[Any]]


@dataclass(frozen=True)
class _Shape:
    """The INSERT head for one set of keys and how to turn such a row into its values."""

    head: str  # INSERT INTO "t" ("a", "b") VALUES  (PostgreSQL: … SELECT * FROM unnest(…))
    width: int
    build: RowBuilder


def _shape(model: type[Model], present: frozenset[str], dialect: str) -> _Shape:
    """Columns absent from `present` get their defaults, converted once: a "now" default once per call,
    any other once per process (converted defaults are plain text, numbers or NULL)."""
    compiled = _compiled_builder(model, present, dialect)
    if any(column.per_call_default for column in compiled[1]):
        return _built_shape(*compiled, now())
    return _lasting_shape(model, present, dialect)


@functools.cache
def _lasting_shape(model: type[Model], present: frozenset[str], dialect: str) -> _Shape:
    return _built_shape(*_compiled_builder(model, present, dialect), None)


def _built_shape(
    compiled: Callable[..., list[Any]],
    constant_columns: tuple[_Column, ...],
    head: str,
    width: int,
    moment: datetime | None,
) -> _Shape:
    constants = [column.to_db(moment if column.per_call_default else column.default()) for column in constant_columns]
    return _Shape(head, width, functools.partial(compiled, constants=constants))


@functools.cache
def _column_names(model: type[Model]) -> frozenset[str]:
    return frozenset(column.name for column in _columns(model))


@functools.cache
def _compiled_builder(
    model: type[Model], present: frozenset[str], dialect: str
) -> tuple[Callable[..., list[Any]], tuple[_Column, ...], str, int]:
    """One list display per (model, keys, dialect), generated the way dataclasses generate `__init__`:
    `[constants[0], convert1(row["a"]), row["b"], ...]` (a loop over the columns per row was a tenth
    of a batch's CPU). Returns it with the columns whose per-call constants it takes, the INSERT head
    and the number of columns."""
    namespace: dict[str, Any] = {}
    parts = []
    names = []
    types = []
    constant_columns: list[_Column] = []
    for index, column in enumerate(_columns(model)):
        if column.name not in present and column.omittable:
            continue
        names.append(quote(column.column))
        types.append(column.pg_type)
        to_db = _sqlite_datetime(column.to_db) if dialect == "sqlite" and column.is_datetime else column.to_db
        if column.name in present:
            value = f"row[{column.name!r}]"
            if to_db is _identity:
                parts.append(value)
            else:
                namespace[f"convert{index}"] = to_db
                parts.append(f"convert{index}({value})")
        elif column.per_row_default:
            namespace[f"convert{index}"] = to_db
            namespace[f"default{index}"] = column.default
            parts.append(f"convert{index}(default{index}())")
        else:
            parts.append(f"constants[{len(constant_columns)}]")
            constant_columns.append(column)
    source = f"def build(row, constants):\n    return [{', '.join(parts)}]\n"
    exec(source, namespace)  # the names in it are our own models' field names, never input
    head = f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(names)}) "
    if dialect == "postgres":  # one array parameter per column: the same text for any number of rows
        # VARCHAR without its length: an explicit cast to VARCHAR(n) cuts a longer value silently, a plain
        # VARCHAR leaves the column's own limit to refuse it.
        arrays = ", ".join(
            f"${number}::{_LENGTH.sub('', sql_type)}[]" for number, sql_type in enumerate(types, start=1)
        )
        head += f"SELECT * FROM unnest({arrays})"
    else:
        head += "VALUES "
    return namespace["build"], tuple(constant_columns), head, len(names)


def _sqlite_datetime(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`convert`, then the text SQLite stores for an aware datetime (what Tortoise's sqlite3 adapter
    writes), remembered for the last value: a batch's rows mostly share one moment, and the adapter,
    called by sqlite3 for every bound datetime, showed in profiles."""
    last: tuple[Any, Any] = (None, None)

    def to_text(value: Any) -> Any:
        nonlocal last
        seen, text = last  # one tuple, read once: safe from the database thread and the loop alike
        if value is seen and seen is not None:
            return text
        converted = convert(value)
        if type(converted) is not datetime:
            return converted
        text = converted.isoformat(" ")
        last = (value, text)
        return text

    return to_text


Statement = tuple[str, list[Any]]


def bucket_sizes(count: int, largest: int) -> list[int]:
    """`count` split into powers of two, largest first, none above `largest` (itself a power of two):
    29 -> [16, 8, 4, 1]."""
    sizes = []
    while count:
        size = min(largest, 1 << (count.bit_length() - 1))
        sizes.append(size)
        count -= size
    return sizes


def padded(values: Sequence[T]) -> list[T]:
    """`values` with its last one repeated up to the next power of two, for a statement whose text
    should not depend on the batch size (an `IN (…)` list, where repeats change nothing, or rows an
    `ON CONFLICT DO NOTHING` skips when repeated): a handful of texts then serve every batch size."""
    size = 1 << max(0, (len(values) - 1).bit_length())
    return [*values, *([values[-1]] * (size - len(values)))] if values else []


def insert_statements(
    dialect: str,
    model: type[Model],
    rows: Sequence[dict[str, Any]],
    *,
    returning: Sequence[str] = (),
    on_conflict: str = "",
) -> list[Statement]:
    """The INSERTs that write `rows`, without running them.

    `rows` hold field names (foreign keys as `<name>_id`); `on_conflict` is a literal clause such as
    `ON CONFLICT ("key") DO NOTHING`; `returning` lists columns to read back (rows skipped by the
    conflict clause return nothing, so match results by a natural key, never by position).

    On SQLite rows go in statements of a power-of-two count each (29 rows: 16 + 8 + 4 + 1), in their
    order: SQLite keeps prepared statements by their text in a small cache, and with one text per batch
    size every batch was parsed anew, which cost about as much as running it. On PostgreSQL, where each
    statement is a round trip (and asyncpg prepares each new text first), one statement for any number of
    rows: `INSERT … SELECT * FROM unnest($1::varchar(32)[], $2::int[], …)`, one array per column.
    """
    if not rows:
        return []
    tail = f" {on_conflict}" if on_conflict else ""
    if returning:
        tail += " RETURNING " + ", ".join(quote(column) for column in returning)
    runs: list[tuple[_Shape, list[list[Any]]]] = []  # consecutive rows of the same keys
    shapes: dict[frozenset[str], _Shape] = {}
    shape: _Shape | None = None
    built: list[list[Any]] = []
    keys = -1  # how many keys the rows of `shape` have
    for row in rows:
        # Rows of one call usually have the same keys: as many keys, all of which `build` finds,
        # are the same keys (a missing one raises KeyError before anything is added).
        if shape is not None and len(row) == keys:
            try:
                built.append(shape.build(row))
                continue
            except KeyError:
                pass
        present = frozenset(row)
        shape = shapes.get(present)
        if shape is None:
            unknown = present - _column_names(model)
            if unknown:
                raise ValueError(f"{model.__name__} has no column for {sorted(unknown)}")
            shape = shapes[present] = _shape(model, present, dialect)
        keys = len(present)
        built = []
        runs.append((shape, built))
        built.append(shape.build(row))
    statements: list[Statement] = []
    for shape, values in runs:
        if dialect == "postgres":  # columns as arrays: one statement (one round trip) for any number of rows
            statements.append((shape.head + tail, [list(column) for column in zip(*values, strict=True)]))
            continue
        largest = 1 << ((MAX_PARAMETERS // shape.width).bit_length() - 1)
        offset = 0
        for size in bucket_sizes(len(values), largest):
            chunk = list(itertools.chain.from_iterable(values[offset : offset + size]))
            statements.append((shape.head + _groups_text(size, shape.width) + tail, chunk))
            offset += size
    return statements


@functools.lru_cache(maxsize=512)
def _groups_text(rows: int, width: int) -> str:
    """`(?, ?), (?, ?)` for SQLite (PostgreSQL takes arrays, see `_compiled_builder`)."""
    group = "(" + ", ".join("?" * width) + ")"
    return ", ".join([group] * rows)
