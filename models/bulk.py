"""Multi-row statements for hot paths where one ORM statement per row costs too much.

Intake under load writes a batch of cases in a handful of statements instead of ~18 per message.
Values go through each field's own `to_db_value` and unset fields get the model's defaults, so the
rows read back through the ORM exactly as if `Model.create` had written them. Works on SQLite and
PostgreSQL (the two dialects we run on).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.fields.relational import RelationalField
from tortoise.models import Model

from models.timeutil import now

MAX_PARAMETERS = 30_000  # SQLite allows 32,766 bound parameters per statement, PostgreSQL 65,535


def quote(name: str) -> str:
    return f'"{name}"'


def placeholders(connection: BaseDBAsyncClient, start: int, count: int) -> str:
    """`?, ?, ?` for SQLite, `$4, $5, $6` for PostgreSQL (1-based `start`)."""
    if connection.capabilities.dialect == "postgres":
        return ", ".join(f"${index}" for index in range(start, start + count))
    return ", ".join("?" * count)


def in_list(connection: BaseDBAsyncClient, values: Sequence[Any], start: int = 1) -> str:
    return f"({placeholders(connection, start, len(values))})"


def _db_columns(model: type[Model]) -> list[tuple[str, str]]:
    """(field name, column) for every column `Model.create` would write, the generated key excluded."""
    meta = model._meta
    columns = []
    for name, column in meta.fields_db_projection.items():
        field = meta.fields_map[name]
        if isinstance(field, RelationalField) or (field.pk and field.generated):
            continue
        columns.append((name, column))
    return columns


def _value(model: type[Model], name: str, row: dict[str, Any]) -> Any:
    field = model._meta.fields_map[name]
    if name in row:
        value = row[name]
    elif getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        value = now()
    elif callable(field.default):
        value = field.default()
    else:
        value = field.default
    return field.to_db_value(value, model)


async def insert_rows(
    connection: BaseDBAsyncClient,
    model: type[Model],
    rows: Sequence[dict[str, Any]],
    *,
    returning: Sequence[str] = (),
    on_conflict: str = "",
) -> list[dict[str, Any]]:
    """INSERT many rows in as few statements as the parameter limit allows.

    `rows` hold field names (foreign keys as `<name>_id`); `on_conflict` is a literal clause such as
    `ON CONFLICT ("key") DO NOTHING`; `returning` lists columns to read back (rows skipped by the
    conflict clause return nothing, so match results by a natural key, never by position).
    """
    if not rows:
        return []
    columns = _db_columns(model)
    width = len(columns)
    per_statement = max(1, MAX_PARAMETERS // width)
    head = f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(column) for _, column in columns)}) VALUES "
    tail = f" {on_conflict}" if on_conflict else ""
    if returning:
        tail += " RETURNING " + ", ".join(quote(column) for column in returning)
    results: list[dict[str, Any]] = []
    for offset in range(0, len(rows), per_statement):
        chunk = rows[offset : offset + per_statement]
        values: list[Any] = []
        groups = []
        for index, row in enumerate(chunk):
            groups.append(f"({placeholders(connection, index * width + 1, width)})")
            values.extend(_value(model, name, row) for name, _ in columns)
        sql = head + ", ".join(groups) + tail
        if returning:
            results.extend(dict(found) for found in await connection.execute_query_dict(sql, values))
        else:
            await connection.execute_query(sql, values)
    return results
