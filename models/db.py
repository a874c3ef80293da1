"""Database start-up: Tortoise with SQLite (default) or PostgreSQL, the schema migrated to this version."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

from tortoise import Tortoise
from tortoise.backends.base.executor import EXECUTOR_CACHE

from models import migrate

log = logging.getLogger(__name__)
MODEL_MODULES = [
    "models.entities",
    "models.delivery",
    "models.jobs",
    "models.qr",
    "models.case_page",
    "models.media",
    "models.miniprogram",
    "models.hotline",
    "models.similar",
    "models.stats",
    "models.topics",
    "models.leads",
]
WAL_CHECKPOINT_BYTES = 4 * 1024 * 1024  # SQLite's own default: about 1,000 pages of 4 KiB


def sqlite_file(url: str) -> str | None:
    """The database file of a `sqlite://` URL (None for PostgreSQL and in-memory databases)."""
    if not url.startswith("sqlite://"):
        return None
    path = url[len("sqlite://") :].split("?", 1)[0]
    return path if path and path != ":memory:" else None


def _prepare_url(url: str, background_checkpoints: bool = False) -> str:
    if url.startswith("sqlite://"):
        path = sqlite_file(url)
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        if "?" not in url:
            # WAL + synchronous=NORMAL: durable against a crash of this process, fast commits.
            url += "?synchronous=NORMAL&busy_timeout=5000"
            if background_checkpoints and path:
                url += "&wal_autocheckpoint=0"  # wal_checkpoints() does them, off the database thread
    elif urlsplit(url).scheme == "postgresql":
        url = "postgres" + url[len("postgresql") :]
    return url


async def init_db(
    url: str, *, create_tables: bool = True, background_checkpoints: bool = False, auto_upgrade: bool = True
) -> None:
    """`create_tables`: bring the schema to this version (models/migrations/, applied by
    `models.migrate`); False leaves the database as it is (`mashang db`, a client of a running service).
    `auto_upgrade=False`: apply nothing, and raise `PendingMigrationsError` (connections closed) if a
    migration is pending. `background_checkpoints`: SQLite leaves checkpointing its WAL to
    `wal_checkpoints()`, which the caller runs (the service does)."""
    # Tortoise caches INSERT statements per table name, not per dialect: a process that switches
    # between SQLite and PostgreSQL (the test suite) must start from an empty cache.
    EXECUTOR_CACHE.clear()
    await Tortoise.init(
        db_url=_prepare_url(url, background_checkpoints),
        modules={"models": MODEL_MODULES},
        _enable_global_fallback=True,
    )
    if not create_tables:
        return
    try:
        if auto_upgrade:
            await migrate.upgrade()
        elif pending := (await migrate.status()).pending:
            raise migrate.PendingMigrationsError(pending)
    except BaseException:
        await close_db()
        raise


async def close_db() -> None:
    await Tortoise.close_connections()


@contextlib.asynccontextmanager
async def wal_checkpoints(
    url: str, interval_s: float = 1.0, threshold_bytes: int = WAL_CHECKPOINT_BYTES
) -> AsyncIterator[None]:
    """While inside, checkpoint the SQLite WAL of `url` from a connection and a thread of its own
    whenever it has grown past `threshold_bytes` (nothing to do for PostgreSQL).

    A checkpoint copies the WAL into the database file and syncs the file to disk. Done automatically
    it runs in the connection that commits, the one every callback waits on; on a slow disk that held
    the database thread for tens of milliseconds at a time. A PASSIVE checkpoint from another
    connection never blocks the writer."""
    path = sqlite_file(url)
    if path is None:
        yield
        return
    checkpointer = _Checkpointer(path)
    task = asyncio.create_task(checkpointer.run(interval_s, threshold_bytes), name="sqlite-wal-checkpoints")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await asyncio.to_thread(checkpointer.close)  # waits for a checkpoint still running in its thread


class _Checkpointer:
    """Its methods run in worker threads; `lock` makes them one at a time (a cancelled wait in the
    event loop does not stop a checkpoint already running)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.wal = f"{path}-wal"
        self.connection: sqlite3.Connection | None = None
        self.lock = threading.Lock()
        self.closed = False

    async def run(self, interval_s: float, threshold_bytes: int) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await asyncio.to_thread(self.checkpoint_if_grown, threshold_bytes)
            except Exception:  # never stop: with automatic checkpoints off, the WAL would grow for ever
                log.exception("checkpointing %s failed; will try again", self.path)

    def checkpoint_if_grown(self, threshold_bytes: int) -> None:
        try:
            if os.path.getsize(self.wal) < threshold_bytes:
                return
        except FileNotFoundError:
            return  # no WAL yet (or removed by the last connection closing)
        self.checkpoint()

    def checkpoint(self) -> tuple[int, int, int] | None:
        """(busy, WAL frames, frames copied), or None once closed."""
        with self.lock:
            if self.closed:
                return None
            if self.connection is None:
                self.connection = sqlite3.connect(self.path, timeout=5, check_same_thread=False)
                self.connection.execute("PRAGMA synchronous=NORMAL")
            busy, frames, copied = self.connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            return int(busy), int(frames), int(copied)

    def close(self) -> None:
        with self.lock:
            self.closed = True
            if self.connection is not None:
                self.connection.close()
                self.connection = None
