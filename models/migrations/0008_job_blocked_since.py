"""`job.blocked_since`: since when a configuration error (IP whitelist, secret, template, webhook key, ...)
holds a job back. Such a job is retried slowly without counting attempts until `[jobs]
misconfigured_ceiling` from then, and dead after it (kept; `mashang jobs retry` sends it). Existing jobs
are not held back (NULL).

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
    if "blocked_since" not in await _columns(conn, dialect, "job"):
        await conn.execute_script(f'ALTER TABLE "job" ADD COLUMN "blocked_since" {moment}')
