"""Indexes for what is overdue now (the console's deadlines, handlers/reports/deadlines.py): the cases
waiting for triage past their assignment deadline and those owed a reply past their reply deadline,
found by (state, deadline) without reading the 12345 hotline's open work orders, which have no
deadline and were most of the open cases read."""

from __future__ import annotations

from tortoise.backends.base.client import BaseDBAsyncClient

INDEXES = """
CREATE INDEX IF NOT EXISTS "idx_case_state_9086ea" ON "case" ("state", "assign_due_at");
CREATE INDEX IF NOT EXISTS "idx_case_state_0741fd" ON "case" ("state", "reply_due_at");
"""


async def upgrade(conn: BaseDBAsyncClient, dialect: str) -> None:
    await conn.execute_script(INDEXES)
