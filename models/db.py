"""Database start-up: Tortoise with SQLite (default) or PostgreSQL, tables created if missing."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from tortoise import Tortoise
from tortoise.backends.base.executor import EXECUTOR_CACHE

MODEL_MODULES = ["models.entities", "models.jobs", "models.qr"]


def _prepare_url(url: str) -> str:
    if url.startswith("sqlite://"):
        path = url[len("sqlite://") :].split("?", 1)[0]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        if "?" not in url:
            # WAL + synchronous=NORMAL: durable against a crash of this process, fast commits.
            url += "?synchronous=NORMAL&busy_timeout=5000"
    elif urlsplit(url).scheme == "postgresql":
        url = "postgres" + url[len("postgresql") :]
    return url


async def init_db(url: str, *, create_tables: bool = True) -> None:
    # Tortoise caches INSERT statements per table name, not per dialect: a process that switches
    # between SQLite and PostgreSQL (the test suite) must start from an empty cache.
    EXECUTOR_CACHE.clear()
    await Tortoise.init(
        db_url=_prepare_url(url),
        modules={"models": MODEL_MODULES},
        _enable_global_fallback=True,
    )
    if create_tables:
        await Tortoise.generate_schemas(safe=True)


async def close_db() -> None:
    await Tortoise.close_connections()
