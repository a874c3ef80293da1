"""SQLite's WAL is checkpointed from a thread of its own while the service runs, not by the commits
that callbacks wait on."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from models.db import close_db, init_db, wal_checkpoints
from models.entities import CaseEvent, CaseMessage, InboundMessage
from models.jobs import Job
from models.timeutil import now


def size_of(path: Path | str) -> int:
    return os.stat(path).st_size


async def write_rows(prefix: str, count: int) -> None:
    for start in range(0, count, 50):
        await InboundMessage.bulk_create(
            [
                InboundMessage(
                    dedupe_key=f"{prefix}-{index}",
                    channel="oa",
                    sender="o-wal",
                    payload={"text": "路灯坏了" * 40},
                    received_at=now(),
                )
                for index in range(start, min(count, start + 50))
            ]
        )


async def test_commits_leave_checkpoints_to_the_background_checkpointer(tmp_path: Path) -> None:
    path = tmp_path / "wal.sqlite3"
    url = f"sqlite://{path}"
    await init_db(url, background_checkpoints=True)
    try:
        rows = await InboundMessage._meta.db.execute_query_dict("PRAGMA wal_autocheckpoint")
        assert next(iter(rows[0].values())) == 0  # commits leave checkpoints alone
        await write_rows("before", 400)
        size_without_checkpoints = size_of(path)
        assert size_of(f"{path}-wal") > 200_000  # everything so far waits in the WAL
        # Real time: the checkpointer is a thread of its own that looks every interval_s.
        async with wal_checkpoints(url, interval_s=0.05, threshold_bytes=32_768):
            for _ in range(100):
                await asyncio.sleep(0.05)
                if size_of(path) > size_without_checkpoints:
                    break
            assert size_of(path) > size_without_checkpoints  # copied into the database file
            await write_rows("during", 200)  # writing goes on beside it
        assert await InboundMessage.all().count() == 600
    finally:
        await close_db()


async def test_other_commands_keep_sqlites_own_checkpoints(tmp_path: Path) -> None:
    """Only the service runs the checkpointer; a command such as `roster import` keeps SQLite's."""
    await init_db(f"sqlite://{tmp_path / 'auto.sqlite3'}")
    try:
        rows = await InboundMessage._meta.db.execute_query_dict("PRAGMA wal_autocheckpoint")
        assert next(iter(rows[0].values())) == 1000
    finally:
        await close_db()


async def test_a_cases_messages_and_timeline_are_found_by_index_not_by_reading_every_case(tmp_path: Path) -> None:
    """The triage card reads a new case's first message and staff read its timeline: with a year of cases
    in the database, a scan of every message per read would slow every new case down."""
    await init_db(f"sqlite://{tmp_path / 'plans.sqlite3'}")
    try:
        queries = [
            CaseMessage.filter(case_id=7, direction="in").order_by("id").limit(1).sql(params_inline=True),
            CaseMessage.filter(case_id=7, direction="in").count().sql(params_inline=True),
            CaseEvent.filter(case_id=7).order_by("-created_at", "-id").limit(20).sql(params_inline=True),
            # every message to a citizen looks for an older one of its case still in flight
            Job.filter(case_id=7, kind="send.citizen", status__in=["pending", "running"], id__lt=99)
            .order_by("run_at")
            .limit(1)
            .sql(params_inline=True),
        ]
        for sql in queries:
            plan = await CaseMessage._meta.db.execute_query_dict(f"EXPLAIN QUERY PLAN {sql}")
            details = " ".join(str(row["detail"]) for row in plan)
            assert "USING INDEX" in details, (sql, details)
            assert "(case_id=?" in details, (sql, details)
            if "job" not in sql:  # a case has a handful of jobs in flight: sorting them costs nothing
                assert "TEMP B-TREE" not in details, (sql, details)  # read in order, not sorted afterwards
    finally:
        await close_db()


async def test_a_database_from_an_earlier_version_gets_the_new_indexes_and_loses_the_unused_ones(
    tmp_path: Path,
) -> None:
    url = f"sqlite://{tmp_path / 'upgrade.sqlite3'}"
    await init_db(url)
    try:  # as an earlier version left it: made by generate_schemas, no migration table
        client = InboundMessage._meta.db
        await client.execute_script('DROP TABLE "schema_migrations"')
        await client.execute_script('DROP INDEX "idx_case_messag_case_id_3faf5e"')
        await client.execute_script('CREATE INDEX "idx_inbound_mes_sender_45da77" ON "inbound_message" ("sender")')
        await client.execute_script('CREATE INDEX "idx_case_event_created_d27d34" ON "case_event" ("created_at")')
    finally:
        await close_db()
    await init_db(url)
    try:
        rows = await InboundMessage._meta.db.execute_query_dict("SELECT name FROM sqlite_master WHERE type = 'index'")
        names = {row["name"] for row in rows}
        assert "idx_case_messag_case_id_3faf5e" in names
        assert not names & {"idx_inbound_mes_sender_45da77", "idx_case_event_created_d27d34"}
    finally:
        await close_db()


async def test_an_earlier_postgresql_database_gets_the_wider_message_key(database_url: str) -> None:
    """Message keys name their sender now (up to 143 characters): the 128-character column is widened."""
    if not database_url.startswith("postgres"):
        return  # SQLite does not enforce a VARCHAR's length
    from tests.conftest import reset_postgres

    await reset_postgres(database_url)
    await init_db(database_url)
    try:  # as an earlier version left it: the narrow column, migration 0006 not applied yet
        await CaseMessage._meta.db.execute_script(
            'ALTER TABLE "case_message" ALTER COLUMN "inbound_key" TYPE VARCHAR(128)'
        )
        await CaseMessage._meta.db.execute_script('DELETE FROM "schema_migrations" WHERE "version" = 6')
    finally:
        await close_db()
    await init_db(database_url)
    try:
        rows = await CaseMessage._meta.db.execute_query_dict(
            "SELECT character_maximum_length FROM information_schema.columns "
            "WHERE table_name = 'case_message' AND column_name = 'inbound_key'"
        )
        assert rows[0]["character_maximum_length"] == 160
    finally:
        await close_db()
