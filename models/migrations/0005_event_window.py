"""The customer-service window of events: after a subscribe, scan or menu click WeChat allows 3
customer-service messages within 1 minute (models/window.py). Existing citizens start with none open.

A column already there is left alone (a database stamped at the baseline may have been made from newer
models)."""

from __future__ import annotations

from tortoise.backends.base.client import BaseDBAsyncClient


async def _columns(conn: BaseDBAsyncClient, dialect: str, table: str) -> set[str]:
    if dialect == "sqlite":
        rows = await conn.execute_query_dict(f'PRAGMA table_info("{table}")')
        return {str(row["name"]) for row in rows}
    rows = await conn.execute_query_dict(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1",
        [table],
    )
    return {str(row["column_name"]) for row in rows}


async def upgrade(conn: BaseDBAsyncClient, dialect: str) -> None:
    moment = "TIMESTAMP" if dialect == "sqlite" else "TIMESTAMPTZ"
    present = await _columns(conn, dialect, "citizen")
    if "event_window_at" not in present:
        await conn.execute_script(f'ALTER TABLE "citizen" ADD COLUMN "event_window_at" {moment}')
    if "event_window_sends" not in present:
        await conn.execute_script('ALTER TABLE "citizen" ADD COLUMN "event_window_sends" INT NOT NULL DEFAULT 0')
