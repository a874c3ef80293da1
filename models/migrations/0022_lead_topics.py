"""Leads and topics (线索、专题): `lead_topic` (a topic's name, who created it) and `lead_topic_case` (a case
marked as a lead of a topic, once per topic). Nothing to fill: topics are made by staff from now on."""

from __future__ import annotations

from tortoise.backends.base.client import BaseDBAsyncClient

TOPIC_COMMENT = "A topic (专题): a name staff gave, and who created it when."
LEAD_COMMENT = "A case marked as a lead of a topic."

SQLITE = f"""
CREATE TABLE IF NOT EXISTS "lead_topic" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "name" VARCHAR(40) NOT NULL UNIQUE,
    "created_by" VARCHAR(80) NOT NULL,
    "created_at" TIMESTAMP NOT NULL
) /* {TOPIC_COMMENT} */;
CREATE TABLE IF NOT EXISTS "lead_topic_case" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "added_by" VARCHAR(80) NOT NULL,
    "added_at" TIMESTAMP NOT NULL,
    "case_id" INT NOT NULL REFERENCES "case" ("id") ON DELETE CASCADE,
    "topic_id" INT NOT NULL REFERENCES "lead_topic" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_lead_topic__topic_i_770b6e" UNIQUE ("topic_id", "case_id")
) /* {LEAD_COMMENT} */;
"""

POSTGRES = f"""
CREATE TABLE IF NOT EXISTS "lead_topic" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "name" VARCHAR(40) NOT NULL UNIQUE,
    "created_by" VARCHAR(80) NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL
);
COMMENT ON TABLE "lead_topic" IS '{TOPIC_COMMENT}';
CREATE TABLE IF NOT EXISTS "lead_topic_case" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "added_by" VARCHAR(80) NOT NULL,
    "added_at" TIMESTAMPTZ NOT NULL,
    "case_id" INT NOT NULL REFERENCES "case" ("id") ON DELETE CASCADE,
    "topic_id" INT NOT NULL REFERENCES "lead_topic" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_lead_topic__topic_i_770b6e" UNIQUE ("topic_id", "case_id")
);
COMMENT ON TABLE "lead_topic_case" IS '{LEAD_COMMENT}';
"""


async def upgrade(conn: BaseDBAsyncClient, dialect: str) -> None:
    await conn.execute_script(POSTGRES if dialect == "postgres" else SQLITE)
