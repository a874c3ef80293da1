"""The console's figures at scale: every `/api/v1/stats` route and the console's figure pages (图谱, 时限,
委员, 联系点, logged in as a staff member) timed over HTTP against N cases with their timelines (issue 18:
under 1 s with 1,000,000 cases on PostgreSQL, 100,000 on SQLite).

Generates two years of a committee's cases in bulk (SQLite: executemany; PostgreSQL: COPY): 200 contact
points in 12 districts, 120 members, 8 categories, a fifth of the cases from the 12345 hotline, most
closed after a return visit, some still open or overdue, ~5 timeline events per QR case, the daily scan
counters and a code per point. Then serves the real app (embedded Redis unless --redis-url) and times
each route with the figures' default filters (the last 12 weeks), the widest range, a filter, and
the XLSX export.

    .venv/bin/python scripts/bench_console.py -n 100000                # a temporary SQLite database
    .venv/bin/python scripts/bench_console.py -n 1000000 \\
        --database-url postgres://postgres@127.0.0.1:5432/test_stats   # DROPS that database's tables
    .venv/bin/python scripts/bench_console.py --database-url ... --reuse   # time again, no generating
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.app import create_app  # noqa: E402
from bot.config import build_config  # noqa: E402
from bot.redis_store import EmbeddedRedis  # noqa: E402
from models.db import close_db, init_db  # noqa: E402
from models.tracking import LOCAL_TZ  # noqa: E402

DISTRICTS = [
    "吴兴区",
    "南浔区",
    "德清县",
    "长兴县",
    "安吉县",
    "南太湖新区",
    "织里镇",
    "练市镇",
    "新市镇",
    "洪桥镇",
    "梅溪镇",
    "递铺街道",
]
CATEGORIES = [
    ("health", "医疗卫生"),
    ("education", "教育"),
    ("transport", "交通出行"),
    ("economy", "营商环境"),
    ("city", "市容环卫"),
    ("housing", "住房保障"),
    ("elderly", "养老服务"),
    ("environment", "生态环境"),
]
POINTS, MEMBERS, WEEKS = 200, 120, 104
HOUR, DAY = timedelta(hours=1), timedelta(days=1)
CHUNK = 20_000


def stamp(dialect: str, moment: datetime | None) -> Any:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(" ") if dialect == "sqlite" else moment


CASE_COLUMNS = [
    "id", "code", "source", "district", "citizen_id", "contact_point_id", "state", "summary", "category_id",
    "member_id", "department_id", "urgent", "created_at", "updated_at", "last_citizen_message_at", "assign_due_at",
    "reply_due_at", "assigned_at", "replied_at", "closed_at", "satisfaction", "reopen_count", "triaged_at",
    "triaged_on_time", "first_replied_at", "replied_on_time", "visit_sent_at", "visit_recorded_at", "accepted_at",
    "member_replied_at",
]  # fmt: skip
EVENT_COLUMNS = ["case_id", "kind", "actor", "from_state", "to_state", "detail", "created_at"]


def generate(count: int, end: datetime, dialect: str, seed: int = 18) -> Iterator[tuple[list[tuple], list[tuple]]]:
    """Chunks of (case rows, event rows), the cases in the order they were received."""
    rng = random.Random(seed)
    start = end - timedelta(weeks=WEEKS)
    span = (end - start).total_seconds()
    point_weights = [1.0 / (index + 1) ** 0.6 for index in range(POINTS)]  # a few busy points, a long tail
    cases: list[tuple] = []
    events: list[tuple] = []
    detail = "{}"
    for index in range(count):
        case_id = index + 1
        created = start + timedelta(seconds=span * (index + rng.random()) / count)
        age = end - created
        hotline = rng.random() < 0.2
        category = rng.randrange(1, len(CATEGORIES) + 1) if rng.random() > 0.03 else None
        values: dict[str, Any] = {
            "triaged_at": None, "triaged_on_time": None, "assigned_at": None, "reply_due_at": None,
            "first_replied_at": None, "replied_on_time": None, "replied_at": None, "visit_sent_at": None,
            "visit_recorded_at": None, "closed_at": None, "satisfaction": None, "member_id": None,
            "department_id": None, "assign_due_at": None, "accepted_at": None,
        }  # fmt: skip
        if hotline:
            state = "closed" if rng.random() < 0.8 else "received"
            point, district = None, rng.choice(DISTRICTS)
            events.append((case_id, "hotline.imported", "system", None, state, detail, stamp(dialect, created)))
        else:
            point = rng.choices(range(1, POINTS + 1), point_weights)[0] if rng.random() > 0.05 else None
            district = None
            values["assign_due_at"] = created + 2 * DAY
            events.append((case_id, "created", "system", None, "received", detail, stamp(dialect, created)))
            roll = rng.random()
            if age < 2 * DAY and roll < 0.5:
                state = "received"
            elif age > 3 * DAY and roll < 0.002:  # forgotten: overdue for triage
                state = "received"
            elif roll < 0.01:
                state = "rejected"
                values["triaged_at"] = created + rng.uniform(1, 30) * HOUR
                values["triaged_on_time"] = True
            else:
                member = rng.randrange(1, MEMBERS + 1)
                assigned = created + rng.uniform(0.2, 60) * HOUR
                values.update(
                    member_id=member,
                    triaged_at=assigned,
                    triaged_on_time=assigned <= values["assign_due_at"],
                    assigned_at=assigned,
                    reply_due_at=assigned + 7 * DAY,
                )
                actor = f"member:m-{member:03d}"
                events.append(
                    (case_id, "state:assign", "staff:s-001", "received", "assigned", detail, stamp(dialect, assigned))
                )
                accepted = assigned + rng.uniform(0.5, 24) * HOUR
                if rng.random() < 0.85:
                    values["accepted_at"] = accepted
                    events.append(
                        (case_id, "state:accept", actor, "assigned", "accepted", detail, stamp(dialect, accepted))
                    )
                replied = assigned + rng.uniform(0.3, 10) * DAY
                stale = rng.random() < 0.003  # never answered: overdue
                if replied > end or stale:
                    state = "accepted" if not stale or rng.random() < 0.7 else "transferred"
                    if state == "transferred":
                        values.update(member_id=None, department_id=rng.randrange(1, 4))
                else:
                    values.update(
                        first_replied_at=replied, replied_at=replied, replied_on_time=replied <= values["reply_due_at"]
                    )
                    events.append(
                        (case_id, "state:reply", actor, "accepted", "replied", detail, stamp(dialect, replied))
                    )
                    sent = replied + 3 * DAY
                    if sent > end:
                        state = "replied"
                    else:
                        values["visit_sent_at"] = sent
                        events.append(
                            (
                                case_id,
                                "state:start_return_visit",
                                "system",
                                "replied",
                                "return_visit",
                                detail,
                                stamp(dialect, sent),
                            )
                        )
                        recorded = sent + rng.uniform(1, 40) * HOUR
                        if recorded > end or rng.random() < 0.1:
                            state = "return_visit" if recorded > end else "closed"
                        else:
                            state = "closed"
                            score = rng.choices((1, 2, 3), (70, 20, 10))[0]
                            values.update(visit_recorded_at=recorded, satisfaction=score, closed_at=recorded)
                            events.append(
                                (
                                    case_id,
                                    "state:close",
                                    "citizen",
                                    "return_visit",
                                    "closed",
                                    detail,
                                    stamp(dialect, recorded),
                                )
                            )
        moment = stamp(dialect, created)
        cases.append(
            (
                case_id, f"MS{case_id:012d}", "hotline" if hotline else "qr", district, 1 + index % 1000, point, state,
                "", category, values["member_id"], values["department_id"], False, moment, moment, moment,
                stamp(dialect, values["assign_due_at"]), stamp(dialect, values["reply_due_at"]),
                stamp(dialect, values["assigned_at"]), stamp(dialect, values["replied_at"]),
                stamp(dialect, values["closed_at"]), values["satisfaction"], 0, stamp(dialect, values["triaged_at"]),
                values["triaged_on_time"], stamp(dialect, values["first_replied_at"]), values["replied_on_time"],
                stamp(dialect, values["visit_sent_at"]), stamp(dialect, values["visit_recorded_at"]),
                stamp(dialect, values["accepted_at"]), stamp(dialect, values["replied_at"] if not hotline else None),
            )
        )  # fmt: skip
        if len(cases) >= CHUNK:
            yield cases, events
            cases, events = [], []
    if cases:
        yield cases, events


async def roster() -> None:
    """The committee: points, members, staff, departments, categories, citizens (through the ORM: few rows)."""
    from models.entities import Category, Citizen, ContactPoint, Department, Member, Staff

    rng = random.Random(7)
    await Category.bulk_create([Category(key=key, name=name, keywords=[]) for key, name in CATEGORIES])
    await Department.bulk_create([Department(key=f"d-{i}", name=f"部门{i}") for i in range(1, 4)])
    await Member.bulk_create([Member(key=f"m-{i:03d}", name=f"委员{i:03d}") for i in range(1, MEMBERS + 1)])
    await Staff.bulk_create([Staff(key="s-001", name="分拣员", wecom_userid="s001")])
    await ContactPoint.bulk_create(
        [
            ContactPoint(
                key=f"cp-{i:03d}",
                name=f"联系点{i:03d}",
                district=DISTRICTS[i % len(DISTRICTS)],
                member_keys=[f"m-{1 + i % MEMBERS:03d}"],
                latitude=30.5 + rng.random() * 0.6 if i % 5 else None,
                longitude=119.6 + rng.random() * 0.9 if i % 5 else None,
            )
            for i in range(1, POINTS + 1)
        ]
    )
    await Citizen.bulk_create([Citizen(openid=f"o-bench-{i}") for i in range(1, 1001)])


def daily_rows(end: datetime) -> list[tuple[str, date, int, int, int]]:
    rng = random.Random(9)
    last = end.astimezone(LOCAL_TZ).date()
    return [
        (f"cp-{point:03d}", last - timedelta(days=day), rng.randrange(0, 40), rng.randrange(0, 6), rng.randrange(0, 4))
        for point in range(1, POINTS + 1)
        for day in range(WEEKS * 7)
    ]


def fill_sqlite(path: str, count: int, end: datetime) -> int:
    conn = sqlite3.connect(path)
    events = 0
    marks = ", ".join("?" * len(CASE_COLUMNS))
    case_sql = f'INSERT INTO "case" ({", ".join(CASE_COLUMNS)}) VALUES ({marks})'
    event_sql = f"INSERT INTO case_event ({', '.join(EVENT_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?)"
    for cases, timeline in generate(count, end, "sqlite"):
        conn.executemany(case_sql, cases)
        conn.executemany(event_sql, timeline)
        events += len(timeline)
    conn.executemany(
        "INSERT INTO contact_point_daily (point_key, day, scans, new_followers, new_cases) VALUES (?, ?, ?, ?, ?)",
        [(key, day.isoformat(), *counts) for key, day, *counts in daily_rows(end)],
    )
    conn.execute(
        "INSERT INTO qr_code (contact_point_id, kind, scene, slot, created_at) "
        "SELECT id, 'oa', 'cp:' || key, 'oa:' || key, ? FROM contact_point",
        (stamp("sqlite", end),),
    )
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()
    return events


async def fill_postgres(url: str, count: int, end: datetime) -> int:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    events = 0
    try:
        for cases, timeline in generate(count, end, "postgres"):
            await conn.copy_records_to_table("case", records=cases, columns=CASE_COLUMNS)
            await conn.copy_records_to_table("case_event", records=timeline, columns=EVENT_COLUMNS)
            events += len(timeline)
        await conn.copy_records_to_table(
            "contact_point_daily",
            records=daily_rows(end),
            columns=["point_key", "day", "scans", "new_followers", "new_cases"],
        )
        await conn.execute(
            "INSERT INTO qr_code (contact_point_id, kind, scene, slot, created_at) "
            "SELECT id, 'oa', 'cp:' || key, 'oa:' || key, $1 FROM contact_point",
            end,
        )
        await conn.execute("""SELECT setval(pg_get_serial_sequence('"case"', 'id'), (SELECT MAX(id) FROM "case"))""")
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
    return events


async def reset_postgres(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    finally:
        await conn.close()


def today_minus(days: int) -> str:
    return (datetime.now(LOCAL_TZ).date() - timedelta(days=days)).isoformat()


def routes() -> list[tuple[str, str, dict[str, str]]]:
    year = {"since": today_minus(364)}
    return [
        ("图谱 (12 weeks)", "map", {}),
        ("图谱 by district (12 weeks)", "map", {"by": "district"}),
        ("图谱 (53 weeks)", "map", year),
        ("图谱 one category (12 weeks)", "map", {"category": "health"}),
        ("时限 (12 weeks)", "deadlines", {}),
        ("时限 (53 weeks)", "deadlines", year),
        ("时限 one point (12 weeks)", "deadlines", {"point": "cp-001"}),
        ("委员 (6 months)", "members", {}),
        ("委员 (24 months)", "members", {"since": today_minus(700)}),
        ("委员 one member (6 months)", "members", {"member": "m-001"}),
        ("联系点 (12 weeks)", "points", {}),
        ("联系点 (53 weeks)", "points", year),
        ("图谱 XLSX (12 weeks)", "map", {"format": "xlsx"}),
        ("委员 XLSX (6 months)", "members", {"format": "xlsx"}),
        ("时限 CSV (53 weeks)", "deadlines", {**year, "format": "csv"}),
    ]


PAGES = [
    ("页 图谱 (12 weeks)", "/console/map", {}),
    ("页 图谱 by district (12 weeks)", "/console/map", {"by": "district"}),
    ("页 时限 (12 weeks)", "/console/deadlines", {}),
    ("页 委员 (6 months)", "/console/members", {}),
    ("页 委员 one member", "/console/members/m-001", {}),
    ("页 联系点 (12 weeks)", "/console/points", {}),
    ("页 联系点 one point", "/console/points/cp-001", {}),
]
PASSWORD = "bench console 1"


async def _timed(
    session: aiohttp.ClientSession, label: str, target: str, params: dict[str, str], runs: int, **kwargs: Any
) -> tuple[str, float, float, int]:
    took, size = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        async with session.get(target, params=params, **kwargs) as response:
            body = await response.read()
            assert response.status == 200, (label, response.status, body[:300])
        took.append(time.perf_counter() - started)
        size = len(body)
    return label, min(took), statistics.median(took), size


async def _console_session(base: str) -> aiohttp.ClientSession:
    """A browser's cookies after logging in to the console as s-001."""
    import re

    from handlers.admin import accounts

    await accounts.set_password("s-001", PASSWORD)
    session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))  # keep 127.0.0.1's cookies
    async with session.get(f"{base}/console/login") as form:
        match = re.search(r'name="csrf" value="([^"]+)"', await form.text())
    assert match, "no login form"
    login = {"username": "s-001", "password": PASSWORD, "csrf": match.group(1)}
    async with session.post(f"{base}/console/login", data=login) as response:
        assert response.status == 200, response.status
    return session


async def time_routes(url: str, redis_url: str, runs: int) -> list[tuple[str, float, float, int]]:
    from handlers.admin.stats_tokens import make_token

    config = build_config({"database": {"url": url}, "redis": {"url": redis_url}}, environ={})
    app = create_app(config, run_workers=False)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    results = []
    try:
        _, token = await make_token("s-001")
        headers = {"Authorization": f"Bearer {token}"}
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as session:
            for label, figure, params in routes():
                target = f"{base}/api/v1/stats/{figure}"
                results.append(await _timed(session, label, target, params, runs, headers=headers))
        console = await _console_session(base)
        try:
            for label, path, params in PAGES:  # the console's HTML pages over the same figures
                results.append(await _timed(console, label, base + path, params, runs))
        finally:
            await console.close()
    finally:
        await runner.cleanup()
    return results


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--cases", type=int, default=100_000)
    parser.add_argument("--database-url", default="", help="default: a temporary SQLite database")
    parser.add_argument("--redis-url", default="", help="default: an embedded redis-server in a temp dir")
    parser.add_argument("--reuse", action="store_true", help="time the routes on the database as it is")
    parser.add_argument("--runs", type=int, default=3, help="requests per route (min and median printed)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite://{Path(tmp) / 'bench.sqlite3'}"
        end = datetime.now(UTC)
        if not args.reuse:
            if url.startswith("postgres"):
                await reset_postgres(url)
            await init_db(url)
            await roster()
            await close_db()
            print(f"generating {args.cases:,} cases with their timelines …", flush=True)
            started = time.perf_counter()
            if url.startswith("postgres"):
                events = await fill_postgres(url, args.cases, end)
            else:
                events = fill_sqlite(url.removeprefix("sqlite://"), args.cases, end)
            print(f"  {args.cases:,} cases, {events:,} events in {time.perf_counter() - started:.0f} s", flush=True)
        embedded = None
        redis_url = args.redis_url
        if not redis_url:
            embedded = EmbeddedRedis(Path(tmp) / "redis", persistent=False)
            await embedded.start()
            redis_url = embedded.url
        try:
            results = await time_routes(url, redis_url, args.runs)
        finally:
            if embedded is not None:
                await embedded.stop()
    dialect = "PostgreSQL" if url.startswith("postgres") else "SQLite"
    print(f"/api/v1/stats and the console's pages on {dialect}, {args.cases:,} cases, {args.runs} requests each (s):")
    for label, best, median, size in results:
        print(f"  {label:<32} min {best:6.3f}  median {median:6.3f}  ({size:,} bytes)")
    print(json.dumps({label: round(median, 3) for label, _, median, _ in results}, ensure_ascii=False))


if __name__ == "__main__":
    asyncio.run(main())
