# ruff: noqa: E501 - the SQL as the models generate it, one statement a line
"""Scan bindings in the database (Redis only caches them: a flush no longer loses which contact point a
citizen scanned), and how far each case's follow-ups have gone to its member (digests)."""

from __future__ import annotations

from tortoise.backends.base.client import BaseDBAsyncClient

SQLITE = """
CREATE TABLE IF NOT EXISTS "follow_up_forward" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "through_message_id" INT NOT NULL,
    "sent_at" TIMESTAMP,
    "case_id" INT NOT NULL UNIQUE REFERENCES "case" ("id") ON DELETE CASCADE
) /* How far a case's follow-ups have gone to the member holding it (digests: handlers.cases.follow_ups). */;
CREATE TABLE IF NOT EXISTS "scan_binding" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "openid" VARCHAR(64) NOT NULL UNIQUE,
    "scanned_at" TIMESTAMP NOT NULL,
    "expires_at" TIMESTAMP NOT NULL,
    "contact_point_id" INT NOT NULL REFERENCES "contact_point" ("id") ON DELETE CASCADE
) /* The contact point a citizen scanned last, and until when it binds their messages to it. */;
"""

POSTGRES = """
CREATE TABLE IF NOT EXISTS "follow_up_forward" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "through_message_id" INT NOT NULL,
    "sent_at" TIMESTAMPTZ,
    "case_id" INT NOT NULL UNIQUE REFERENCES "case" ("id") ON DELETE CASCADE
);
COMMENT ON TABLE "follow_up_forward" IS 'How far a case''s follow-ups have gone to the member holding it (digests: handlers.cases.follow_ups).';
CREATE TABLE IF NOT EXISTS "scan_binding" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "openid" VARCHAR(64) NOT NULL UNIQUE,
    "scanned_at" TIMESTAMPTZ NOT NULL,
    "expires_at" TIMESTAMPTZ NOT NULL,
    "contact_point_id" INT NOT NULL REFERENCES "contact_point" ("id") ON DELETE CASCADE
);
COMMENT ON TABLE "scan_binding" IS 'The contact point a citizen scanned last, and until when it binds their messages to it.';
"""


async def upgrade(conn: BaseDBAsyncClient, dialect: str) -> None:
    await conn.execute_script(SQLITE if dialect == "sqlite" else POSTGRES)
