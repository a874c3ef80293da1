"""The inbox: every accepted callback is stored before WeChat gets an answer, then handled exactly once.

- A retry (same dedupe key) never creates a second case or reply: it gets the stored passive reply
  again if the first answer never reached WeChat, otherwise an empty acknowledgement.
- Handling runs in one transaction with marking the inbox row done, so a crash in between leaves the
  row pending and `recover_pending` handles it later, with the reply going out through the outbox.
- The transport waits up to a budget for the handler; past it the reply goes through the outbox.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from handlers.after_commit import collecting, run_all
from handlers.events import InboundEvent, Reply, event_from_dict
from handlers.outbox import send_reply
from handlers.routing import UNHANDLED, Router
from models.entities import Case, InboundMessage, InboxStatus
from models.timeutil import now

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 10_000  # about 40 hours of 15 s sweeps: an outage must not abandon a message


class AlreadyHandled(Exception):
    """Another worker finished this inbox row first; this attempt rolls back."""


class PassiveSlot:
    """Whether the HTTP request is still waiting to carry the reply (claimed) or has given up."""

    def __init__(self) -> None:
        self.state = "waiting"

    def claim(self) -> bool:
        if self.state == "waiting":
            self.state = "claimed"
        return self.state == "claimed"

    def abandon(self) -> bool:
        if self.state == "waiting":
            self.state = "abandoned"
        return self.state == "abandoned"


@dataclass(frozen=True)
class Acceptance:
    reply: str | None
    duplicate: bool


class Inbox:
    def __init__(self, router: Router, dependencies: dict[str, Any]) -> None:
        self.router = router
        self.dependencies = dependencies
        self._tasks: set[asyncio.Task[Any]] = set()
        self._in_flight: set[int] = set()
        self._sender_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    async def accept(self, event: InboundEvent, budget_s: float) -> Acceptance:
        """Store the event, handle it, and return the passive reply if it is ready within the budget."""
        try:
            row = await InboundMessage.create(
                dedupe_key=event.dedupe_key,
                channel=event.channel,
                sender=event.sender,
                payload=event.to_dict(),
                received_at=now(),
            )
        except IntegrityError:
            existing = await InboundMessage.get(dedupe_key=event.dedupe_key)
            if existing.status == InboxStatus.DONE and existing.reply_channel == "passive":
                return Acceptance(existing.reply_text, duplicate=True)
            if existing.status == InboxStatus.PENDING and existing.id not in self._in_flight:
                self._spawn(existing, None)
            return Acceptance(None, duplicate=True)
        slot = PassiveSlot()
        task = self._spawn(row, slot)
        done, _ = await asyncio.wait({task}, timeout=budget_s)
        if not done and slot.abandon():
            return Acceptance(None, duplicate=False)
        try:
            reply = await task  # claimed: only the commit is left
        except Exception:
            return Acceptance(None, duplicate=False)
        return Acceptance(reply if slot.state == "claimed" else None, duplicate=False)

    def _spawn(self, row: InboundMessage, slot: PassiveSlot | None) -> asyncio.Task[str | None]:
        self._in_flight.add(row.id)
        task = asyncio.create_task(self._handle(row, slot), name=f"inbox-{row.id}")
        self._tasks.add(task)

        def finished(done: asyncio.Task[Any]) -> None:
            self._tasks.discard(done)
            self._in_flight.discard(row.id)
            if not done.cancelled() and done.exception() is not None and slot is None:
                log.error("inbox row %s failed: %r", row.id, done.exception())

        task.add_done_callback(finished)
        return task

    async def _handle(self, row: InboundMessage, slot: PassiveSlot | None) -> str | None:
        event = event_from_dict(row.payload)
        lock = self._sender_locks.get(event.sender)
        if lock is None:
            lock = asyncio.Lock()
            self._sender_locks[event.sender] = lock
        async with lock:
            try:
                return await self._handle_once(row, event, slot)
            except AlreadyHandled:
                return None
            except Exception as exc:
                log.exception("handling inbox row %s (%s) failed", row.id, row.dedupe_key)
                attempts = row.attempts + 1
                status = InboxStatus.FAILED if attempts >= MAX_ATTEMPTS else InboxStatus.PENDING
                await InboundMessage.filter(id=row.id, status=InboxStatus.PENDING).update(
                    attempts=attempts, error=repr(exc)[:2000], status=status
                )
                raise

    async def _handle_once(self, row: InboundMessage, event: InboundEvent, slot: PassiveSlot | None) -> str | None:
        with collecting() as deferred:
            text, channel = await self._dispatch_in_transaction(row, event, slot)
        await run_all(deferred)
        return text if channel == "passive" else None

    async def _dispatch_in_transaction(
        self, row: InboundMessage, event: InboundEvent, slot: PassiveSlot | None
    ) -> tuple[str | None, str]:
        async with in_transaction():
            result = await self.router.dispatch(event=event, inbound_key=row.dedupe_key, **self.dependencies)
            reply = result if isinstance(result, Reply) else None
            text = reply.text if reply else None
            if result is UNHANDLED:
                log.info("no handler for %s from %s", type(event).__name__, event.sender)
            channel = "none"
            if text:
                if slot is not None and slot.claim():
                    channel = "passive"
                else:
                    channel = "outbox"
                    case = await Case.get_or_none(id=reply.case_id) if reply and reply.case_id else None
                    await send_reply(event, text, case=case, key=f"reply:{row.dedupe_key}")
            updated = await InboundMessage.filter(id=row.id, status=InboxStatus.PENDING).update(
                status=InboxStatus.DONE, reply_text=text, reply_channel=channel, processed_at=now()
            )
            if not updated:
                raise AlreadyHandled(row.dedupe_key)
        return text, channel

    async def recover_pending(self, older_than_s: float = 10.0, limit: int = 500) -> int:
        """Handle inbox rows left pending by a crash or a failed attempt; replies go via the outbox."""
        cutoff = now() - timedelta(seconds=older_than_s)
        rows = (
            await InboundMessage.filter(status=InboxStatus.PENDING, received_at__lte=cutoff).order_by("id").limit(limit)
        )
        started = [self._spawn(row, None) for row in rows if row.id not in self._in_flight]
        if started:
            await asyncio.gather(*started, return_exceptions=True)
        return len(started)

    async def drain(self, timeout_s: float = 10.0) -> None:
        """Wait for handling in progress (used at shutdown)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout_s)
