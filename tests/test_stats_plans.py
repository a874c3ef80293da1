"""The console's figures of one contact point or one member are found by index (migration 0036), not by
reading every case of the date range: EXPLAIN QUERY PLAN of the statements the figures run."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tortoise import Tortoise

from handlers.admin.roster import import_roster
from handlers.reports.deadlines import deadlines
from handlers.reports.filters import parse_filters
from handlers.reports.heatmap import heatmap
from handlers.reports.members import member_figures
from handlers.reports.points import point_figures
from handlers.settings import Settings
from models.db import close_db, init_db
from tests.harness import ROSTER


async def statements(run: Any) -> list[tuple[str, list[Any]]]:
    """The SQL (with its parameters) that `run()` sends, in order."""
    connection = Tortoise.get_connection("default")
    original = connection.execute_query_dict
    seen: list[tuple[str, list[Any]]] = []

    async def recording(sql: str, values: list[Any] | None = None) -> list[dict[str, Any]]:
        seen.append((sql, list(values or [])))
        return await original(sql, values)

    connection.execute_query_dict = recording  # type: ignore[method-assign]
    try:
        await run()
    finally:
        connection.execute_query_dict = original  # type: ignore[method-assign]
    return seen


async def plan(sql: str, values: list[Any]) -> str:
    rows = await Tortoise.get_connection("default").execute_query_dict(f"EXPLAIN QUERY PLAN {sql}", values)
    return " | ".join(str(row["detail"]) for row in rows)


async def test_one_points_and_one_members_figures_read_their_cases_by_index(tmp_path: Path) -> None:
    await init_db(f"sqlite://{tmp_path / 'plans.sqlite3'}")
    try:
        await import_roster(ROSTER)
        point = await parse_filters({"point": "hz-hospital-1"})
        member = await parse_filters({"member": "m-zhang"}, monthly=True)
        runs = {
            "map": lambda: heatmap(point),
            "deadlines": lambda: deadlines(point, Settings()),
            "points": lambda: point_figures(point),
            "members": lambda: member_figures(member),
        }
        for name, run in runs.items():
            on_cases = [(sql, values) for sql, values in await statements(run) if 'FROM "case" c' in sql]
            assert on_cases, name
            index = "idx_case_member__378ba3" if name == "members" else "idx_case_contact_84b36c"
            for sql, values in on_cases:
                if 'state" IN' in sql and 'member_id" =' not in sql and 'contact_point_id" =' not in sql:
                    continue  # the overdue list and the open cases of everyone: by state (an index of its own)
                details = await plan(sql, values)
                assert index in details or "idx_case_state" in details, (name, sql, details)
                assert not re.search(r"\bSCAN c\b", details), (name, sql, details)  # never every case
    finally:
        await close_db()


async def test_the_overdue_list_reads_open_cases_by_their_deadlines(tmp_path: Path) -> None:
    """Most open cases can be the hotline's (open work orders, no deadline): (state, deadline) skips them."""
    await init_db(f"sqlite://{tmp_path / 'plans.sqlite3'}")
    try:
        await import_roster(ROSTER)
        everything = await parse_filters({})
        sent = await statements(lambda: deadlines(everything, Settings()))
        [(sql, values)] = [(sql, values) for sql, values in sent if "COUNT(*) OVER ()" in sql]
        details = await plan(sql, values)
        assert "idx_case_state_9086ea (state=? AND assign_due_at<?)" in details, details
        assert "idx_case_state_0741fd (state=? AND reply_due_at<?)" in details, details
    finally:
        await close_db()
