"""An index on a job's case: a citizen's message looks for an older one of its case still in flight
(bot/outbound/citizen.py), and the return visit for its reply, at every send; without it that read walked
every send.citizen job kept. The same SQL in both dialects."""

from __future__ import annotations

from tortoise.backends.base.client import BaseDBAsyncClient

SQL = 'CREATE INDEX IF NOT EXISTS "idx_job_case_id_9ab805" ON "job" ("case_id", "kind", "status");'


async def upgrade(conn: BaseDBAsyncClient, dialect: str) -> None:
    await conn.execute_script(SQL)
