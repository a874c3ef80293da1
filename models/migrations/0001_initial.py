"""The baseline: the schema `Tortoise.generate_schemas()` made before there were migrations, written
out for each dialect (what `tortoise.utils.get_schema_sql(client, safe=True)` printed for the models of
that release). Frozen: never edit it; a change to the schema is a new migration.

Every statement is IF NOT EXISTS (COMMENT ON sets the same text again). On an empty database this makes
the whole schema; on a database an earlier version made without a migration table it adds only what
that version lacked (tables and indexes added since) and changes no rows: that is how such a database
is stamped at the baseline.
"""

# ruff: noqa: E501  (the statements are kept exactly as generated)

from __future__ import annotations

from tortoise.backends.base.client import BaseDBAsyncClient

SQLITE = r"""
CREATE TABLE IF NOT EXISTS "category" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "key" VARCHAR(40) NOT NULL UNIQUE,
    "name" VARCHAR(100) NOT NULL,
    "keywords" JSON NOT NULL
);
CREATE TABLE IF NOT EXISTS "contact_point" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "key" VARCHAR(40) NOT NULL UNIQUE,
    "name" VARCHAR(200) NOT NULL,
    "kind" VARCHAR(20) NOT NULL /* ENTERPRISE: enterprise\nHOSPITAL: hospital\nSCHOOL: school\nCOMMUNITY: community\nSTUDIO: studio\nROOM: room\nTOPIC: topic\nOTHER: other */,
    "district" VARCHAR(100) NOT NULL,
    "member_keys" JSON NOT NULL,
    "auto_assign" INT NOT NULL,
    "revoked_at" TIMESTAMP,
    "created_at" TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS "department" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "key" VARCHAR(40) NOT NULL UNIQUE,
    "name" VARCHAR(200) NOT NULL
);
CREATE TABLE IF NOT EXISTS "inbound_message" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "dedupe_key" VARCHAR(160) NOT NULL UNIQUE,
    "channel" VARCHAR(16) NOT NULL,
    "sender" VARCHAR(64) NOT NULL,
    "payload" JSON NOT NULL,
    "received_at" TIMESTAMP NOT NULL,
    "status" VARCHAR(10) NOT NULL /* PENDING: pending\nDONE: done\nFAILED: failed */,
    "reply_text" TEXT,
    "reply_channel" VARCHAR(10),
    "processed_at" TIMESTAMP,
    "attempts" INT NOT NULL,
    "error" TEXT
) /* Every accepted callback, stored before WeChat gets an answer. `dedupe_key` makes retries harmless. */;
CREATE INDEX IF NOT EXISTS "idx_inbound_mes_status_84c408" ON "inbound_message" ("status", "processed_at");
CREATE TABLE IF NOT EXISTS "member" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "key" VARCHAR(40) NOT NULL UNIQUE,
    "name" VARCHAR(100) NOT NULL,
    "sector" VARCHAR(100) NOT NULL,
    "committee" VARCHAR(100) NOT NULL,
    "wecom_userid" VARCHAR(64) UNIQUE,
    "active" INT NOT NULL
);
CREATE TABLE IF NOT EXISTS "citizen" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "openid" VARCHAR(64) NOT NULL UNIQUE,
    "channel" VARCHAR(8) NOT NULL,
    "unionid" VARCHAR(64),
    "created_at" TIMESTAMP NOT NULL,
    "last_inbound_at" TIMESTAMP,
    "window_sends" INT NOT NULL,
    "member_id" INT REFERENCES "member" ("id") ON DELETE SET NULL
) /* A WeChat user as seen by one of our apps (official account or mini-program). */;
CREATE TABLE IF NOT EXISTS "case" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "code" VARCHAR(32) NOT NULL UNIQUE,
    "state" VARCHAR(20) NOT NULL /* RECEIVED: received\nASSIGNED: assigned\nACCEPTED: accepted\nNEEDS_INFO: needs_info\nTRANSFERRED: transferred\nREPLIED: replied\nRETURN_VISIT: return_visit\nCLOSED: closed\nMERGED: merged\nREJECTED: rejected\nREOPENED: reopened */,
    "summary" VARCHAR(200) NOT NULL,
    "urgent" INT NOT NULL,
    "created_at" TIMESTAMP NOT NULL,
    "updated_at" TIMESTAMP NOT NULL,
    "last_citizen_message_at" TIMESTAMP NOT NULL,
    "assign_due_at" TIMESTAMP,
    "reply_due_at" TIMESTAMP,
    "assigned_at" TIMESTAMP,
    "replied_at" TIMESTAMP,
    "closed_at" TIMESTAMP,
    "last_reply" TEXT,
    "satisfaction" INT,
    "satisfaction_comment" TEXT,
    "reopen_count" INT NOT NULL,
    "triaged_at" TIMESTAMP,
    "triaged_on_time" INT,
    "first_replied_at" TIMESTAMP,
    "replied_on_time" INT,
    "visit_sent_at" TIMESTAMP,
    "visit_recorded_at" TIMESTAMP,
    "visit_channel" VARCHAR(10),
    "category_id" INT REFERENCES "category" ("id") ON DELETE SET NULL,
    "citizen_id" INT NOT NULL REFERENCES "citizen" ("id") ON DELETE RESTRICT,
    "contact_point_id" INT REFERENCES "contact_point" ("id") ON DELETE SET NULL,
    "department_id" INT REFERENCES "department" ("id") ON DELETE SET NULL,
    "follows_id" INT REFERENCES "case" ("id") ON DELETE SET NULL,
    "member_id" INT REFERENCES "member" ("id") ON DELETE SET NULL,
    "merged_into_id" INT REFERENCES "case" ("id") ON DELETE SET NULL
);
CREATE INDEX IF NOT EXISTS "idx_case_state_5fc8ca" ON "case" ("state");
CREATE INDEX IF NOT EXISTS "idx_case_created_cf3c12" ON "case" ("created_at");
CREATE INDEX IF NOT EXISTS "idx_case_citizen_dd91c5" ON "case" ("citizen_id", "contact_point_id", "last_citizen_message_at");
CREATE TABLE IF NOT EXISTS "case_event" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "kind" VARCHAR(40) NOT NULL,
    "actor" VARCHAR(80) NOT NULL,
    "from_state" VARCHAR(20),
    "to_state" VARCHAR(20),
    "detail" JSON NOT NULL,
    "created_at" TIMESTAMP NOT NULL,
    "case_id" INT NOT NULL REFERENCES "case" ("id") ON DELETE CASCADE
) /* The audit timeline: every state change, message and outbound send, with actor and time. */;
CREATE INDEX IF NOT EXISTS "idx_case_event_case_id_755edf" ON "case_event" ("case_id", "created_at");
CREATE TABLE IF NOT EXISTS "case_message" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "direction" VARCHAR(3) NOT NULL,
    "author" VARCHAR(80) NOT NULL,
    "msg_type" VARCHAR(16) NOT NULL,
    "content" TEXT NOT NULL,
    "media_id" VARCHAR(128),
    "media_path" VARCHAR(500),
    "extra" JSON NOT NULL,
    "inbound_key" VARCHAR(128) UNIQUE,
    "created_at" TIMESTAMP NOT NULL,
    "case_id" INT NOT NULL REFERENCES "case" ("id") ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS "idx_case_messag_case_id_3faf5e" ON "case_message" ("case_id");
CREATE TABLE IF NOT EXISTS "member_bind_code" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "code" VARCHAR(12) NOT NULL UNIQUE,
    "created_at" TIMESTAMP NOT NULL,
    "expires_at" TIMESTAMP NOT NULL,
    "used_at" TIMESTAMP,
    "used_by" VARCHAR(64),
    "member_id" INT NOT NULL REFERENCES "member" ("id") ON DELETE CASCADE
) /* A one-time code that binds a member's official-account openid (members without WeCom). */;
CREATE TABLE IF NOT EXISTS "staff" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "key" VARCHAR(40) NOT NULL UNIQUE,
    "name" VARCHAR(100) NOT NULL,
    "wecom_userid" VARCHAR(64) NOT NULL UNIQUE,
    "role" VARCHAR(20) NOT NULL /* TRIAGE: triage\nADMIN: admin */,
    "active" INT NOT NULL
);
CREATE TABLE IF NOT EXISTS "tracking_sequence" (
    "day" VARCHAR(8) NOT NULL PRIMARY KEY,
    "last_value" INT NOT NULL
) /* Per-day counter behind tracking codes; incremented atomically in the database. */;
CREATE TABLE IF NOT EXISTS "job" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "kind" VARCHAR(40) NOT NULL,
    "key" VARCHAR(200) UNIQUE,
    "payload" JSON NOT NULL,
    "status" VARCHAR(10) NOT NULL /* PENDING: pending\nRUNNING: running\nDONE: done\nDEAD: dead */,
    "run_at" TIMESTAMP NOT NULL,
    "attempts" INT NOT NULL,
    "max_attempts" INT NOT NULL,
    "lease_until" TIMESTAMP,
    "last_error" TEXT,
    "result" JSON NOT NULL,
    "created_at" TIMESTAMP NOT NULL,
    "done_at" TIMESTAMP,
    "case_id" INT REFERENCES "case" ("id") ON DELETE SET NULL
);
CREATE INDEX IF NOT EXISTS "idx_job_kind_bc9481" ON "job" ("kind");
CREATE INDEX IF NOT EXISTS "idx_job_status_920a13" ON "job" ("status", "run_at");
CREATE INDEX IF NOT EXISTS "idx_job_status_a5afec" ON "job" ("status", "done_at");
CREATE TABLE IF NOT EXISTS "contact_point_daily" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "point_key" VARCHAR(40) NOT NULL,
    "day" DATE NOT NULL,
    "scans" INT NOT NULL,
    "new_followers" INT NOT NULL,
    "new_cases" INT NOT NULL,
    CONSTRAINT "uid_contact_poi_point_k_435cbd" UNIQUE ("point_key", "day")
) /* Figures for one contact point on one local (Asia\/Shanghai) day, incremented atomically. */;
CREATE INDEX IF NOT EXISTS "idx_contact_poi_day_05e56c" ON "contact_point_daily" ("day");
CREATE TABLE IF NOT EXISTS "qr_code" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "kind" VARCHAR(10) NOT NULL /* OA: oa\nOA_TEMP: oa_temp\nWXA: wxa */,
    "scene" VARCHAR(64) NOT NULL,
    "slot" VARCHAR(80) UNIQUE,
    "ticket" VARCHAR(200),
    "url" VARCHAR(300),
    "page" VARCHAR(200),
    "file_path" VARCHAR(500),
    "expire_at" TIMESTAMP,
    "created_at" TIMESTAMP NOT NULL,
    "revoked_at" TIMESTAMP,
    "contact_point_id" INT NOT NULL REFERENCES "contact_point" ("id") ON DELETE RESTRICT
) /* One code made through the WeChat API. Permanent codes are made once and kept forever: */;
CREATE INDEX IF NOT EXISTS "idx_qr_code_contact_979f77" ON "qr_code" ("contact_point_id", "kind");
"""

POSTGRES = r"""
CREATE TABLE IF NOT EXISTS "category" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "key" VARCHAR(40) NOT NULL UNIQUE,
    "name" VARCHAR(100) NOT NULL,
    "keywords" JSONB NOT NULL
);
CREATE TABLE IF NOT EXISTS "contact_point" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "key" VARCHAR(40) NOT NULL UNIQUE,
    "name" VARCHAR(200) NOT NULL,
    "kind" VARCHAR(20) NOT NULL,
    "district" VARCHAR(100) NOT NULL,
    "member_keys" JSONB NOT NULL,
    "auto_assign" BOOL NOT NULL,
    "revoked_at" TIMESTAMPTZ,
    "created_at" TIMESTAMPTZ NOT NULL
);
COMMENT ON COLUMN "contact_point"."kind" IS 'ENTERPRISE: enterprise\nHOSPITAL: hospital\nSCHOOL: school\nCOMMUNITY: community\nSTUDIO: studio\nROOM: room\nTOPIC: topic\nOTHER: other';
CREATE TABLE IF NOT EXISTS "department" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "key" VARCHAR(40) NOT NULL UNIQUE,
    "name" VARCHAR(200) NOT NULL
);
CREATE TABLE IF NOT EXISTS "inbound_message" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "dedupe_key" VARCHAR(160) NOT NULL UNIQUE,
    "channel" VARCHAR(16) NOT NULL,
    "sender" VARCHAR(64) NOT NULL,
    "payload" JSONB NOT NULL,
    "received_at" TIMESTAMPTZ NOT NULL,
    "status" VARCHAR(10) NOT NULL,
    "reply_text" TEXT,
    "reply_channel" VARCHAR(10),
    "processed_at" TIMESTAMPTZ,
    "attempts" INT NOT NULL,
    "error" TEXT
);
CREATE INDEX IF NOT EXISTS "idx_inbound_mes_status_84c408" ON "inbound_message" ("status", "processed_at");
COMMENT ON COLUMN "inbound_message"."status" IS 'PENDING: pending\nDONE: done\nFAILED: failed';
COMMENT ON TABLE "inbound_message" IS 'Every accepted callback, stored before WeChat gets an answer. `dedupe_key` makes retries harmless.';
CREATE TABLE IF NOT EXISTS "member" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "key" VARCHAR(40) NOT NULL UNIQUE,
    "name" VARCHAR(100) NOT NULL,
    "sector" VARCHAR(100) NOT NULL,
    "committee" VARCHAR(100) NOT NULL,
    "wecom_userid" VARCHAR(64) UNIQUE,
    "active" BOOL NOT NULL
);
CREATE TABLE IF NOT EXISTS "citizen" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "openid" VARCHAR(64) NOT NULL UNIQUE,
    "channel" VARCHAR(8) NOT NULL,
    "unionid" VARCHAR(64),
    "created_at" TIMESTAMPTZ NOT NULL,
    "last_inbound_at" TIMESTAMPTZ,
    "window_sends" INT NOT NULL,
    "member_id" INT REFERENCES "member" ("id") ON DELETE SET NULL
);
COMMENT ON TABLE "citizen" IS 'A WeChat user as seen by one of our apps (official account or mini-program).';
CREATE TABLE IF NOT EXISTS "case" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "code" VARCHAR(32) NOT NULL UNIQUE,
    "state" VARCHAR(20) NOT NULL,
    "summary" VARCHAR(200) NOT NULL,
    "urgent" BOOL NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL,
    "updated_at" TIMESTAMPTZ NOT NULL,
    "last_citizen_message_at" TIMESTAMPTZ NOT NULL,
    "assign_due_at" TIMESTAMPTZ,
    "reply_due_at" TIMESTAMPTZ,
    "assigned_at" TIMESTAMPTZ,
    "replied_at" TIMESTAMPTZ,
    "closed_at" TIMESTAMPTZ,
    "last_reply" TEXT,
    "satisfaction" INT,
    "satisfaction_comment" TEXT,
    "reopen_count" INT NOT NULL,
    "triaged_at" TIMESTAMPTZ,
    "triaged_on_time" BOOL,
    "first_replied_at" TIMESTAMPTZ,
    "replied_on_time" BOOL,
    "visit_sent_at" TIMESTAMPTZ,
    "visit_recorded_at" TIMESTAMPTZ,
    "visit_channel" VARCHAR(10),
    "category_id" INT REFERENCES "category" ("id") ON DELETE SET NULL,
    "citizen_id" INT NOT NULL REFERENCES "citizen" ("id") ON DELETE RESTRICT,
    "contact_point_id" INT REFERENCES "contact_point" ("id") ON DELETE SET NULL,
    "department_id" INT REFERENCES "department" ("id") ON DELETE SET NULL,
    "follows_id" INT REFERENCES "case" ("id") ON DELETE SET NULL,
    "member_id" INT REFERENCES "member" ("id") ON DELETE SET NULL,
    "merged_into_id" INT REFERENCES "case" ("id") ON DELETE SET NULL
);
CREATE INDEX IF NOT EXISTS "idx_case_state_5fc8ca" ON "case" ("state");
CREATE INDEX IF NOT EXISTS "idx_case_created_cf3c12" ON "case" ("created_at");
CREATE INDEX IF NOT EXISTS "idx_case_citizen_dd91c5" ON "case" ("citizen_id", "contact_point_id", "last_citizen_message_at");
COMMENT ON COLUMN "case"."state" IS 'RECEIVED: received\nASSIGNED: assigned\nACCEPTED: accepted\nNEEDS_INFO: needs_info\nTRANSFERRED: transferred\nREPLIED: replied\nRETURN_VISIT: return_visit\nCLOSED: closed\nMERGED: merged\nREJECTED: rejected\nREOPENED: reopened';
CREATE TABLE IF NOT EXISTS "case_event" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "kind" VARCHAR(40) NOT NULL,
    "actor" VARCHAR(80) NOT NULL,
    "from_state" VARCHAR(20),
    "to_state" VARCHAR(20),
    "detail" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL,
    "case_id" INT NOT NULL REFERENCES "case" ("id") ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS "idx_case_event_case_id_755edf" ON "case_event" ("case_id", "created_at");
COMMENT ON TABLE "case_event" IS 'The audit timeline: every state change, message and outbound send, with actor and time.';
CREATE TABLE IF NOT EXISTS "case_message" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "direction" VARCHAR(3) NOT NULL,
    "author" VARCHAR(80) NOT NULL,
    "msg_type" VARCHAR(16) NOT NULL,
    "content" TEXT NOT NULL,
    "media_id" VARCHAR(128),
    "media_path" VARCHAR(500),
    "extra" JSONB NOT NULL,
    "inbound_key" VARCHAR(128) UNIQUE,
    "created_at" TIMESTAMPTZ NOT NULL,
    "case_id" INT NOT NULL REFERENCES "case" ("id") ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS "idx_case_messag_case_id_3faf5e" ON "case_message" ("case_id");
CREATE TABLE IF NOT EXISTS "member_bind_code" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "code" VARCHAR(12) NOT NULL UNIQUE,
    "created_at" TIMESTAMPTZ NOT NULL,
    "expires_at" TIMESTAMPTZ NOT NULL,
    "used_at" TIMESTAMPTZ,
    "used_by" VARCHAR(64),
    "member_id" INT NOT NULL REFERENCES "member" ("id") ON DELETE CASCADE
);
COMMENT ON TABLE "member_bind_code" IS 'A one-time code that binds a member''s official-account openid (members without WeCom).';
CREATE TABLE IF NOT EXISTS "staff" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "key" VARCHAR(40) NOT NULL UNIQUE,
    "name" VARCHAR(100) NOT NULL,
    "wecom_userid" VARCHAR(64) NOT NULL UNIQUE,
    "role" VARCHAR(20) NOT NULL,
    "active" BOOL NOT NULL
);
COMMENT ON COLUMN "staff"."role" IS 'TRIAGE: triage\nADMIN: admin';
CREATE TABLE IF NOT EXISTS "tracking_sequence" (
    "day" VARCHAR(8) NOT NULL PRIMARY KEY,
    "last_value" INT NOT NULL
);
COMMENT ON TABLE "tracking_sequence" IS 'Per-day counter behind tracking codes; incremented atomically in the database.';
CREATE TABLE IF NOT EXISTS "job" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "kind" VARCHAR(40) NOT NULL,
    "key" VARCHAR(200) UNIQUE,
    "payload" JSONB NOT NULL,
    "status" VARCHAR(10) NOT NULL,
    "run_at" TIMESTAMPTZ NOT NULL,
    "attempts" INT NOT NULL,
    "max_attempts" INT NOT NULL,
    "lease_until" TIMESTAMPTZ,
    "last_error" TEXT,
    "result" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL,
    "done_at" TIMESTAMPTZ,
    "case_id" INT REFERENCES "case" ("id") ON DELETE SET NULL
);
CREATE INDEX IF NOT EXISTS "idx_job_kind_bc9481" ON "job" ("kind");
CREATE INDEX IF NOT EXISTS "idx_job_status_920a13" ON "job" ("status", "run_at");
CREATE INDEX IF NOT EXISTS "idx_job_status_a5afec" ON "job" ("status", "done_at");
COMMENT ON COLUMN "job"."status" IS 'PENDING: pending\nRUNNING: running\nDONE: done\nDEAD: dead';
CREATE TABLE IF NOT EXISTS "contact_point_daily" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "point_key" VARCHAR(40) NOT NULL,
    "day" DATE NOT NULL,
    "scans" INT NOT NULL,
    "new_followers" INT NOT NULL,
    "new_cases" INT NOT NULL,
    CONSTRAINT "uid_contact_poi_point_k_435cbd" UNIQUE ("point_key", "day")
);
CREATE INDEX IF NOT EXISTS "idx_contact_poi_day_05e56c" ON "contact_point_daily" ("day");
COMMENT ON TABLE "contact_point_daily" IS 'Figures for one contact point on one local (Asia/Shanghai) day, incremented atomically.';
CREATE TABLE IF NOT EXISTS "qr_code" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "kind" VARCHAR(10) NOT NULL,
    "scene" VARCHAR(64) NOT NULL,
    "slot" VARCHAR(80) UNIQUE,
    "ticket" VARCHAR(200),
    "url" VARCHAR(300),
    "page" VARCHAR(200),
    "file_path" VARCHAR(500),
    "expire_at" TIMESTAMPTZ,
    "created_at" TIMESTAMPTZ NOT NULL,
    "revoked_at" TIMESTAMPTZ,
    "contact_point_id" INT NOT NULL REFERENCES "contact_point" ("id") ON DELETE RESTRICT
);
CREATE INDEX IF NOT EXISTS "idx_qr_code_contact_979f77" ON "qr_code" ("contact_point_id", "kind");
COMMENT ON COLUMN "qr_code"."kind" IS 'OA: oa\nOA_TEMP: oa_temp\nWXA: wxa';
COMMENT ON TABLE "qr_code" IS 'One code made through the WeChat API. Permanent codes are made once and kept forever:';
"""


async def upgrade(conn: BaseDBAsyncClient, dialect: str) -> None:
    await conn.execute_script(SQLITE if dialect == "sqlite" else POSTGRES)
