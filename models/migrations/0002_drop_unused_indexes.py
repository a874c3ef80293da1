"""Drop indexes earlier versions created that nothing reads any more: every insert paid for them.
(Until migrations existed, `init_db` dropped them at every start.) The same SQL in both dialects."""

from __future__ import annotations

from tortoise.backends.base.client import BaseDBAsyncClient

INDEXES = (
    "idx_inbound_mes_sender_45da77",  # inbound_message (sender)
    "idx_inbound_mes_status_d32ae7",  # inbound_message (status): (status, processed_at) serves
    "idx_case_event_created_d27d34",  # case_event (created_at): (case_id, created_at) serves
)


async def upgrade(conn: BaseDBAsyncClient, dialect: str) -> None:
    for index in INDEXES:
        await conn.execute_script(f'DROP INDEX IF EXISTS "{index}"')
