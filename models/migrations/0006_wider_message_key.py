"""A case message's inbound key names its sender as well as its MsgId now (up to 160 characters): the
128-character column is widened on PostgreSQL. SQLite does not enforce a VARCHAR's length: nothing to do."""

from __future__ import annotations

from tortoise.backends.base.client import BaseDBAsyncClient


async def upgrade(conn: BaseDBAsyncClient, dialect: str) -> None:
    if dialect == "postgres":
        await conn.execute_script('ALTER TABLE "case_message" ALTER COLUMN "inbound_key" TYPE VARCHAR(160)')
