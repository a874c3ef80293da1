"""Multi-row INSERTs (models/bulk.py) write what Model.create would, whatever mix of keys the rows have."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from models.bulk import bucket_sizes, insert_statements, padded
from models.jobs import Job, JobStatus
from models.plans import insert_plan, run_plan
from models.timeutil import now

pytestmark = pytest.mark.usefixtures("db")


async def insert_jobs(rows: list[dict[str, Any]], returning: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    connection = Job._meta.db
    return await run_plan(connection, insert_plan(connection.capabilities.dialect, Job, rows, returning=returning))


async def test_rows_with_different_keys_in_one_call_each_get_their_own_values_and_defaults() -> None:
    later = now() + timedelta(hours=1)
    moment = now()
    rows = [
        {"kind": "a", "key": "k1", "run_at": moment, "created_at": moment},
        {"kind": "b", "key": "k2", "run_at": later, "created_at": moment, "payload": {"x": "中文"}},
        {"kind": "c", "key": "k3", "run_at": moment, "created_at": moment, "attempts": 7},  # as many keys as b, not b's
        {"kind": "d", "key": "k4", "run_at": moment, "created_at": moment},  # back to the first shape
        {"kind": "e", "run_at": moment, "created_at": moment, "max_attempts": 3},  # no key at all
    ]
    written = await insert_jobs(rows, returning=("id", "kind"))
    assert sorted(row["kind"] for row in written) == ["a", "b", "c", "d", "e"]
    jobs = {job.kind: job for job in await Job.all()}
    assert {kind: (job.key, job.payload, job.attempts, job.max_attempts) for kind, job in jobs.items()} == {
        "a": ("k1", {}, 0, 50),
        "b": ("k2", {"x": "中文"}, 0, 50),
        "c": ("k3", {}, 7, 50),
        "d": ("k4", {}, 0, 50),
        "e": (None, {}, 0, 3),
    }
    assert all(job.status == JobStatus.PENDING for job in jobs.values())
    assert jobs["b"].run_at == later


async def test_an_unknown_column_is_refused() -> None:
    with pytest.raises(ValueError, match="no column for"):
        await insert_jobs([{"kind": "a", "run_at": now(), "created_at": now(), "colour": "red"}])
    assert await Job.all().count() == 0


async def test_any_batch_size_writes_every_row_in_order_with_a_handful_of_statement_texts() -> None:
    moment = now()
    for size in (1, 29, 70):
        rows = [
            {"kind": f"s{size}", "key": f"s{size}-{index}", "run_at": moment, "created_at": moment}
            for index in range(size)
        ]
        written = await insert_jobs(rows, returning=("id", "key"))
        assert [row["key"] for row in sorted(written, key=lambda row: row["id"])] == [row["key"] for row in rows]
    assert await Job.all().count() == 100

    # SQLite keeps prepared statements by their text in a small cache: every batch size from 1 to 300
    # must come down to a few texts, or each new size is parsed anew. PostgreSQL: one round trip each.
    def texts_for(dialect: str) -> list[list[str]]:
        row = {"kind": "x", "run_at": moment, "created_at": moment}
        return [[sql for sql, _ in insert_statements(dialect, Job, [row] * size)] for size in range(1, 301)]

    assert len({sql for statements in texts_for("sqlite") for sql in statements}) <= 9
    postgres = texts_for("postgres")
    assert all(len(statements) == 1 for statements in postgres)
    assert len({statements[0] for statements in postgres}) == 1  # unnest: one text for any number of rows


async def test_times_are_stored_as_the_orm_stores_them() -> None:
    """Queries compare stored times (due jobs, deadlines): a bulk row must hold the very text or value
    `Model.create` writes for the same moment."""
    moment = now()
    await Job.create(kind="orm", key="orm", run_at=moment, created_at=moment)
    await insert_jobs([{"kind": "bulk", "key": "bulk", "run_at": moment, "created_at": moment}])
    stored = await Job._meta.db.execute_query_dict('SELECT "kind", "run_at", "created_at" FROM "job" ORDER BY "id"')
    orm, bulk = stored
    assert (bulk["run_at"], bulk["created_at"]) == (orm["run_at"], orm["created_at"])
    due = await Job.filter(run_at__lte=moment).order_by("id").values_list("kind", flat=True)
    assert due == ["orm", "bulk"]
    assert await Job.filter(run_at__lt=moment).count() == 0


def test_in_lists_are_padded_to_a_power_of_two_with_the_last_value() -> None:
    assert padded([]) == []
    assert padded(["a"]) == ["a"]
    assert padded(["a", "b", "c"]) == ["a", "b", "c", "c"]
    assert len(padded(list(range(129)))) == 256
    assert bucket_sizes(29, 64) == [16, 8, 4, 1]
    assert bucket_sizes(200, 64) == [64, 64, 64, 8]
