"""The inbox: every accepted callback is stored before WeChat gets an answer, then handled exactly once.

- A retry (same dedupe key) never creates a second case or reply: while its original is unanswered it
  waits for the same answer (both carry the passive reply); later it gets the stored passive reply
  again, or an empty acknowledgement when the reply went through the outbox.
- Each arrival is checked alone before the group INSERT (bot/ingest/limits.py): what the database
  cannot hold is refused (400) without failing the others.
- Handling runs in one transaction with marking the inbox row done, so a crash in between leaves the
  row pending and `recover_pending` handles it later, with the reply going out through the outbox. A row
  that fails the same way every time is marked failed instead of being tried again.
- The transport waits up to a budget for the handler; past it the reply goes through the outbox.
- A reply too long for a passive reply (2,048 bytes: WeChat does not show a longer one, WeCom cuts it)
  goes through the outbox whole, where the delivery splits it into numbered parts that keep their
  order; the request is answered at once without a reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import traceback
import weakref
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Generic, TypeVar

from tortoise.transactions import in_transaction

from bot.ingest.limits import RefusedEvent, check_storable, deterministic
from bot.outbound.parts import PASSIVE_MAX_BYTES, fits
from handlers.batch import AlreadyHandled, BatchHandler, BatchItem, PassiveSlot, StoredMessage
from handlers.cases.outbox import send_reply
from handlers.events import InboundEvent, Reply, event_from_dict
from handlers.routing import UNHANDLED, Router
from models.after_commit import collecting, run_all
from models.bulk import in_list, padded
from models.entities import Case, InboundMessage, InboxStatus
from models.plans import insert_plan, run_plan
from models.timeutil import now

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_ATTEMPTS = 10_000  # about 40 hours of 15 s sweeps: an outage must not abandon a message


@dataclass(frozen=True)
class Acceptance:
    """The answer a transport gives WeChat: the passive reply, if the request carries one."""

    reply: str | None


class _Arrival:
    """One callback from arrival to its HTTP answer: its future and, once stored, one budget timer.

    The budget counts from arrival, but the answer never goes before the row is stored. A retry that
    comes while the original is still unanswered joins it (`join`): its request waits for the same answer,
    so whichever of them WeChat still listens to carries the passive reply."""

    __slots__ = (
        "answer",
        "arrived",
        "budget_s",
        "event",
        "on_answered",
        "payload",
        "settled",
        "slot",
        "timer",
        "waiting",
    )

    def __init__(
        self, event: InboundEvent, payload: dict[str, Any], budget_s: float, answer: asyncio.Future[Acceptance]
    ) -> None:
        self.event = event
        self.payload = payload  # the stored form of the event
        self.budget_s = budget_s
        self.arrived = asyncio.get_running_loop().time()
        self.slot = PassiveSlot()
        self.slot.on_given_up = self._budget_spent
        self.answer = answer  # this request's own
        self.waiting = [answer]  # the requests that wait for this arrival's answer: its own and retries'
        self.on_answered: Callable[[], None] | None = None
        self.settled = False
        self.timer: asyncio.TimerHandle | None = None
        if budget_s <= 0:
            self.slot.expire()  # no passive reply at all: the answer goes out as a message

    def stored(self) -> None:
        """Stored as a new row: the request may wait for the passive reply what is left of `budget_s`."""
        loop = asyncio.get_running_loop()
        left = self.budget_s - (loop.time() - self.arrived)
        if self.slot.state == "abandoned" or left <= 0:
            self._budget_spent()
        else:
            self.timer = loop.call_later(left, self._budget_spent)

    def join(self, retry: _Arrival) -> bool:
        """`retry`'s request waits for this arrival's answer; False when this one is answered or no request
        waits for it any more (then the retry is answered from the stored row)."""
        if self.settled or not self.waiting:
            return False
        if not retry.answer.done():  # a retry whose own request is gone already waits for nothing
            self.waiting.append(retry.answer)
        return True

    def leave(self, answer: asyncio.Future[Acceptance]) -> None:
        """A request that waited for this arrival is gone. With none left, a reply not yet claimed goes
        through the outbox."""
        if answer in self.waiting:
            self.waiting.remove(answer)
        if not self.waiting:
            self.slot.abandon()

    def settle(self, result: Acceptance | None = None, *, error: BaseException | None = None) -> None:
        """Answer every request waiting for this arrival (once)."""
        self.settled = True
        for future in self.waiting:  # its own request's future left the list only when cancelled
            _settle(future, result, error)
        if self.on_answered is not None:
            self.on_answered()
            self.on_answered = None

    def _budget_spent(self) -> None:
        if self.slot.expire():  # not claimed: answer now, the reply goes out through the outbox
            self.settle(Acceptance(None))

    def handled(self, text: str | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        claimed = self.slot.state == "claimed"
        if not claimed:
            self.slot.expire()  # answered without a reply: nothing may claim this request any more
        self.settle(Acceptance(text if claimed else None))


def _settle(future: asyncio.Future[Any], result: Any = None, error: BaseException | None = None) -> None:
    """Resolve a future nobody may be waiting for any more (the HTTP request can be gone)."""
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
        future.exception()  # retrieved: an abandoned request must not log "never retrieved"
    else:
        future.set_result(result)


class _BatchQueue(Generic[T]):
    """Items waiting for a loop that takes them `max_batch` at a time (what arrives meanwhile waits
    for the next round: that is the batching)."""

    def __init__(
        self,
        name: str,
        max_batch: int,
        process: Callable[[list[T]], Awaitable[None]],
        gather: Callable[[int], float] | None = None,
        enough: int = 0,
    ) -> None:
        """`gather(waiting)`: how long a batch of `waiting` items may wait for more before it goes; it
        goes at once when `enough` are waiting."""
        self.name = name
        self.max_batch = max_batch
        self.process = process
        self.gather = gather
        self.enough = enough
        self.items: list[T] = []
        self.busy = False
        self._wake = asyncio.Event()
        self._enough = asyncio.Event()

    def put(self, item: T) -> None:
        self.items.append(item)
        self._wake.set()
        if len(self.items) >= self.enough:
            self._enough.set()

    def pending(self) -> bool:
        return bool(self.items) or self.busy

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self.items:
                await self._gather()
                batch, self.items = self.items[: self.max_batch], self.items[self.max_batch :]
                self.busy = True
                try:
                    await self.process(batch)
                except Exception:  # the loop must outlive any batch: later callbacks wait on it
                    log.exception("inbox %s: a batch of %d failed", self.name, len(batch))
                finally:
                    self.busy = False

    async def _gather(self) -> None:
        delay = self.gather(len(self.items)) if self.gather is not None else 0.0
        if delay <= 0:
            return
        self._enough.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await self._enough.wait()


class Inbox:
    """Callbacks arrive one by one; they are stored and handled in batches.

    One loop writes every callback that arrived meanwhile in one INSERT (group commit), so the
    answer to WeChat waits for one short transaction however many arrive at once, then gives the
    stored batch to the batch handler (new cases, several at once) and the rest to the router one by
    one, in arrival order per sender. What arrives while a batch is stored and handled forms the next
    batch: the busier the service, the larger the batches and the cheaper each callback.
    """

    def __init__(
        self,
        router: Router,
        dependencies: dict[str, Any],
        batch_handler: BatchHandler | None = None,
        max_batch: int = 256,
        burst_rate_per_s: float = 100.0,
        handle_wait_s: float = 0.5,
        batch_timeout_s: float = 10.0,
        gather_s: float = 0.003,
        gather_count: int = 16,
    ) -> None:
        self.router = router
        self.dependencies = dependencies
        self.batch_handler = batch_handler
        self.max_batch = max_batch
        self._tasks: set[asyncio.Task[Any]] = set()
        self._in_flight: set[int] = set()
        self._slow_senders: Counter[str] = Counter()
        self._sender_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self.gather_s = gather_s
        self._storing = _BatchQueue[_Arrival](
            "store", max_batch, self._store_or_fail, self._gather_time, min(gather_count, max_batch)
        )
        self._loops: list[asyncio.Task[None]] = []
        self.burst_rate_per_s = burst_rate_per_s
        self.handle_wait_s = handle_wait_s
        self.batch_timeout_s = batch_timeout_s  # past it the batch rolls back and the router takes its rows
        self._handling = asyncio.Semaphore(1)
        self._last_arrival = 0.0
        self._window_start = 0.0  # arrivals are counted in windows of a quarter second
        self._window_count = 0
        self._last_rate = 0.0  # arrivals per second in the last whole window
        # Stored arrivals not yet answered, by dedupe key: a retry that comes meanwhile waits for the same answer.
        self._unanswered: dict[str, _Arrival] = {}

    async def accept(self, event: InboundEvent, budget_s: float) -> Acceptance:
        """Store the event, handle it, and return the passive reply if it is ready within the budget.

        RefusedEvent (nothing stored) when the event holds what the database cannot take: checked here,
        alone, so that it cannot fail the group INSERT of the callbacks stored with it."""
        payload = event.to_dict()
        check_storable(event, payload)
        self._start_loops()
        arrival = _Arrival(event, payload, budget_s, asyncio.get_running_loop().create_future())
        self._storing.put(arrival)
        self._count_arrival()
        try:
            return await arrival.answer
        except asyncio.CancelledError:
            # The request is gone (WeChat gave up on it): the arrival it waited for, its own or the original
            # it joined as a retry, no longer counts on it.
            self._carrier_of(arrival).leave(arrival.answer)
            raise

    def _carrier_of(self, arrival: _Arrival) -> _Arrival:
        carrier = self._unanswered.get(arrival.event.dedupe_key)
        return carrier if carrier is not None and arrival.answer in carrier.waiting else arrival

    def busy(self) -> bool:
        """A burst: callbacks arrive at `burst_rate_per_s` or more (background jobs make way for them).
        A trickle, however long each callback takes, is no burst; a burst is over half a second after
        the last callback."""
        moment = asyncio.get_running_loop().time()
        if moment - self._last_arrival >= 0.5:
            return False
        elapsed = moment - self._window_start
        current = self._window_count / elapsed if elapsed >= 0.05 else 0.0
        return max(current, self._last_rate) >= self.burst_rate_per_s

    def _gather_time(self, waiting: int) -> float:
        """How long a small batch may wait for company: `gather_s` under a burst, none otherwise.

        A batch costs two transactions and two trips to the database thread whatever its size; at 500
        callbacks/s the batches held one or two callbacks and those fixed costs took most of a core (with a
        few milliseconds to gather: about a third less). It goes as soon as `gather_count` are waiting."""
        if waiting >= self._storing.enough or not self.busy():
            return 0.0
        return self.gather_s

    def _count_arrival(self) -> None:
        moment = asyncio.get_running_loop().time()
        elapsed = moment - self._window_start
        if elapsed >= 0.25:
            self._last_rate = self._window_count / elapsed if elapsed < 0.5 else 0.0
            self._window_start, self._window_count = moment, 0
        self._window_count += 1
        self._last_arrival = moment

    def _start_loops(self) -> None:
        if not self._loops:
            self._loops = [
                asyncio.create_task(self._storing.run(), name="inbox-store"),
            ]

    async def _store_or_fail(self, batch: list[_Arrival]) -> None:
        try:
            stored = await self._store(batch)
        except Exception as exc:
            if not deterministic(exc) or len(batch) == 1:
                self._fail_to_store(batch, exc)
                return
            # One row the database refuses fails the one INSERT of all: store them one by one, so that
            # it alone fails. (An outage fails them all at once, as above, rather than row by row.)
            log.warning("storing %d inbox rows together failed (%r); storing them one by one", len(batch), exc)
            stored = []
            for arrival in batch:
                if arrival.settled or self._carrier_of(arrival) is not arrival:
                    continue  # joined an original stored earlier: it waits for that answer
                try:
                    stored.extend(await self._store([arrival]))
                except Exception as error:
                    self._fail_to_store([arrival], error)
        if not stored:
            return
        task = asyncio.create_task(self._handle_stored(stored), name="inbox-handle")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        # Wait for the handling before storing the next batch, so that what arrives meanwhile makes that
        # batch larger; but not for long: a stuck handler must not stop storing and answering new callbacks.
        await asyncio.wait({task}, timeout=self.handle_wait_s)

    @staticmethod
    def _fail_to_store(batch: list[_Arrival], error: Exception) -> None:
        """Answer what could not be stored: 400 for data the database refuses (the same callback would
        fail again), 500 for an outage (WeChat retries it)."""
        if deterministic(error):
            log.warning("inbox row for %s not stored, the database refuses it: %r", batch[0].event.sender, error)
            refused: Exception = RefusedEvent(f"the database refuses it: {type(error).__name__}")
            for arrival in batch:
                arrival.settle(error=refused)
            return
        log.error("storing %d inbox rows failed; WeChat will retry them", len(batch), exc_info=error)
        for arrival in batch:
            arrival.settle(error=error)

    async def _handle_stored(self, stored: list[tuple[BatchItem, _Arrival | None]]) -> None:
        async with self._handling:  # batches are handled one at a time, in the order they were stored
            try:
                await self._handle_batch(stored)
            except Exception:
                # Stored but not handled: the recovery sweep picks the rows up; replies go through the outbox.
                log.exception("handling a batch of %d stored inbox rows failed; recovery will retry", len(stored))
                for item, waiting in stored:
                    self._in_flight.discard(item.row.id)
                    if waiting is not None:
                        waiting.handled(None)

    async def _store(self, batch: list[_Arrival]) -> list[tuple[BatchItem, _Arrival | None]]:
        """One INSERT for the batch; a dedupe key seen before (a WeChat retry) is answered as one."""
        firsts: dict[str, _Arrival] = {}
        repeats: list[_Arrival] = []
        for arrival in batch:
            key = arrival.event.dedupe_key
            carrier = self._unanswered.get(key)
            if carrier is not None and carrier.join(arrival):
                continue  # a retry while its original is being handled: it waits for the same answer
            if key in firsts:
                repeats.append(arrival)
            else:
                firsts[key] = arrival
        moment = now()
        rows: dict[str, dict[str, Any]] = {
            key: {
                "dedupe_key": key,
                "channel": arrival.event.channel,
                "sender": arrival.event.sender,
                "payload": arrival.payload,
                "received_at": moment,
            }
            for key, arrival in firsts.items()
        }
        # One statement, atomic and committed on its own: no BEGIN/COMMIT round trips around it. On SQLite
        # padded to a power of two rows (the last one repeated, which the conflict clause skips) so that it
        # stays one statement of one of a few shapes (models/bulk.py splits other row counts there).
        connection = InboundMessage._meta.db
        dialect = connection.capabilities.dialect
        values = list(rows.values())
        inserted = await run_plan(
            connection,
            insert_plan(
                dialect,
                InboundMessage,
                padded(values) if dialect == "sqlite" else values,
                returning=("id", "dedupe_key"),
                on_conflict='ON CONFLICT ("dedupe_key") DO NOTHING',
            ),
        )
        ids = {found["dedupe_key"]: int(found["id"]) for found in inserted}
        new: list[tuple[BatchItem, _Arrival | None]] = []
        earlier_keys = [key for key in firsts if key not in ids]
        earlier = await _rows_by_key(earlier_keys) if earlier_keys else {}
        for key, arrival in firsts.items():
            if key in ids:
                row = rows[key]
                stored = StoredMessage(ids[key], key, row["sender"], row["payload"])
                self._in_flight.add(stored.id)
                new.append((BatchItem(stored, arrival.event, arrival.slot), arrival))
                self._unanswered[key] = arrival
                arrival.on_answered = functools.partial(self._answered, key, arrival)
                arrival.stored()
            elif key in earlier:
                arrival.settle(self._answer_retry(earlier[key]))
            else:  # pragma: no cover - a conflict means the row exists
                arrival.settle(Acceptance(None))
        for arrival in repeats:  # the same callback twice in one batch: as a retry of the first
            first = firsts[arrival.event.dedupe_key]
            if not first.join(arrival):  # answered from the stored row, or its request is gone
                given = first.answer
                ready = given.done() and not given.cancelled() and given.exception() is None
                arrival.settle(given.result() if ready else Acceptance(None))
        return new

    def _answered(self, key: str, arrival: _Arrival) -> None:
        if self._unanswered.get(key) is arrival:
            del self._unanswered[key]

    def _answer_retry(self, existing: _EarlierRow) -> Acceptance:
        if existing.status == InboxStatus.DONE and existing.reply_channel == "passive":
            return Acceptance(existing.reply_text)
        if existing.status == InboxStatus.PENDING and existing.row.id not in self._in_flight:
            self._spawn(existing.row, None)
        return Acceptance(None)

    async def _handle_batch(self, batch: list[tuple[BatchItem, _Arrival | None]]) -> None:
        handled: dict[int, str | None] = {}
        if self.batch_handler is not None:
            # Only a sender's first row in the batch, and only with nothing of theirs still being
            # handled one by one: their later rows wait for it, so a sender's messages keep their order.
            seen: set[str] = set()
            candidates = []
            for item, _ in batch:
                sender = item.event.sender
                if sender not in seen and not self._slow_senders[sender]:
                    candidates.append(item)
                seen.add(sender)
            locks = [self._sender_lock(item.event.sender) for item in candidates]
            for lock in locks:
                await lock.acquire()  # free (checked above): returns at once
            try:
                if candidates:
                    async with asyncio.timeout(self.batch_timeout_s):
                        handled = await self.batch_handler(candidates)
            except Exception as exc:
                if deterministic(exc):  # one row's data, most likely: the router finds which, one by one
                    log.warning(
                        "batch of %d inbox rows failed (%s); handling them one by one", len(candidates), _reason(exc)
                    )
                else:
                    log.exception("batch of %d inbox rows failed; handling them one by one", len(candidates))
                handled = {}
            finally:
                for lock in locks:
                    lock.release()
        for item, arrival in batch:
            self._in_flight.discard(item.row.id)
            if item.row.id in handled:
                if arrival is not None:
                    arrival.handled(handled[item.row.id])
            else:
                task = self._spawn(item.row, item.slot)
                if arrival is not None:
                    task.add_done_callback(functools.partial(_copy_outcome, arrival))

    def _sender_lock(self, sender: str) -> asyncio.Lock:
        lock = self._sender_locks.get(sender)
        if lock is None:
            lock = asyncio.Lock()
            self._sender_locks[sender] = lock
        return lock

    def _spawn(self, row: StoredMessage, slot: PassiveSlot | None) -> asyncio.Task[str | None]:
        self._in_flight.add(row.id)
        sender = row.sender
        self._slow_senders[sender] += 1
        task = asyncio.create_task(self._handle(row, slot), name=f"inbox-{row.id}")
        self._tasks.add(task)

        def finished(done: asyncio.Task[Any]) -> None:
            self._tasks.discard(done)
            self._in_flight.discard(row.id)
            self._slow_senders[sender] -= 1
            if self._slow_senders[sender] <= 0:
                del self._slow_senders[sender]
            if not done.cancelled() and done.exception() is not None and slot is None:
                log.error("inbox row %s failed: %r", row.id, done.exception())

        task.add_done_callback(finished)
        return task

    async def _handle(self, row: StoredMessage, slot: PassiveSlot | None) -> str | None:
        async with self._sender_lock(row.sender):  # the event's sender, stored beside it
            try:
                return await self._handle_once(row, event_from_dict(row.payload), slot)
            except AlreadyHandled:
                return None
            except Exception as exc:
                await self._record_failure(row, exc)
                return None

    async def _record_failure(self, row: StoredMessage, error: Exception) -> None:
        """An error the same row raises again (bad data, a bug) marks it failed at once, logged in one line
        with the reason kept on the row; an outage leaves it pending for the next sweep (a traceback the
        first time only), up to MAX_ATTEMPTS."""
        attempts = row.attempts + 1
        reason = _reason(error)
        if deterministic(error):
            status = InboxStatus.FAILED
            log.error("inbox row %s (%s) cannot be handled, marked failed: %s", row.id, row.dedupe_key, reason)
        else:
            status = InboxStatus.FAILED if attempts >= MAX_ATTEMPTS else InboxStatus.PENDING
            if attempts == 1:
                log.error("handling inbox row %s (%s) failed; will try again", row.id, row.dedupe_key, exc_info=error)
            else:
                log.warning("handling inbox row %s failed again (try %d): %s", row.id, attempts, reason)
        await InboundMessage.filter(id=row.id, status=InboxStatus.PENDING).update(
            attempts=attempts, error=reason[:2000], status=status
        )

    async def _handle_once(self, row: StoredMessage, event: InboundEvent, slot: PassiveSlot | None) -> str | None:
        with collecting() as deferred:
            text, channel = await self._dispatch_in_transaction(row, event, slot)
        await run_all(deferred)
        return text if channel == "passive" else None

    async def _dispatch_in_transaction(
        self, row: StoredMessage, event: InboundEvent, slot: PassiveSlot | None
    ) -> tuple[str | None, str]:
        async with in_transaction():
            result = await self.router.dispatch(event=event, inbound_key=row.dedupe_key, **self.dependencies)
            reply = result if isinstance(result, Reply) else None
            text = reply.text if reply else None
            if result is UNHANDLED:
                log.info("no handler for %s from %s", type(event).__name__, event.sender)
            channel = "none"
            if text:
                if slot is not None and fits(text, PASSIVE_MAX_BYTES) and slot.claim():
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
        """Handle inbox rows left pending by a crash or a failed attempt; replies go via the outbox.

        Every such row gets one try per sweep, `limit` at a time in the order they came: a row that fails
        every time cannot keep the ones behind it waiting (the first `limit` rows used to be all there was).
        A burst of callbacks stops the sweep; the next one carries on."""
        cutoff = now() - timedelta(seconds=older_than_s)
        tried, after = 0, 0
        while True:
            rows = (
                await InboundMessage.filter(status=InboxStatus.PENDING, received_at__lte=cutoff, id__gt=after)
                .order_by("id")
                .limit(limit)
            )
            started = [self._spawn(StoredMessage.of(row), None) for row in rows if row.id not in self._in_flight]
            if started:
                await asyncio.gather(*started, return_exceptions=True)
            tried += len(started)
            if len(rows) < limit or self.busy():
                return tried
            after = rows[-1].id

    async def drain(self, timeout_s: float = 10.0) -> None:
        """Wait for what has arrived to be stored and handled (used at shutdown and in tests)."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while self._storing.pending() or self._tasks:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return
            if self._tasks:
                await asyncio.wait(set(self._tasks), timeout=min(remaining, 0.05))
            else:
                await asyncio.sleep(0.005)

    async def close(self, timeout_s: float = 10.0) -> None:
        """Drain, then stop the store and handle loops."""
        await self.drain(timeout_s)
        for task in self._loops:
            task.cancel()
        for task in self._loops:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._loops = []


def _reason(error: BaseException) -> str:
    """`error` (shortened: it may quote a whole message) and where it was raised, in one line."""
    frames = traceback.extract_tb(error.__traceback__)
    where = f" at {frames[-1].filename}:{frames[-1].lineno} in {frames[-1].name}" if frames else ""
    text = repr(error)
    return f"{text[:300]}…{text[-100:]}{where}" if len(text) > 400 else f"{text}{where}"


def _copy_outcome(arrival: _Arrival, source: asyncio.Task[str | None]) -> None:
    if source.cancelled() or source.exception() is not None:
        arrival.handled(None)
    else:
        arrival.handled(source.result())


@dataclass(slots=True)
class _EarlierRow:
    """What a retry needs to know of the row its first delivery stored."""

    row: StoredMessage
    status: str
    reply_text: str | None
    reply_channel: str | None


async def _rows_by_key(keys: list[str]) -> dict[str, _EarlierRow]:
    """The stored rows for these dedupe keys, in one plain SELECT (a retry in every batch is usual)."""
    connection = InboundMessage._meta.db
    table = InboundMessage._meta.db_table
    keys = padded(keys)
    sql = (
        'SELECT "id", "dedupe_key", "sender", "payload", "attempts", "status", "reply_text", "reply_channel" '
        f'FROM "{table}" WHERE "dedupe_key" IN {in_list(connection, keys)}'
    )
    found: dict[str, _EarlierRow] = {}
    for record in await connection.execute_query_dict(sql, keys):
        payload = record["payload"]
        if isinstance(payload, str | bytes):
            payload = json.loads(payload)
        row = StoredMessage(int(record["id"]), record["dedupe_key"], record["sender"], payload, record["attempts"])
        found[row.dedupe_key] = _EarlierRow(row, str(record["status"]), record["reply_text"], record["reply_channel"])
    return found
