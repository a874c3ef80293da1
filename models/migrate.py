"""Schema migrations: numbered modules under models/migrations/, applied in order, each exactly once.

    models/migrations/0001_initial.py
        async def upgrade(conn: BaseDBAsyncClient, dialect: str) -> None   # dialect: sqlite | postgres

`schema_migrations` (version, name, applied_at) records what a database has. Each pending migration
runs in a transaction of its own, together with its row in that table, under a lock that makes a
second process starting at the same moment wait and then find it applied: PostgreSQL takes an
advisory lock held to the end of the transaction; SQLite begins the transaction IMMEDIATE (its one
write lock). A database an earlier version made (tables, no `schema_migrations`) is stamped by the
baseline, whose statements only add what is missing. How to write one: docs/migrations.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import importlib.util
import itertools
import logging
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, cast

from tortoise import Tortoise
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.backends.sqlite.client import SqliteClient, SqliteTransactionWrapper
from tortoise.connection import get_connections
from tortoise.transactions import in_transaction

log = logging.getLogger(__name__)

MIGRATIONS_PACKAGE = "models.migrations"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
TABLE = "schema_migrations"
DIALECTS = ("sqlite", "postgres")
LOCK_ID = int.from_bytes(b"mashang", "big")  # pg_advisory_xact_lock key: "mashang" as a 56-bit number
SQLITE_LOCK_WAIT_S = 600.0  # how long a second process waits for the first one's migration
_FILE_NAME = re.compile(r"(\d{4})_[a-z0-9_]+")

_CREATE_TABLE = {
    "sqlite": f'CREATE TABLE IF NOT EXISTS "{TABLE}" ("version" INTEGER NOT NULL PRIMARY KEY, '
    '"name" VARCHAR(255) NOT NULL, "applied_at" TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)',
    "postgres": f'CREATE TABLE IF NOT EXISTS "{TABLE}" ("version" INT NOT NULL PRIMARY KEY, '
    '"name" VARCHAR(255) NOT NULL, "applied_at" TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP)',
}
_RECORD = {
    "sqlite": f'INSERT INTO "{TABLE}" ("version", "name") VALUES (?, ?)',
    "postgres": f'INSERT INTO "{TABLE}" ("version", "name") VALUES ($1, $2)',
}
_TABLES = {
    "sqlite": "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
    "postgres": "SELECT table_name AS name FROM information_schema.tables "
    "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
}

Upgrade = Callable[[BaseDBAsyncClient, str], Awaitable[None]]


@dataclass(frozen=True)
class Migration:
    version: int
    name: str  # the module's name, e.g. 0002_drop_unused_indexes
    upgrade: Upgrade

    @classmethod
    def from_module(cls, name: str, module: ModuleType) -> Migration:
        match = _FILE_NAME.fullmatch(name)
        upgrade = getattr(module, "upgrade", None)
        if match is None or not callable(upgrade):
            raise MigrationError(f"迁移 {name}：文件名应为 NNNN_说明.py，并定义 async def upgrade(conn, dialect)")
        return cls(int(match.group(1)), name, cast(Upgrade, upgrade))


class MigrationError(RuntimeError):
    """The migrations in the code and the database disagree, or a migration failed (one line)."""


class PendingMigrationsError(MigrationError):
    """`auto_upgrade` is off and the database lacks migrations this code needs."""

    def __init__(self, pending: Sequence[Migration]) -> None:
        self.pending = tuple(pending)
        super().__init__("数据库有待执行的迁移：" + "、".join(m.name for m in self.pending))


@dataclass(frozen=True)
class Status:
    dialect: str
    applied: tuple[tuple[int, str], ...]  # (version, name) as recorded, in version order
    pending: tuple[Migration, ...]  # in the code, not in the database, in version order
    legacy: bool  # tables but no migration table: made before migrations (the baseline stamps it)
    empty: bool  # no tables at all
    unknown: tuple[str, ...]  # recorded names the code does not have (a newer release upgraded it)

    @property
    def current(self) -> int | None:
        return self.applied[-1][0] if self.applied else None

    @property
    def current_name(self) -> str | None:
        return self.applied[-1][1] if self.applied else None


@dataclass(frozen=True)
class Applied:
    migration: Migration
    stamped: bool  # the baseline over a database an earlier version made: nothing rebuilt


def discover(directory: Path | None = None) -> list[Migration]:
    """The migrations in `directory` (default: models/migrations/), in version order."""
    folder = MIGRATIONS_DIR if directory is None else directory
    found: list[Migration] = []
    for path in sorted(folder.glob("[0-9]*.py")):
        name = path.stem
        if directory is None:
            module = importlib.import_module(f"{MIGRATIONS_PACKAGE}.{name}")
        else:
            spec = importlib.util.spec_from_file_location(f"_mashang_migration_{name}", path)
            if spec is None or spec.loader is None:  # pragma: no cover - a .py file always has a loader
                raise MigrationError(f"迁移 {name}：无法加载 {path}")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        found.append(Migration.from_module(name, module))
    return ordered(found)


def ordered(migrations: Sequence[Migration]) -> list[Migration]:
    result = sorted(migrations, key=lambda m: m.version)
    for before, after in itertools.pairwise(result):
        if before.version == after.version:
            raise MigrationError(f"两个迁移用了同一个版本号：{before.name}、{after.name}")
    return result


def _client(connection_name: str) -> BaseDBAsyncClient:
    client = Tortoise.get_connection(connection_name)
    dialect = client.capabilities.dialect
    if dialect not in DIALECTS:
        raise MigrationError(f"不支持的数据库 {dialect}（支持 SQLite 和 PostgreSQL）")
    return client


async def _read(conn: BaseDBAsyncClient, dialect: str, migrations: Sequence[Migration]) -> Status:
    tables = {row["name"] for row in await conn.execute_query_dict(_TABLES[dialect])}
    applied: tuple[tuple[int, str], ...] = ()
    if TABLE in tables:
        rows = await conn.execute_query_dict(f'SELECT "version", "name" FROM "{TABLE}" ORDER BY "version"')
        applied = tuple((int(row["version"]), str(row["name"])) for row in rows)
    known = {m.version: m for m in migrations}
    for version, name in applied:
        if version in known and known[version].name != name:
            raise MigrationError(
                f"版本 {version:04d} 在数据库里是 {name}，在程序里是 {known[version].name}：两个迁移用了同一个版本号"
            )
    done = {version for version, _ in applied}
    return Status(
        dialect=dialect,
        applied=applied,
        pending=tuple(m for m in migrations if m.version not in done),
        legacy=TABLE not in tables and bool(tables),
        empty=not tables,
        unknown=tuple(name for version, name in applied if version not in known),
    )


async def status(migrations: Sequence[Migration] | None = None, connection_name: str = "default") -> Status:
    """What the database has and what it lacks; changes nothing."""
    migrations = discover() if migrations is None else ordered(migrations)
    client = _client(connection_name)
    return await _read(client, client.capabilities.dialect, migrations)


async def upgrade(
    migrations: Sequence[Migration] | None = None,
    connection_name: str = "default",
    on_applied: Callable[[Applied], object] | None = None,
) -> list[Applied]:
    """Apply every pending migration, oldest first, each in a transaction of its own; returns (and
    passes to `on_applied` as it goes) what this call applied, nothing if another process did."""
    migrations = discover() if migrations is None else ordered(migrations)
    client = _client(connection_name)
    dialect = client.capabilities.dialect
    if not (await _read(client, dialect, migrations)).pending:
        return []  # the usual start: no lock taken, nothing written
    done: list[Applied] = []
    while True:
        async with _locked_transaction(client, dialect) as conn:
            state = await _read(conn, dialect, migrations)  # again, under the lock: another process may have run
            if not state.pending:
                break
            step = Applied(state.pending[0], stamped=state.legacy)
            await conn.execute_script(_CREATE_TABLE[dialect])  # IF NOT EXISTS: the first time only
            try:
                await step.migration.upgrade(conn, dialect)
            except Exception as exc:
                raise MigrationError(f"迁移 {step.migration.name} 失败，已回滚：{exc}") from exc
            await conn.execute_query(_RECORD[dialect], [step.migration.version, step.migration.name])
        log.info("%s migration %s", "stamped at" if step.stamped else "applied", step.migration.name)
        done.append(step)
        if on_applied is not None:
            on_applied(step)
    return done


@contextlib.asynccontextmanager
async def _locked_transaction(client: BaseDBAsyncClient, dialect: str) -> AsyncIterator[BaseDBAsyncClient]:
    if dialect == "postgres":
        async with in_transaction(client.connection_name) as conn:
            await conn.execute_query("SELECT pg_advisory_xact_lock($1)", [LOCK_ID])
            yield conn
        return
    async with _sqlite_immediate(cast(SqliteClient, client)) as conn:
        yield conn


class _SqliteMigrationClient(SqliteTransactionWrapper):
    """The transaction a SQLite migration runs in. `execute_script` goes statement by statement:
    Python 3.11's `executescript()` commits an open transaction first, which would apply half a
    migration and give the lock away."""

    async def execute_script(self, query: str) -> None:
        for statement in split_sqlite_script(query):
            await self.execute_query(statement)


def split_sqlite_script(script: str) -> Iterator[str]:
    """The statements of a script (semicolons inside quotes and comments are kept)."""
    buffer = ""
    for piece in script.split(";"):
        buffer += piece + ";"
        if sqlite3.complete_statement(buffer):
            if buffer.strip(" \t\r\n;"):
                yield buffer.strip()
            buffer = ""
    if buffer.strip(" \t\r\n;"):
        yield buffer.strip()


@contextlib.asynccontextmanager
async def _sqlite_immediate(client: SqliteClient) -> AsyncIterator[BaseDBAsyncClient]:
    """BEGIN IMMEDIATE on the client's one connection, waiting (busy_timeout at a time) while another
    process holds the write lock; the ORM inside sees this transaction too."""
    async with client._lock:  # the connection is ours: the rest of this process waits
        if client._connection is None:
            await client.create_connection(with_db=True)
        raw: Any = client._connection
        deadline = time.monotonic() + SQLITE_LOCK_WAIT_S
        while True:
            try:
                await raw.execute("BEGIN IMMEDIATE")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)
        conn = _SqliteMigrationClient(client)
        token = get_connections().set(client.connection_name, conn)
        try:
            yield conn
        except BaseException:
            await raw.rollback()
            raise
        else:
            await raw.commit()
        finally:
            get_connections().reset(token)
