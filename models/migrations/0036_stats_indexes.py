"""Indexes for the console's figures (handlers/reports/): a contact point's cases by date (the figures
filtered to one point, the console's page of a point) and a member's cases by month of assignment (the
members figure of one member, their open cases). Without them each of those read every case of the
date range, or every case. On PostgreSQL a plain CREATE INDEX locks writes to "case" while it builds
(about a second per 100,000 cases)."""

from __future__ import annotations

from tortoise.backends.base.client import BaseDBAsyncClient

INDEXES = """
CREATE INDEX IF NOT EXISTS "idx_case_contact_84b36c" ON "case" ("contact_point_id", "created_at");
CREATE INDEX IF NOT EXISTS "idx_case_member__378ba3" ON "case" ("member_id", "assigned_at");
"""


async def upgrade(conn: BaseDBAsyncClient, dialect: str) -> None:
    await conn.execute_script(INDEXES)
