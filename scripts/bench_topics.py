"""码上商量 at the scale of Jinan's first topic: a burst of opinions, and listing a topic with 100,000.

1. Burst: N citizens (1,000) each sign in and post one opinion to one topic, `--concurrency` at a time
   (all at once, or `--over 60`: started evenly over a minute, as "1,000 within a minute" says),
   over HTTP to the service (the fake platform answering jscode2session and msg_sec_check, as in
   `mashang serve --demo`). Then checks that every opinion is stored, was checked by WeChat's text check
   (one msg_sec_check call each, its trace_id kept) and is listed (paging GET …/opinions to the end).
2. Listing: another topic filled with `--opinions` (100,000) opinions, 95 % published (bulk insert,
   random supports; on PostgreSQL then ANALYZE, as autovacuum would), then GET /api/v1/topics/<key>/opinions
   timed over HTTP: the first page newest and most supported first, and a page deep in the list (from a
   cursor) — the target is under 100 ms.

Service, fake platform and client run in this one process (one event loop), as `mashang serve --demo`
does for the first two; the rate limits are lifted (all requests come from 127.0.0.1, and one reader
times the listing).

    .venv/bin/python scripts/bench_topics.py                       # SQLite in a temp dir, embedded Redis
    .venv/bin/python scripts/bench_topics.py --database-url postgres://postgres@127.0.0.1:5432/bench \\
        --redis-url redis://127.0.0.1:6379/4
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bot.app import create_app, server_options
from bot.config import build_config
from bot.demo.fake_platform import FakePlatform, create_fake_platform
from bot.redis_store import EmbeddedRedis
from handlers.topics.topics import create_topic
from models.entities import Citizen
from models.topics import Opinion, OpinionStatus

OPINION_TEXTS = ["医院周边建立体停车场", "开通到医院的公交专线", "错峰预约就诊", "夜间开放操场停车", "共享单车停放点"]


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]


async def start(runner: web.AppRunner, port: int = 0) -> int:
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    return int(runner.addresses[0][1])


async def burst(
    session: aiohttp.ClientSession, base: str, count: int, concurrency: int, over_s: float
) -> dict[str, Any]:
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    statuses: dict[int, int] = {}

    async def one(index: int) -> None:
        await asyncio.sleep(over_s * index / count)  # 0: all at once
        async with gate:
            started = time.perf_counter()
            async with session.post(f"{base}/session", json={"code": f"demo-bench{index}"}) as answer:
                token = (await answer.json())["token"]
            headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": f"bench-{index}"}
            text = f"{OPINION_TEXTS[index % len(OPINION_TEXTS)]}（第 {index} 条）"
            async with session.post(f"{base}/topics/burst/opinions", json={"text": text}, headers=headers) as answer:
                await answer.read()
                statuses[answer.status] = statuses.get(answer.status, 0) + 1
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(one(index) for index in range(count)))
    return {"seconds": time.perf_counter() - started, "latencies": latencies, "statuses": statuses}


async def page_through(session: aiohttp.ClientSession, base: str, token: str, key: str) -> list[int]:
    ids: list[int] = []
    cursor = None
    while True:
        params = {"limit": "50", **({"cursor": cursor} if cursor else {})}
        async with session.get(
            f"{base}/topics/{key}/opinions", params=params, headers={"Authorization": f"Bearer {token}"}
        ) as answer:
            body = await answer.json()
        ids += [item["opinion_id"] for item in body["opinions"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return ids


async def fill(key: str, count: int) -> float:
    from models.topics import ConsultationTopic

    started = time.perf_counter()
    topic = await ConsultationTopic.get(key=key)
    author = await Citizen.create(openid="o-bench-filler", channel="wxa")
    base = datetime(2026, 11, 1, tzinfo=UTC)
    rng = random.Random(16)
    batch: list[Opinion] = []
    for index in range(count):
        moment = base + timedelta(seconds=index * 7)
        batch.append(
            Opinion(
                topic=topic,
                citizen=author,
                text=f"{OPINION_TEXTS[index % len(OPINION_TEXTS)]} #{index}",
                status=OpinionStatus.PUBLISHED if index % 20 else OpinionStatus.REVIEW,
                support_count=int(rng.paretovariate(1.5)) - 1,
                check={"suggest": "pass", "label": 100, "trace_id": f"t{index}", "name": "用户beef"},
                created_at=moment,
                published_at=moment,
            )
        )
        if len(batch) == 5000:
            await Opinion.bulk_create(batch)
            batch.clear()
    if batch:
        await Opinion.bulk_create(batch)
    published = await Opinion.filter(topic=topic, status=OpinionStatus.PUBLISHED).count()
    await ConsultationTopic.filter(id=topic.id).update(opinion_count=published)  # as publishing keeps it
    connection = Opinion._meta.db
    if connection.capabilities.dialect == "postgres":
        # Statistics for the planner, as autovacuum's ANALYZE gives a table that grew by 100,000 rows
        # within a minute; without them a table filled in one go looks empty to it.
        await connection.execute_script('ANALYZE "opinion"')
    return time.perf_counter() - started


async def time_listing(
    session: aiohttp.ClientSession, base: str, token: str, iterations: int
) -> dict[str, list[float]]:
    headers = {"Authorization": f"Bearer {token}"}
    url = f"{base}/topics/big/opinions"
    deep: dict[str, str] = {}
    for order in ("newest", "support"):  # a cursor about 1,000 pages into the list
        params = {"order": order, "limit": "50"}
        for _ in range(40):
            async with session.get(url, params=params, headers=headers) as answer:
                params = {"order": order, "limit": "50", "cursor": (await answer.json())["next_cursor"]}
        deep[order] = params["cursor"]
    cases = {
        "newest, first page (20)": {"order": "newest"},
        "most supported, first page (20)": {"order": "support"},
        "newest, page 41 (cursor)": {"order": "newest", "cursor": deep["newest"]},
        "most supported, page 41 (cursor)": {"order": "support", "cursor": deep["support"]},
        "the topic (count of published)": None,
    }
    timings: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(iterations):
        for name, params in cases.items():
            started = time.perf_counter()
            target = f"{base}/topics/big" if params is None else url
            async with session.get(target, params=params, headers=headers) as answer:
                assert answer.status == 200, await answer.text()
                await answer.read()
            timings[name].append((time.perf_counter() - started) * 1000)
    return timings


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--burst", type=int, default=1000, help="opinions posted in the burst (default 1,000)")
    parser.add_argument("--concurrency", type=int, default=50, help="requests in flight at once")
    parser.add_argument(
        "--over", type=float, default=0.0, help="start the posts evenly over this many seconds (default: all at once)"
    )
    parser.add_argument("--opinions", type=int, default=100_000, help="opinions in the listed topic")
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--database-url", default="", help="default: SQLite in a temp dir")
    parser.add_argument("--redis-url", default="", help="default: an embedded redis-server in a temp dir")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        embedded = None
        redis_url = args.redis_url
        if not redis_url:
            embedded = EmbeddedRedis(Path(tmp) / "redis", persistent=False)
            await embedded.start()
            redis_url = embedded.url
        database_url = args.database_url or f"sqlite://{Path(tmp) / 'bench.sqlite3'}"
        platform = FakePlatform()
        fake = web.AppRunner(create_fake_platform(platform), access_log=None)
        fake_port = await start(fake)
        fake_base = f"http://127.0.0.1:{fake_port}/wechat"
        config = build_config(
            {
                "database": {"url": database_url},
                "redis": {"url": redis_url, "key_prefix": "bench:"},
                "wechat": {"api_base_url": fake_base},
                "wecom": {"api_base_url": f"http://127.0.0.1:{fake_port}/wecom"},
                "miniprogram": {"api_base_url": fake_base},
                "intake": {"media_dir": str(Path(tmp) / "media")},
            },
            environ={},
        )
        config = replace(
            config, miniprogram=replace(config.miniprogram, rate_limit_per_ip=10**6, rate_limit_per_openid=10**6)
        )
        platform.apps = {config.wechat.app_id: config.wechat.app_secret}
        platform.apps[config.miniprogram.app_id] = config.miniprogram.app_secret
        service = web.AppRunner(create_app(config), access_log=None, **server_options(config))
        port = await start(service)
        base = f"http://127.0.0.1:{port}/api/v1"
        until = date.today() + timedelta(days=30)
        await create_topic("burst", "医院停车怎么办", "请谈谈医院停车", until, [])
        await create_topic("big", "十万条意见", "列表的速度", until, [])
        connector = aiohttp.TCPConnector(limit=args.concurrency)
        try:
            async with aiohttp.ClientSession(connector=connector) as session:
                pace = f", started over {args.over:.0f} s" if args.over else ", all at once"
                print(
                    f"burst: {args.burst:,} citizens sign in and post one opinion each{pace}, "
                    f"{args.concurrency} in flight"
                )
                result = await burst(session, base, args.burst, args.concurrency, args.over)
                lat = result["latencies"]
                print(
                    f"  {args.burst:,} in {result['seconds']:.1f} s ({args.burst / result['seconds']:.0f}/s); "
                    f"statuses {result['statuses']}; sign-in + post p50 {statistics.median(lat):.0f} ms, "
                    f"p99 {percentile(lat, 99):.0f} ms"
                )
                stored = await Opinion.filter(topic__key="burst").values_list("check", flat=True)
                checked = sum(1 for check in stored if isinstance(check, dict) and check.get("trace_id"))
                calls = len(platform.calls_to("/wxa/msg_sec_check"))
                async with session.post(f"{base}/session", json={"code": "demo-reader"}) as answer:
                    token = (await answer.json())["token"]
                listed = await page_through(session, base, token, "burst")
                print(
                    f"  stored {len(stored):,}, checked {checked:,} (msg_sec_check calls {calls:,}), "
                    f"listed {len(set(listed)):,}"
                )
                assert len(stored) == checked == len(set(listed)) == args.burst
                print(f"listing: filling topic 'big' with {args.opinions:,} opinions (95% published) …", flush=True)
                print(f"  filled in {await fill('big', args.opinions):.1f} s")
                timings = await time_listing(session, base, token, args.iterations)
                print(f"GET over HTTP, {args.iterations} iterations each (ms):")
                for name, values in timings.items():
                    print(
                        f"  {name:<36} p50 {statistics.median(values):6.1f}  p99 {percentile(values, 99):6.1f}  "
                        f"max {max(values):6.1f}"
                    )
        finally:
            await service.cleanup()
            await fake.cleanup()
            if embedded is not None:
                await embedded.stop()


if __name__ == "__main__":
    asyncio.run(main())
