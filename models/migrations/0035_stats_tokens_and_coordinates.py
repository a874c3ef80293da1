"""The statistics API and the console's map: `contact_point.latitude` and `longitude` (WGS-84 degrees from
the roster; NULL for existing points) and `staff_token` (the SHA-256 of each read-only token that
`mashang staff token` made). Idempotent like the baseline (SQLite reads `PRAGMA table_info` first)."""

from __future__ import annotations

from tortoise.backends.base.client import BaseDBAsyncClient

SQLITE_COLUMNS = {
    "latitude": 'ALTER TABLE "contact_point" ADD COLUMN "latitude" REAL;',
    "longitude": 'ALTER TABLE "contact_point" ADD COLUMN "longitude" REAL;',
}

SQLITE = """
CREATE TABLE IF NOT EXISTS "staff_token" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "token_hash" VARCHAR(64) NOT NULL UNIQUE,
    "created_at" TIMESTAMP NOT NULL,
    "revoked_at" TIMESTAMP,
    "staff_id" INT NOT NULL REFERENCES "staff" ("id") ON DELETE CASCADE
);
"""

POSTGRES = """
ALTER TABLE "contact_point" ADD COLUMN IF NOT EXISTS "latitude" DOUBLE PRECISION;
ALTER TABLE "contact_point" ADD COLUMN IF NOT EXISTS "longitude" DOUBLE PRECISION;
CREATE TABLE IF NOT EXISTS "staff_token" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "token_hash" VARCHAR(64) NOT NULL UNIQUE,
    "created_at" TIMESTAMPTZ NOT NULL,
    "revoked_at" TIMESTAMPTZ,
    "staff_id" INT NOT NULL REFERENCES "staff" ("id") ON DELETE CASCADE
);
"""


async def upgrade(conn: BaseDBAsyncClient, dialect: str) -> None:
    if dialect == "postgres":
        await conn.execute_script(POSTGRES)
        return
    present = {row["name"] for row in await conn.execute_query_dict('PRAGMA table_info("contact_point")')}
    script = "".join(sql for column, sql in SQLITE_COLUMNS.items() if column not in present)
    await conn.execute_script(script + SQLITE)
