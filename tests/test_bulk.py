"""Multi-row INSERTs (models/bulk.py) write what Model.create would, whatever mix of keys the rows have."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

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
