"""12345 hotline work orders: `case.source` (qr | hotline; every existing case is "qr"), `case.district`
(a work order's district; NULL for QR cases, whose district is their contact point's), and the table
`hotline_order` (the hotline's number, unique, and what its export said)."""

from __future__ import annotations

from tortoise.backends.base.client import BaseDBAsyncClient

COMMENT = "A 12345 hotline work order: its number, the case it became, the values of its last import."

SQLITE_COLUMNS = {
    "source": """ALTER TABLE "case" ADD COLUMN "source" VARCHAR(8) NOT NULL DEFAULT 'qr';""",
    "district": """ALTER TABLE "case" ADD COLUMN "district" VARCHAR(100);""",
}

SQLITE = f"""
CREATE TABLE IF NOT EXISTS "hotline_order" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "external_id" VARCHAR(64) NOT NULL UNIQUE,
    "status" VARCHAR(40) NOT NULL DEFAULT '',
    "category" VARCHAR(100) NOT NULL DEFAULT '',
    "phone" VARCHAR(32),
    "address" VARCHAR(500),
    "imported_at" TIMESTAMP NOT NULL,
    "updated_at" TIMESTAMP NOT NULL,
    "case_id" INT NOT NULL UNIQUE REFERENCES "case" ("id") ON DELETE CASCADE
) /* {COMMENT} */;
"""

POSTGRES = f"""
ALTER TABLE "case" ADD COLUMN IF NOT EXISTS "source" VARCHAR(8) NOT NULL DEFAULT 'qr';
ALTER TABLE "case" ADD COLUMN IF NOT EXISTS "district" VARCHAR(100);
CREATE TABLE IF NOT EXISTS "hotline_order" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "external_id" VARCHAR(64) NOT NULL UNIQUE,
    "status" VARCHAR(40) NOT NULL DEFAULT '',
    "category" VARCHAR(100) NOT NULL DEFAULT '',
    "phone" VARCHAR(32),
    "address" VARCHAR(500),
    "imported_at" TIMESTAMPTZ NOT NULL,
    "updated_at" TIMESTAMPTZ NOT NULL,
    "case_id" INT NOT NULL UNIQUE REFERENCES "case" ("id") ON DELETE CASCADE
);
COMMENT ON TABLE "hotline_order" IS '{COMMENT}';
"""


async def upgrade(conn: BaseDBAsyncClient, dialect: str) -> None:
    # Idempotent, like the baseline: a database an earlier release made with generate_schemas() from
    # these models already has the columns and the table (SQLite's ADD COLUMN has no IF NOT EXISTS).
    if dialect == "postgres":
        await conn.execute_script(POSTGRES)
        return
    present = {row["name"] for row in await conn.execute_query_dict('PRAGMA table_info("case")')}
    script = "".join(sql for column, sql in SQLITE_COLUMNS.items() if column not in present)
    await conn.execute_script(script + SQLITE)
