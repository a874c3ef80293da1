"""Triage queue at scale: take the next case and count the queue with N open cases.

Builds N untriaged cases in a temporary SQLite database (raw bulk insert), rebuilds the Redis index
from it the way the service does at start, then times the operations 待办 relies on.

    .venv/bin/python scripts/bench_queue.py            # 1,000,000 cases, embedded Redis
    .venv/bin/python scripts/bench_queue.py -n 100000 --redis-url redis://127.0.0.1:6379/12
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.redis_store import EmbeddedRedis, connect
from handlers.cases import queue as triage_queue
from handlers.settings import Settings
from models.db import close_db, init_db


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]


def fill_database(path: Path, count: int) -> float:
    started = time.perf_counter()
    conn = sqlite3.connect(path)
    conn.execute(
        "INSERT INTO citizen (openid, channel, created_at, window_sends) VALUES ('o-bench', 'oa', ?, 0)",
        (datetime.now(UTC).isoformat(),),
    )
    base = datetime(2026, 11, 1, tzinfo=UTC)
    rows = []
    for index in range(count):
        created = base + timedelta(seconds=index)
        stamp = created.isoformat()
        due = (created + timedelta(days=2)).isoformat()
        rows.append((f"MS{index:013d}", 1, "received", "bench", index % 97 == 0, stamp, stamp, stamp, due))
        if len(rows) == 50_000:
            conn.executemany(
                'INSERT INTO "case" (code, citizen_id, state, summary, urgent, created_at, updated_at, '
                "last_citizen_message_at, assign_due_at, reopen_count) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
                rows,
            )
            rows.clear()
    if rows:
        conn.executemany(
            'INSERT INTO "case" (code, citizen_id, state, summary, urgent, created_at, updated_at, '
            "last_citizen_message_at, assign_due_at, reopen_count) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
            rows,
        )
    conn.commit()
    conn.close()
    return time.perf_counter() - started


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--cases", type=int, default=1_000_000)
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--redis-url", default="", help="default: an embedded redis-server in a temp dir")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db_path = Path(tmp) / "bench.sqlite3"
        await init_db(f"sqlite://{db_path}")
        await close_db()
        print(f"filling {args.cases:,} untriaged cases into SQLite …", flush=True)
        print(f"  database filled in {fill_database(db_path, args.cases):.1f} s")
        embedded = None
        url = args.redis_url
        if not url:
            embedded = EmbeddedRedis(Path(tmp) / "redis", persistent=False)
            await embedded.start()
            url = embedded.url
        redis = connect(url)
        settings = Settings(redis_prefix="bench:")
        await init_db(f"sqlite://{db_path}", create_tables=False)
        try:
            started = time.perf_counter()
            rebuilt = await triage_queue.rebuild(redis, settings)
            took = time.perf_counter() - started
            print(f"  queue rebuilt from the database at start: {rebuilt:,} cases in {took:.1f} s")
            timings: dict[str, list[float]] = {
                "count (ZCARD)": [],
                "next case id (ZRANGE 0 0)": [],
                "next case with its row (待办 head)": [],
            }
            for _ in range(args.iterations):
                t0 = time.perf_counter()
                size = await triage_queue.queue_size(redis, settings)
                t1 = time.perf_counter()
                await triage_queue.next_case_ids(redis, settings, 1)
                t2 = time.perf_counter()
                await triage_queue.queued_cases(redis, settings, 1)
                t3 = time.perf_counter()
                timings["count (ZCARD)"].append((t1 - t0) * 1000)
                timings["next case id (ZRANGE 0 0)"].append((t2 - t1) * 1000)
                timings["next case with its row (待办 head)"].append((t3 - t2) * 1000)
            assert size == args.cases, (size, args.cases)
            print(f"queue of {size:,} open cases, {args.iterations} iterations each (ms):")
            for name, values in timings.items():
                print(
                    f"  {name:<36} p50 {statistics.median(values):.3f}  p99 {percentile(values, 99):.3f}  "
                    f"max {max(values):.3f}"
                )
            memory = await redis.info("memory")
            print(f"  Redis memory for the index: {memory['used_memory_human']}")
        finally:
            await redis.delete(triage_queue.queue_key(settings), triage_queue.built_key(settings))
            await redis.aclose()
            await close_db()
            if embedded is not None:
                await embedded.stop()


if __name__ == "__main__":
    asyncio.run(main())
