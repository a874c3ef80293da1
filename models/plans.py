"""A transaction of dependent statements written once, run in one database round trip on SQLite.

A plan is a generator: it yields `(sql, params)` and is sent back the rows each statement returned
(as dicts), and returns its result. It holds no I/O, so it runs either way:

- SQLite: the whole plan, BEGIN to COMMIT, runs as one call in aiosqlite's database thread, under the
  lock Tortoise takes for its own statements and transactions. Through Tortoise each statement is a
  round trip between the event loop and that thread, and BEGIN/COMMIT three more: for a batch of new
  cases that was most of the CPU a small batch costs.
- PostgreSQL (or inside a transaction already): statement by statement in `in_transaction()`.

A plan runs in the database thread on SQLite: it must only compute (no event-loop objects, no awaits).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sqlite3
import threading
from collections.abc import Callable, Generator, Sequence
from typing import Any, TypeVar

from tortoise.backends.base.client import BaseDBAsyncClient, TransactionalDBClient
from tortoise.backends.sqlite.client import SqliteClient
from tortoise.transactions import in_transaction

from models.bulk import Statement, insert_statements
from models.entities import Case

log = logging.getLogger(__name__)
T = TypeVar("T")
Rows = list[dict[str, Any]]
Plan = Generator[Statement, Rows, T]


def insert_plan(
    dialect: str, model: Any, rows: Sequence[dict[str, Any]], *, returning: Sequence[str] = (), on_conflict: str = ""
) -> Generator[Statement, Rows, Rows]:
    """`insert_statements` as a step of a plan (`yield from`): the rows of `returning`, if any."""
    results: Rows = []
    for statement in insert_statements(dialect, model, rows, returning=returning, on_conflict=on_conflict):
        results.extend((yield statement))
    return results


_PLACEHOLDER = re.compile(r"\$(\d+)")


def merged_statements(dialect: str, leading: Sequence[Statement], final: Statement) -> list[Statement]:
    """`leading` (statements whose rows nobody reads), then `final`: on PostgreSQL one statement, the
    leading ones as data-modifying CTEs of the final one (`WITH w0 AS (INSERT …) UPDATE … RETURNING …`),
    which PostgreSQL runs whole whether or not they are referenced; one round trip instead of several.
    On SQLite (no round trips to save, and no INSERT inside WITH) the statements as they are.

    The last statement's rows are the final one's either way. PostgreSQL runs all of them on one
    snapshot: the final statement does not see what the leading ones wrote, so it must not need to.
    Our statements hold no string literals, so every `$n` in them is a placeholder to renumber."""
    if dialect != "postgres" or not leading:
        return [*leading, final]
    parts: list[str] = []
    params: list[Any] = []
    for index, (sql, values) in enumerate(leading):
        parts.append(f"w{index} AS ({_renumbered(sql, len(params))})")
        params.extend(values)
    sql, values = final
    return [(f"WITH {', '.join(parts)} {_renumbered(sql, len(params))}", [*params, *values])]


def _renumbered(sql: str, offset: int) -> str:
    return _PLACEHOLDER.sub(lambda found: f"${int(found.group(1)) + offset}", sql) if offset else sql


async def run_in_transaction(make_plan: Callable[[str, bool], Plan[T]]) -> T:
    """Run the plan `make_plan(dialect, in_loop)` in one transaction: committed if it returns, rolled
    back if it (or a statement) raises, or if the caller is cancelled before the COMMIT.

    `make_plan` is called in the event loop's thread once the database is this transaction's (SQLite:
    Tortoise's connection lock is held; PostgreSQL: BEGIN is done); `in_loop` tells whether the plan
    itself runs there too (statement by statement) or in the database's thread (SQLite)."""
    client: BaseDBAsyncClient = Case._meta.db
    if isinstance(client, SqliteClient) and not isinstance(client, TransactionalDBClient):
        async with client.acquire_connection() as connection:
            execute = getattr(connection, "_execute", None)  # aiosqlite: run a function in its thread
            raw = getattr(connection, "_conn", None)
            if execute is not None and isinstance(raw, sqlite3.Connection):
                return await _run_in_database_thread(execute, raw, make_plan("sqlite", False))
    async with in_transaction() as connection:
        return await run_plan(connection, make_plan(connection.capabilities.dialect, True))


class _Aborted(Exception):
    """The caller was cancelled before the COMMIT: the plan rolled back."""


async def _run_in_database_thread(execute: Callable[..., Any], connection: sqlite3.Connection, plan: Plan[T]) -> T:
    abort = threading.Event()
    future = asyncio.ensure_future(execute(_run_on_sqlite, connection, plan, abort))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        # Cancelling the wait does not stop the database thread: tell it to roll back instead of
        # committing, and keep the connection (and Tortoise's lock) until it has finished either way.
        abort.set()
        while not future.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait({future})
        if future.cancelled() or future.exception() is not None:
            raise  # rolled back (or failed): nothing of the plan is left; the cancellation goes on
        log.warning("a plan was cancelled after its COMMIT; its result stands")
        return future.result()


def _run_on_sqlite(connection: sqlite3.Connection, plan: Plan[T], abort: threading.Event) -> T:
    if connection.in_transaction:  # never join (and commit) somebody else's transaction
        plan.close()
        raise sqlite3.OperationalError("a transaction is already open on this connection")
    # IMMEDIATE: the write lock from the start, so a plan that reads before it writes cannot fail
    # with SQLITE_BUSY_SNAPSHOT when another process commits in between (busy_timeout waits instead).
    connection.execute("BEGIN IMMEDIATE")
    try:
        try:
            statement = next(plan)
            while True:
                sql, params = statement
                rows = [dict(row) for row in connection.execute(sql, params).fetchall()]
                statement = plan.send(rows)
        except StopIteration as finished:
            result: T = finished.value
        if abort.is_set():
            raise _Aborted("cancelled before the commit")
        connection.execute("COMMIT")
        return result
    except BaseException:
        plan.close()
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise


async def run_plan(connection: BaseDBAsyncClient, plan: Plan[T]) -> T:
    """Run `plan` statement by statement on `connection` (in whatever transaction it is in, if any)."""
    try:
        statement = next(plan)
        while True:
            sql, params = statement
            statement = plan.send(await connection.execute_query_dict(sql, params))
    except StopIteration as finished:
        return finished.value
    except BaseException:
        plan.close()
        raise
