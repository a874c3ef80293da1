"""The citizen's case page: links (case_link), an unguessable token's hash bound to one case and its citizen."""

from __future__ import annotations

from tortoise.backends.base.client import BaseDBAsyncClient

SQLITE = """
CREATE TABLE IF NOT EXISTS "case_link" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "token_hash" VARCHAR(64) NOT NULL UNIQUE,
    "created_at" TIMESTAMP NOT NULL,
    "expires_at" TIMESTAMP NOT NULL,
    "used_at" TIMESTAMP,
    "case_id" INT NOT NULL REFERENCES "case" ("id") ON DELETE CASCADE,
    "citizen_id" INT NOT NULL REFERENCES "citizen" ("id") ON DELETE CASCADE
);
"""

POSTGRES = """
CREATE TABLE IF NOT EXISTS "case_link" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "token_hash" VARCHAR(64) NOT NULL UNIQUE,
    "created_at" TIMESTAMPTZ NOT NULL,
    "expires_at" TIMESTAMPTZ NOT NULL,
    "used_at" TIMESTAMPTZ,
    "case_id" INT NOT NULL REFERENCES "case" ("id") ON DELETE CASCADE,
    "citizen_id" INT NOT NULL REFERENCES "citizen" ("id") ON DELETE CASCADE
);
"""


async def upgrade(conn: BaseDBAsyncClient, dialect: str) -> None:
    await conn.execute_script(SQLITE if dialect == "sqlite" else POSTGRES)
