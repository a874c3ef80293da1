"""Plans (models/plans.py): a transaction written once, committed whole or not at all, on SQLite in
one call in the database's thread and on PostgreSQL statement by statement."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from models.entities import TrackingSequence
from models.plans import Plan, run_in_transaction
from models.timeutil import now
from models.tracking import reserve_codes_plan

pytestmark = pytest.mark.usefixtures("db")


class Boom(Exception):
    pass


def reserve_twice(dialect: str, in_loop: bool, fail_after: bool = False) -> Plan[tuple[list[str], int]]:
    moment = now()
    first = yield from reserve_codes_plan(dialect, "MS", moment, 3)
    second = yield from reserve_codes_plan(dialect, "MS", moment, 2)
    if fail_after:
        raise Boom("after both statements")
    return first + second, threading.get_ident()


async def test_a_plan_commits_what_each_statement_returned() -> None:
    codes, thread = await run_in_transaction(reserve_twice)
    assert [code[8:12] for code in codes] == ["0001", "0002", "0003", "0004", "0005"]  # the second saw the first
    assert (await TrackingSequence.get()).last_value == 5
    if TrackingSequence._meta.db.capabilities.dialect == "sqlite":
        assert thread != threading.get_ident()  # ran in the database's thread: one round trip
    again, _ = await run_in_transaction(reserve_twice)
    assert again[0][8:12] == "0006"


async def test_a_plan_that_fails_leaves_nothing_behind() -> None:
    await run_in_transaction(reserve_twice)
    with pytest.raises(Boom):
        await run_in_transaction(lambda dialect, in_loop: reserve_twice(dialect, in_loop, fail_after=True))
    assert (await TrackingSequence.get()).last_value == 5  # both upserts of the failed plan rolled back
    codes, _ = await run_in_transaction(reserve_twice)  # and the connection is usable afterwards
    assert codes[0][8:12] == "0006"


async def test_a_failing_statement_rolls_back_the_earlier_ones() -> None:
    def plan(dialect: str, in_loop: bool) -> Plan[None]:
        yield from reserve_codes_plan(dialect, "MS", now(), 4)
        yield ('SELECT * FROM "no_such_table"', [])

    with pytest.raises(Exception, match="no_such_table"):
        await run_in_transaction(plan)
    assert await TrackingSequence.all().count() == 0


async def test_a_plan_cancelled_before_its_commit_leaves_nothing_behind() -> None:
    """A batch that times out rolls back (the router then takes its rows): the database thread is told
    to roll back instead of committing, and the connection is free again afterwards."""

    def slow(dialect: str, in_loop: bool) -> Plan[None]:
        yield from reserve_codes_plan(dialect, "MS", now(), 3)
        if in_loop:
            yield ("SELECT pg_sleep(0.4)", [])
        else:
            time.sleep(0.4)  # in the database's thread: real time, a statement slower than the timeout
        yield from reserve_codes_plan(dialect, "MS", now(), 2)

    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.1):
            await run_in_transaction(slow)
    assert await TrackingSequence.all().count() == 0
    codes, _ = await run_in_transaction(reserve_twice)
    assert codes[0][8:12] == "0001"


async def test_statements_nobody_reads_back_go_with_the_last_one_in_one_round_trip_on_postgresql() -> None:
    from models.bulk import insert_statements
    from models.plans import merged_statements
    from models.qr import ContactPointDaily

    day = now().date()
    made: list[str] = []

    def plan(dialect: str, in_loop: bool) -> Plan[list[str]]:
        leading = [
            *insert_statements(dialect, ContactPointDaily, [{"point_key": "a", "day": day, "new_cases": 1}]),
            *insert_statements(dialect, ContactPointDaily, [{"point_key": "b", "day": day, "scans": 2}]),
        ]
        final = insert_statements(
            dialect, ContactPointDaily, [{"point_key": "c", "day": day, "new_cases": 3}], returning=("point_key",)
        )[0]
        rows: list[dict[str, object]] = []
        for statement in merged_statements(dialect, leading, final):
            made.append(statement[0])
            rows = yield statement
        return [str(row["point_key"]) for row in rows]

    assert await run_in_transaction(plan) == ["c"]  # the final statement's rows
    stored = await ContactPointDaily.all().order_by("point_key").values_list("point_key", "new_cases", "scans")
    assert stored == [("a", 1, 0), ("b", 0, 2), ("c", 3, 0)]
    if ContactPointDaily._meta.db.capabilities.dialect == "postgres":
        assert len(made) == 1
        assert made[0].startswith("WITH w0 AS (INSERT")
        # Renumbered: three statements of five parameters each are one statement of fifteen.
        assert "$15::" in made[0]
        assert "$16" not in made[0]
    else:
        assert len(made) == 3
