"""Database start-up: Tortoise with SQLite (default) or PostgreSQL, tables created if missing."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tortoise import Tortoise
from tortoise.backends.base.executor import EXECUTOR_CACHE

log = logging.getLogger(__name__)
MODEL_MODULES = ["models.entities", "models.jobs", "models.qr"]
# Indexes earlier versions created that nothing reads any more: every insert paid for them.
OBSOLETE_INDEXES = (
    "idx_inbound_mes_sender_45da77",  # inbound_message (sender)
    "idx_inbound_mes_status_d32ae7",  # inbound_message (status): (status, processed_at) serves
    "idx_case_event_created_d27d34",  # case_event (created_at): (case_id, created_at) serves
)
# Columns earlier versions created narrower (table, column, characters): widened at start on PostgreSQL
# (SQLite does not enforce a VARCHAR's length).
WIDENED_COLUMNS = (("case_message", "inbound_key", 160),)  # the inbox's dedupe key, which now names the sender
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


async def init_db(url: str, *, create_tables: bool = True, background_checkpoints: bool = False) -> None:
    """`background_checkpoints`: SQLite leaves checkpointing its WAL to `wal_checkpoints()`, which the
    caller runs (the service does)."""
    # Tortoise caches INSERT statements per table name, not per dialect: a process that switches
    # between SQLite and PostgreSQL (the test suite) must start from an empty cache.
    EXECUTOR_CACHE.clear()
    await Tortoise.init(
        db_url=_prepare_url(url, background_checkpoints),
        modules={"models": MODEL_MODULES},
        _enable_global_fallback=True,
    )
    if create_tables:
        await Tortoise.generate_schemas(safe=True)  # new tables and indexes (IF NOT EXISTS)
        client = Tortoise.get_connection("default")
        for index in OBSOLETE_INDEXES:
            await client.execute_script(f'DROP INDEX IF EXISTS "{index}"')
        if client.capabilities.dialect == "postgres":
            await _widen_columns(client)


async def _widen_columns(client: Any) -> None:
    for table, column, length in WIDENED_COLUMNS:
        rows = await client.execute_query_dict(
            "SELECT character_maximum_length FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = $1 AND column_name = $2",
            [table, column],
        )
        if rows and (rows[0]["character_maximum_length"] or length) < length:
            await client.execute_script(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" TYPE VARCHAR({length})')


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
