"""Template messages WeChat accepted (models/delivery.py), so that its TEMPLATESENDJOBFINISH event finds
the case; nothing to fill for messages sent before."""

from __future__ import annotations

from tortoise.backends.base.client import BaseDBAsyncClient

COMMENT = "A template message WeChat accepted (its msgid), and the outcome its TEMPLATESENDJOBFINISH told."

SQLITE = f"""
CREATE TABLE IF NOT EXISTS "template_send" (
    "msgid" BIGINT NOT NULL PRIMARY KEY,
    "purpose" VARCHAR(16) NOT NULL,
    "status" VARCHAR(64),
    "created_at" TIMESTAMP NOT NULL,
    "finished_at" TIMESTAMP,
    "case_id" INT REFERENCES "case" ("id") ON DELETE SET NULL
) /* {COMMENT} */;
"""

POSTGRES = f"""
CREATE TABLE IF NOT EXISTS "template_send" (
    "msgid" BIGINT NOT NULL PRIMARY KEY,
    "purpose" VARCHAR(16) NOT NULL,
    "status" VARCHAR(64),
    "created_at" TIMESTAMPTZ NOT NULL,
    "finished_at" TIMESTAMPTZ,
    "case_id" INT REFERENCES "case" ("id") ON DELETE SET NULL
);
COMMENT ON TABLE "template_send" IS '{COMMENT}';
"""


async def upgrade(conn: BaseDBAsyncClient, dialect: str) -> None:
    await conn.execute_script(POSTGRES if dialect == "postgres" else SQLITE)
