"""The members' record: `case.accepted_at` (when the member holding the case accepted it, 收) and
`case.member_replied_at` (when they first answered it, 答), both since the case's latest assignment, so
that the members figure reads one row per case instead of searching each case's timeline. Existing
cases get them from their timeline: the holding member's accept, and first reply, at or after the
latest assignment. Idempotent like the baseline (SQLite reads `PRAGMA table_info` first)."""

from __future__ import annotations

from tortoise.backends.base.client import BaseDBAsyncClient

SQLITE_COLUMNS = {
    "accepted_at": 'ALTER TABLE "case" ADD COLUMN "accepted_at" TIMESTAMP;',
    "member_replied_at": 'ALTER TABLE "case" ADD COLUMN "member_replied_at" TIMESTAMP;',
}
POSTGRES_COLUMNS = """
ALTER TABLE "case" ADD COLUMN IF NOT EXISTS "accepted_at" TIMESTAMPTZ;
ALTER TABLE "case" ADD COLUMN IF NOT EXISTS "member_replied_at" TIMESTAMPTZ;
"""


def _first(kind: str) -> str:
    return (
        'SELECT MIN(e."created_at") FROM "case_event" e JOIN "member" m ON m."id" = "case"."member_id" '
        f'WHERE e."case_id" = "case"."id" AND e."kind" = \'state:{kind}\' AND e."actor" = \'member:\' || m."key" '
        'AND e."created_at" >= "case"."assigned_at"'
    )


FILL = f"""
UPDATE "case" SET "accepted_at" = ({_first("accept")}), "member_replied_at" = ({_first("reply")})
WHERE "member_id" IS NOT NULL AND "assigned_at" IS NOT NULL AND "accepted_at" IS NULL AND "member_replied_at" IS NULL;
"""


async def upgrade(conn: BaseDBAsyncClient, dialect: str) -> None:
    if dialect == "postgres":
        await conn.execute_script(POSTGRES_COLUMNS + FILL)
        return
    present = {row["name"] for row in await conn.execute_query_dict('PRAGMA table_info("case")')}
    script = "".join(sql for column, sql in SQLITE_COLUMNS.items() if column not in present)
    await conn.execute_script(script + FILL)
