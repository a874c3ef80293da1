"""Staff's links to a citizen's voice (or image, video): media_link, an unguessable token's hash bound to
one stored message, with its expiry."""

from __future__ import annotations

from tortoise.backends.base.client import BaseDBAsyncClient

SQLITE = """
CREATE TABLE IF NOT EXISTS "media_link" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "token_hash" VARCHAR(64) NOT NULL UNIQUE,
    "created_at" TIMESTAMP NOT NULL,
    "expires_at" TIMESTAMP NOT NULL,
    "message_id" INT NOT NULL REFERENCES "case_message" ("id") ON DELETE CASCADE
);
"""

POSTGRES = """
CREATE TABLE IF NOT EXISTS "media_link" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "token_hash" VARCHAR(64) NOT NULL UNIQUE,
    "created_at" TIMESTAMPTZ NOT NULL,
    "expires_at" TIMESTAMPTZ NOT NULL,
    "message_id" INT NOT NULL REFERENCES "case_message" ("id") ON DELETE CASCADE
);
"""


async def upgrade(conn: BaseDBAsyncClient, dialect: str) -> None:
    await conn.execute_script(SQLITE if dialect == "sqlite" else POSTGRES)
