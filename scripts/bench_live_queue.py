"""The web console's live queue and pages, timed: how long from a citizen's acknowledgement until an open
queue page hears of the new case, and how long the queue, a text search and a case page take with N
cases waiting.

The whole service on real HTTP (tests/harness.py's Stack: the fake WeChat platform, SQLite or PostgreSQL,
Redis) with its job runner running as under `mashang serve`; a logged-in console client listens on
/console/events. N untriaged cases are bulk-inserted first (SQLite only) and the Redis index rebuilt.

    .venv/bin/python scripts/bench_live_queue.py                      # 20 new cases, 100,000 waiting
    .venv/bin/python scripts/bench_live_queue.py -n 0 --rounds 50
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.app import JOBS, REDIS, SETTINGS
from bot.redis_store import EmbeddedRedis
from handlers.admin import accounts
from handlers.cases import queue as triage_queue
from tests.console_client import PASSWORD, ConsoleClient
from tests.harness import Stack

CODE = re.compile(r"MS\d{11,}")


def fill(path: Path, count: int) -> None:
    conn = sqlite3.connect(path)
    conn.execute(
        "INSERT INTO citizen (openid, channel, created_at, window_sends, event_window_sends) "
        "VALUES ('o-bench', 'oa', ?, 0, 0)",
        (datetime.now(UTC).isoformat(),),
    )
    citizen = conn.execute("SELECT id FROM citizen WHERE openid = 'o-bench'").fetchone()[0]
    points = [row[0] for row in conn.execute("SELECT id FROM contact_point")]
    base = datetime.now(UTC) - timedelta(days=30)
    words = ("停车难", "食堂太贵", "审批太慢", "路灯不亮", "噪音扰民", "公交班次少")
    rows = []
    for index in range(count):
        stamp = (base + timedelta(seconds=index * 20)).isoformat()
        due = (base + timedelta(seconds=index * 20, days=2)).isoformat()
        summary = f"第{index}件：{words[index % len(words)]}"
        point = points[index % len(points)]
        rows.append((f"MB{index:013d}", citizen, point, summary, index % 97 == 0, stamp, stamp, stamp, due))
    conn.executemany(
        'INSERT INTO "case" (code, citizen_id, contact_point_id, state, summary, urgent, created_at, updated_at, '
        "last_citizen_message_at, assign_due_at, reopen_count, source) "
        "VALUES (?, ?, ?, 'received', ?, ?, ?, ?, ?, ?, 0, 'qr')",
        rows,
    )
    conn.commit()
    conn.close()


async def timed(client: ConsoleClient, path: str, times: int = 5) -> tuple[float, float]:
    spent = []
    for _ in range(times):
        started = time.perf_counter()
        status, _page = await client.get(path)
        spent.append(time.perf_counter() - started)
        assert status == 200, path
    return statistics.median(spent), max(spent)


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        redis = EmbeddedRedis(tmp / "redis", persistent=False)
        await redis.start()
        database = tmp / "bench.sqlite3"
        stack = Stack(f"sqlite://{database}", redis.url, tmp)
        await stack.start()
        try:
            await accounts.set_password("s-li", PASSWORD)
            if args.cases:
                started = time.perf_counter()
                fill(database, args.cases)
                await triage_queue.rebuild(stack.app[REDIS], stack.app[SETTINGS])
                print(f"{args.cases:,} waiting cases made in {time.perf_counter() - started:.1f} s")
            stack.app[JOBS].start()  # as `mashang serve` runs it
            client = ConsoleClient(stack)
            await client.login("s-li")
            latencies = []
            async with client.http.get(stack.url("/console/events")) as stream:
                await stream.content.readuntil(b"\n\n")
                citizen = stack.citizen()
                for index in range(args.rounds):
                    openid = f"o-live-{index}"
                    await citizen.event(openid, "SCAN", "cp:hz-hospital-1")
                    answer = await citizen.text(openid, f"医院门口停车太难，第{index}次反映")
                    acknowledged = time.perf_counter()
                    code = CODE.search(answer.reply["Content"]).group(0)  # type: ignore[union-attr]
                    while True:
                        event = await asyncio.wait_for(stream.content.readuntil(b"\n\n"), 10)
                        if code.encode() in event:
                            break
                    latencies.append(time.perf_counter() - acknowledged)
            ordered = sorted(latencies)
            print(
                f"live queue, acknowledgement to event: p50 {statistics.median(ordered) * 1000:.0f} ms, "
                f"max {ordered[-1] * 1000:.0f} ms over {len(ordered)} new cases"
            )
            for label, path in (
                ("queue page (待分拣, 100 rows)", "/console"),
                ("queue, text search", "/console?q=食堂太贵"),
                ("all cases page", "/console/cases"),
                ("one case", f"/console/cases/{code}"),
            ):
                median, worst = await timed(client, path)
                print(f"{label}: median {median * 1000:.0f} ms, max {worst * 1000:.0f} ms")
            await client.close()
            await stack.app[JOBS].stop()
        finally:
            await stack.stop()
            await redis.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("-n", "--cases", type=int, default=100_000, help="untriaged cases made first (SQLite)")
    parser.add_argument("--rounds", type=int, default=20, help="new cases whose arrival is timed")
    asyncio.run(main(parser.parse_args()))
