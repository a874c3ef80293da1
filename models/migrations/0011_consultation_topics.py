"""码上商量 consultation topics: `consultation_topic`, `opinion` (with its listing indexes: topic,
status, then created_at or support_count), `opinion_image` (hidden until WeChat's media check passes)
and `opinion_support` (附议, one per person and opinion). New tables only: nothing to fill."""

from __future__ import annotations

from tortoise.backends.base.client import BaseDBAsyncClient

# ruff: noqa: E501  (the statements are kept exactly as generated)

SQLITE = """
CREATE TABLE IF NOT EXISTS "consultation_topic" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "key" VARCHAR(32) NOT NULL UNIQUE,
    "title" VARCHAR(100) NOT NULL,
    "body" TEXT NOT NULL,
    "until" DATE NOT NULL,
    "points" JSON NOT NULL,
    "status" VARCHAR(8) NOT NULL /* OPEN: open\nCLOSED: closed */,
    "opinion_count" INT NOT NULL DEFAULT 0,
    "summary" TEXT,
    "created_at" TIMESTAMP NOT NULL,
    "closed_at" TIMESTAMP
) /* A consultation topic (议题) with its own mini-program code (scene tp=<key>). */;
CREATE TABLE IF NOT EXISTS "opinion" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "text" TEXT NOT NULL,
    "status" VARCHAR(10) NOT NULL /* REVIEW: review\nPUBLISHED: published\nREJECTED: rejected */,
    "support_count" INT NOT NULL DEFAULT 0,
    "point_key" VARCHAR(40),
    "check" JSON NOT NULL,
    "case_id" INT,
    "created_at" TIMESTAMP NOT NULL,
    "published_at" TIMESTAMP,
    "citizen_id" INT REFERENCES "citizen" ("id") ON DELETE SET NULL,
    "member_id" INT REFERENCES "member" ("id") ON DELETE SET NULL,
    "topic_id" INT NOT NULL REFERENCES "consultation_topic" ("id") ON DELETE CASCADE
) /* One opinion on a topic, by a mini-program citizen or a member (from WeCom). */;
CREATE INDEX IF NOT EXISTS "idx_opinion_topic_i_b82616" ON "opinion" ("topic_id", "status", "created_at", "id");
CREATE INDEX IF NOT EXISTS "idx_opinion_topic_i_00d7fe" ON "opinion" ("topic_id", "status", "support_count", "id");
CREATE TABLE IF NOT EXISTS "opinion_image" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "upload_id" VARCHAR(32) NOT NULL,
    "path" VARCHAR(500) NOT NULL,
    "content_type" VARCHAR(40) NOT NULL,
    "fetch_token" VARCHAR(43) NOT NULL UNIQUE,
    "trace_id" VARCHAR(64) UNIQUE,
    "status" VARCHAR(10) NOT NULL /* CHECKING: checking\nPASS: pass\nREFUSED: refused */,
    "created_at" TIMESTAMP NOT NULL,
    "opinion_id" INT NOT NULL REFERENCES "opinion" ("id") ON DELETE CASCADE
) /* An image of an opinion, hidden until WeChat's media check (wxa_media_check event) says pass. */;
CREATE TABLE IF NOT EXISTS "opinion_support" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "created_at" TIMESTAMP NOT NULL,
    "citizen_id" INT NOT NULL REFERENCES "citizen" ("id") ON DELETE CASCADE,
    "opinion_id" INT NOT NULL REFERENCES "opinion" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_opinion_sup_opinion_908812" UNIQUE ("opinion_id", "citizen_id")
) /* 附议: one per person and opinion. */;
"""

POSTGRES = """
CREATE TABLE IF NOT EXISTS "consultation_topic" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "key" VARCHAR(32) NOT NULL UNIQUE,
    "title" VARCHAR(100) NOT NULL,
    "body" TEXT NOT NULL,
    "until" DATE NOT NULL,
    "points" JSONB NOT NULL,
    "status" VARCHAR(8) NOT NULL,
    "opinion_count" INT NOT NULL DEFAULT 0,
    "summary" TEXT,
    "created_at" TIMESTAMPTZ NOT NULL,
    "closed_at" TIMESTAMPTZ
);
COMMENT ON COLUMN "consultation_topic"."status" IS 'OPEN: open\\nCLOSED: closed';
COMMENT ON TABLE "consultation_topic" IS 'A consultation topic (议题) with its own mini-program code (scene tp=<key>).';
CREATE TABLE IF NOT EXISTS "opinion" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "text" TEXT NOT NULL,
    "status" VARCHAR(10) NOT NULL,
    "support_count" INT NOT NULL DEFAULT 0,
    "point_key" VARCHAR(40),
    "check" JSONB NOT NULL,
    "case_id" INT,
    "created_at" TIMESTAMPTZ NOT NULL,
    "published_at" TIMESTAMPTZ,
    "citizen_id" INT REFERENCES "citizen" ("id") ON DELETE SET NULL,
    "member_id" INT REFERENCES "member" ("id") ON DELETE SET NULL,
    "topic_id" INT NOT NULL REFERENCES "consultation_topic" ("id") ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS "idx_opinion_topic_i_b82616" ON "opinion" ("topic_id", "status", "created_at", "id");
CREATE INDEX IF NOT EXISTS "idx_opinion_topic_i_00d7fe" ON "opinion" ("topic_id", "status", "support_count", "id");
COMMENT ON COLUMN "opinion"."status" IS 'REVIEW: review\\nPUBLISHED: published\\nREJECTED: rejected';
COMMENT ON TABLE "opinion" IS 'One opinion on a topic, by a mini-program citizen or a member (from WeCom).';
CREATE TABLE IF NOT EXISTS "opinion_image" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "upload_id" VARCHAR(32) NOT NULL,
    "path" VARCHAR(500) NOT NULL,
    "content_type" VARCHAR(40) NOT NULL,
    "fetch_token" VARCHAR(43) NOT NULL UNIQUE,
    "trace_id" VARCHAR(64) UNIQUE,
    "status" VARCHAR(10) NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL,
    "opinion_id" INT NOT NULL REFERENCES "opinion" ("id") ON DELETE CASCADE
);
COMMENT ON COLUMN "opinion_image"."status" IS 'CHECKING: checking\\nPASS: pass\\nREFUSED: refused';
COMMENT ON TABLE "opinion_image" IS 'An image of an opinion, hidden until WeChat''s media check (wxa_media_check event) says pass.';
CREATE TABLE IF NOT EXISTS "opinion_support" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "created_at" TIMESTAMPTZ NOT NULL,
    "citizen_id" INT NOT NULL REFERENCES "citizen" ("id") ON DELETE CASCADE,
    "opinion_id" INT NOT NULL REFERENCES "opinion" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_opinion_sup_opinion_908812" UNIQUE ("opinion_id", "citizen_id")
);
COMMENT ON TABLE "opinion_support" IS '附议: one per person and opinion.';
"""


async def upgrade(conn: BaseDBAsyncClient, dialect: str) -> None:
    await conn.execute_script(SQLITE if dialect == "sqlite" else POSTGRES)
