r"""The web console: staff passwords (`staff.password_hash`, argon2, NULL until set) and
`staff.console_disabled_at` (`mashang staff disable`); the `viewer` role (the role column's comment on
PostgreSQL names the enum's values); and on PostgreSQL the console's text search: pg_trgm with a GIN
index on the case summary, so `summary LIKE '%…%'` of Chinese text need not read every case.

Idempotent like the baseline (SQLite reads `PRAGMA table_info` first)."""

from __future__ import annotations

from tortoise.backends.base.client import BaseDBAsyncClient

# Not described by the models (Tortoise has no trigram operator classes): tests/test_migrations.py
# leaves it out when it compares a migrated schema with the one the models make.
TRGM_INDEX = "case_summary_trgm"

SQLITE_COLUMNS = {
    "password_hash": 'ALTER TABLE "staff" ADD COLUMN "password_hash" VARCHAR(200);\n',
    "console_disabled_at": 'ALTER TABLE "staff" ADD COLUMN "console_disabled_at" TIMESTAMP;\n',
}

POSTGRES = rf"""
ALTER TABLE "staff" ADD COLUMN IF NOT EXISTS "password_hash" VARCHAR(200);
ALTER TABLE "staff" ADD COLUMN IF NOT EXISTS "console_disabled_at" TIMESTAMPTZ;
COMMENT ON COLUMN "staff"."role" IS 'TRIAGE: triage\nADMIN: admin\nVIEWER: viewer';
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX IF NOT EXISTS "{TRGM_INDEX}" ON "case" USING gin ("summary" gin_trgm_ops);
"""


async def upgrade(conn: BaseDBAsyncClient, dialect: str) -> None:
    if dialect == "postgres":
        await conn.execute_script(POSTGRES)
        return
    present = {row["name"] for row in await conn.execute_query_dict('PRAGMA table_info("staff")')}
    script = "".join(sql for column, sql in SQLITE_COLUMNS.items() if column not in present)
    if script:
        await conn.execute_script(script)
