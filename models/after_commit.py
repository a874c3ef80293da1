"""Work that must happen only once the database transaction has committed (Redis index updates).

Inside `collecting()`, `defer(fn)` queues `fn`; the owner runs the queue after its commit. Outside
one, `defer` runs `fn` at once. Redis is an index rebuilt from the database, so a crash between the
commit and these calls loses nothing: the rebuild at start puts it right.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar

log = logging.getLogger(__name__)

Deferred = Callable[[], Awaitable[object]]
_pending: ContextVar[list[Deferred] | None] = ContextVar("after_commit_pending", default=None)


@contextlib.contextmanager
def collecting() -> Iterator[list[Deferred]]:
    queue: list[Deferred] = []
    token = _pending.set(queue)
    try:
        yield queue
    finally:
        _pending.reset(token)


async def defer(fn: Deferred) -> None:
    queue = _pending.get()
    if queue is None:
        await fn()
    else:
        queue.append(fn)


async def run_all(queue: list[Deferred]) -> None:
    for fn in queue:
        try:
            await fn()
        except Exception:
            log.exception("after-commit step failed; the start-up rebuild will repair the index")
