"""Similar cases: `case_terms`, the segmented terms of each case's text (models/similar.py), made when
similar cases are first asked for and kept; nothing to fill for existing cases."""

from __future__ import annotations

from tortoise.backends.base.client import BaseDBAsyncClient

COMMENT = "The segmented terms of a case text, space-separated, and the version of the rules that made them."

SQLITE = f"""
CREATE TABLE IF NOT EXISTS "case_terms" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "version" VARCHAR(16) NOT NULL,
    "terms" TEXT NOT NULL,
    "case_id" INT NOT NULL UNIQUE REFERENCES "case" ("id") ON DELETE CASCADE
) /* {COMMENT} */;
"""

POSTGRES = f"""
CREATE TABLE IF NOT EXISTS "case_terms" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "version" VARCHAR(16) NOT NULL,
    "terms" TEXT NOT NULL,
    "case_id" INT NOT NULL UNIQUE REFERENCES "case" ("id") ON DELETE CASCADE
);
COMMENT ON TABLE "case_terms" IS '{COMMENT}';
"""


async def upgrade(conn: BaseDBAsyncClient, dialect: str) -> None:
    await conn.execute_script(POSTGRES if dialect == "postgres" else SQLITE)
