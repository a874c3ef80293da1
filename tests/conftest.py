"""Shared fixtures: a real Redis and a real database for every test.

Redis: MASHANG_TEST_REDIS_URL (flushed per test), else one embedded redis-server for the session.
Database: SQLite in a temporary file; PostgreSQL too when MASHANG_TEST_POSTGRES_URL is set.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import redis.asyncio as aioredis

from bot.redis_store import EmbeddedRedis, connect
from models.timeutil import ManualClock, get_clock, set_clock
from tests.loop_clock import LoopClock

if TYPE_CHECKING:
    from tests.console_client import ConsoleClient
    from tests.harness import Stack


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    configured = os.environ.get("MASHANG_TEST_REDIS_URL")
    if configured:
        yield configured
        return
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"), persistent=False)
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(server.start())
        yield server.url
    finally:
        loop.run_until_complete(server.stop())
        loop.close()


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = connect(redis_url)
    await client.flushdb()
    try:
        yield client
    finally:
        await client.flushdb()
        await client.aclose()


def _database_params() -> list[str]:
    params = ["sqlite"]
    if os.environ.get("MASHANG_TEST_POSTGRES_URL"):
        params.append("postgres")
    return params


@pytest.fixture(params=_database_params())
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL; each test gets an empty database (tables are created by the app)."""
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'test.sqlite3'}"
    return os.environ["MASHANG_TEST_POSTGRES_URL"]


async def reset_postgres(url: str) -> None:
    """Empty the test database: every test starts from no tables."""
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    finally:
        await conn.close()


@pytest.fixture
async def stack(database_url: str, redis_url: str, redis_client: aioredis.Redis, tmp_path: Path):
    """The whole service over real HTTP against the fake WeChat platform.

    Workers do not run by themselves: tests call `stack.run_jobs()` to deliver what is queued, so
    they can stop the platform or the service in between.
    """
    from tests.harness import Stack

    if database_url.startswith("postgres"):
        await reset_postgres(database_url)
    harness = Stack(database_url=database_url, redis_url=redis_url, tmp_path=tmp_path)
    try:
        await harness.start()  # inside: a start that fails half-way is still stopped for the next test
        yield harness
    finally:
        await harness.stop()


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[None]:
    """Just the database (empty, tables created), for tests below the HTTP layer."""
    from models.db import close_db, init_db

    if database_url.startswith("postgres"):
        await reset_postgres(database_url)
    await init_db(database_url)
    yield
    await close_db()


@pytest.fixture
def manual_clock() -> Iterator[ManualClock]:
    """Business time standing still until the test calls `manual_clock.advance(seconds)`."""
    previous = get_clock()
    clock = ManualClock()
    set_clock(clock)
    try:
        yield clock
    finally:
        set_clock(previous)


@pytest.fixture
async def loop_clock() -> AsyncIterator[LoopClock]:
    """The event loop's clock, moved on by hand (`await loop_clock.advance(seconds)`)."""
    clock = LoopClock(asyncio.get_running_loop())
    try:
        yield clock
    finally:
        clock.close()


# ---- the web console: a stack with two console accounts, and a client that keeps its cookies --------


@pytest.fixture
async def console_stack(
    database_url: str, redis_url: str, redis_client: object, tmp_path: object
) -> AsyncIterator[Stack]:
    if database_url.startswith("postgres"):
        await reset_postgres(database_url)
    from tests.console_client import with_password
    from tests.harness import Stack

    stack = Stack(database_url, redis_url, tmp_path, clock=ManualClock())  # type: ignore[arg-type]
    try:
        await stack.start()
        await with_password("s-li")
        await with_password("s-zhou")
        yield stack
    finally:
        await stack.stop()


@pytest.fixture
async def browser(console_stack: Stack) -> AsyncIterator[ConsoleClient]:
    from tests.console_client import ConsoleClient

    client = ConsoleClient(console_stack)
    try:
        yield client
    finally:
        await client.close()
