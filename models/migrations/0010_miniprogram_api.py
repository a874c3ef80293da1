"""The mini-program API: uploads, one-time subscribe consents, idempotent requests; a citizen's phone
number (for the phone return visit) and an index on unionid (linking the official account's and the
mini-program's openids of one person)."""

from __future__ import annotations

from tortoise.backends.base.client import BaseDBAsyncClient

# SQLite has no ADD COLUMN IF NOT EXISTS: upgrade() adds it only to a table that lacks it.
SQLITE_PHONE = 'ALTER TABLE "citizen" ADD COLUMN "phone" VARCHAR(20)'
SQLITE = """
CREATE INDEX IF NOT EXISTS "idx_citizen_unionid_282809" ON "citizen" ("unionid");
CREATE TABLE IF NOT EXISTS "upload" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "public_id" VARCHAR(32) NOT NULL UNIQUE,
    "kind" VARCHAR(8) NOT NULL,
    "content_type" VARCHAR(40) NOT NULL,
    "size" INT NOT NULL,
    "path" VARCHAR(500) NOT NULL,
    "created_at" TIMESTAMP NOT NULL,
    "message_id" INT,
    "citizen_id" INT NOT NULL REFERENCES "citizen" ("id") ON DELETE CASCADE
) /* A file a mini-program citizen uploaded (stored under the media directory), used once. */;
CREATE TABLE IF NOT EXISTS "subscribe_consent" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "template_id" VARCHAR(64) NOT NULL,
    "remaining" INT NOT NULL DEFAULT 0,
    "updated_at" TIMESTAMP NOT NULL,
    "citizen_id" INT NOT NULL REFERENCES "citizen" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_subscribe_c_citizen_94e0c7" UNIQUE ("citizen_id", "template_id")
) /* One-time subscribe consents left for a citizen and a template: one consent, one send. */;
CREATE TABLE IF NOT EXISTS "idempotent_request" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "route" VARCHAR(80) NOT NULL,
    "key" VARCHAR(100) NOT NULL,
    "status" INT NOT NULL,
    "response" JSON NOT NULL,
    "created_at" TIMESTAMP NOT NULL,
    "citizen_id" INT NOT NULL REFERENCES "citizen" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_idempotent__citizen_746e8a" UNIQUE ("citizen_id", "route", "key")
) /* The first answer to a POST sent with an Idempotency-Key. */;
"""

POSTGRES = """
ALTER TABLE "citizen" ADD COLUMN IF NOT EXISTS "phone" VARCHAR(20);
CREATE INDEX IF NOT EXISTS "idx_citizen_unionid_282809" ON "citizen" ("unionid");
CREATE TABLE IF NOT EXISTS "upload" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "public_id" VARCHAR(32) NOT NULL UNIQUE,
    "kind" VARCHAR(8) NOT NULL,
    "content_type" VARCHAR(40) NOT NULL,
    "size" INT NOT NULL,
    "path" VARCHAR(500) NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL,
    "message_id" INT,
    "citizen_id" INT NOT NULL REFERENCES "citizen" ("id") ON DELETE CASCADE
);
COMMENT ON TABLE "upload" IS 'A file a mini-program citizen uploaded (stored under the media directory), used once.';
CREATE TABLE IF NOT EXISTS "subscribe_consent" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "template_id" VARCHAR(64) NOT NULL,
    "remaining" INT NOT NULL DEFAULT 0,
    "updated_at" TIMESTAMPTZ NOT NULL,
    "citizen_id" INT NOT NULL REFERENCES "citizen" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_subscribe_c_citizen_94e0c7" UNIQUE ("citizen_id", "template_id")
);
COMMENT ON TABLE "subscribe_consent"
    IS 'One-time subscribe consents left for a citizen and a template: one consent, one send.';
CREATE TABLE IF NOT EXISTS "idempotent_request" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "route" VARCHAR(80) NOT NULL,
    "key" VARCHAR(100) NOT NULL,
    "status" INT NOT NULL,
    "response" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL,
    "citizen_id" INT NOT NULL REFERENCES "citizen" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_idempotent__citizen_746e8a" UNIQUE ("citizen_id", "route", "key")
);
COMMENT ON TABLE "idempotent_request" IS 'The first answer to a POST sent with an Idempotency-Key.';
"""


async def upgrade(conn: BaseDBAsyncClient, dialect: str) -> None:
    if dialect == "sqlite":
        _, columns = await conn.execute_query('PRAGMA table_info("citizen")')
        if not any(column["name"] == "phone" for column in columns):
            await conn.execute_script(SQLITE_PHONE)
        await conn.execute_script(SQLITE)
    else:
        await conn.execute_script(POSTGRES)
