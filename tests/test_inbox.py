"""The inbox under trouble: a stuck batch must not stop intake, and a spent budget is never claimed again.

The inbox times bursts, gathering and a stuck batch on the event loop's clock: the tests move it on by
hand (`loop_clock`) instead of waiting. The passive reply's budget stays in real time (WeChat waits
5 seconds of it); so do the gaps between callbacks of a burst, each long enough for one to be stored.
"""

from __future__ import annotations

import asyncio

import pytest

from bot.ingest.inbox import BatchItem, Inbox, PassiveSlot
from handlers.events import CitizenEvent, Reply
from handlers.routing import Router
from models.entities import InboundMessage, InboxStatus
from models.timeutil import now
from tests.loop_clock import LoopClock


def text_event(sender: str, number: int) -> CitizenEvent:
    return CitizenEvent(
        channel="oa", sender=sender, kind="message", created_at=now(), msg_type="text", text="你好", msg_id=str(number)
    )


def router_replying_after(release: asyncio.Event, text: str) -> Router:
    """A router whose one handler answers `text` once `release` is set (a slow handler)."""
    router = Router("test")

    @router.handler()
    async def reply_when_released(event: CitizenEvent) -> Reply:
        await release.wait()
        return Reply(text)

    return router


def echo_router() -> Router:
    router = Router("test")

    @router.handler()
    async def echo(event: CitizenEvent) -> Reply:
        return Reply(f"收到 {event.sender}")

    return router


async def stored(sender: str) -> bool:
    """Wait (in real time: the insert is I/O) until `sender`'s callback is stored; False after 3 s."""
    for _ in range(300):
        if await InboundMessage.filter(sender=sender).exists():
            return True
        await asyncio.sleep(0.01)
    return False


@pytest.mark.usefixtures("db")
async def test_a_stuck_batch_neither_stops_intake_nor_loses_its_messages(loop_clock: LoopClock) -> None:
    stuck = asyncio.Event()
    hanging = asyncio.Event()

    async def hanging_batch(items: list[BatchItem]) -> dict[int, str | None]:
        if any(item.event.sender == "o-first" for item in items):
            hanging.set()
            await stuck.wait()  # e.g. a database lock or Redis that does not answer
        return {}

    inbox = Inbox(echo_router(), {}, batch_handler=hanging_batch, handle_wait_s=0.1, batch_timeout_s=1.0)
    try:
        first = asyncio.create_task(inbox.accept(text_event("o-first", 1), 3.0))
        await asyncio.wait_for(hanging.wait(), timeout=3.0)  # stored, and its batch hangs
        second = asyncio.create_task(inbox.accept(text_event("o-second", 2), 3.0))
        await loop_clock.advance(0.1)  # storing waits that long for a batch to be handled (handle_wait_s)
        # Stored while the first batch still hangs (its timeout is 1 s): storing does not wait for it.
        assert await stored("o-second")
        assert not first.done()
        await loop_clock.advance(0.6)  # at 0.7 and more: the batch still hangs, the second waits behind it
        assert not first.done()
        assert not second.done()
        await loop_clock.advance(0.4)  # past the batch's timeout
        assert (await asyncio.wait_for(second, timeout=3.0)).reply == "收到 o-second"
        # The hanging batch gives up after its timeout; the router answers the first message after all.
        answer = await asyncio.wait_for(first, timeout=5.0)
        assert answer.reply == "收到 o-first"
        await inbox.drain()
        statuses = await InboundMessage.all().values_list("status", flat=True)
        assert sorted(statuses) == [InboxStatus.DONE, InboxStatus.DONE]
    finally:
        stuck.set()
        await inbox.close()


@pytest.mark.usefixtures("db")
async def test_the_budget_counts_from_arrival_and_the_reply_then_goes_as_a_message() -> None:
    # Real time: the budget is the passive reply's (WeChat waits 5 s of real time); 0.3 s stands for it.
    slow = asyncio.Event()
    inbox = Inbox(router_replying_after(slow, "稍后的答复"), {}, handle_wait_s=0.05)
    try:
        began = asyncio.get_running_loop().time()
        answer = await asyncio.wait_for(inbox.accept(text_event("o-slow", 3), 0.3), timeout=2.0)
        assert answer.reply is None  # WeChat got "success" within the budget
        assert asyncio.get_running_loop().time() - began < 1.0
        slow.set()
        await inbox.drain()
        row = await InboundMessage.get(sender="o-slow")
        assert row.status == InboxStatus.DONE
        assert row.reply_channel == "outbox"  # the reply is sent, not lost as a passive reply nobody carried
    finally:
        slow.set()
        await inbox.close()


def test_a_claim_released_after_the_budget_is_spent_cannot_be_made_again() -> None:
    slot = PassiveSlot()
    answered_without_reply = []
    slot.on_given_up = lambda: answered_without_reply.append(True)
    assert slot.claim()
    assert not slot.expire()  # claimed: only the commit is left, the request keeps waiting
    assert answered_without_reply == []
    slot.release()  # that transaction rolled back
    assert answered_without_reply == [True]  # WeChat gets its answer now, not after the router
    assert not slot.claim()  # too late for a passive reply: it goes through the outbox
    fresh = PassiveSlot()
    assert fresh.claim()
    fresh.release()
    assert fresh.claim()  # within the budget a rolled-back claim may be made again


@pytest.mark.usefixtures("db")
async def test_the_inbox_calls_a_burst_only_when_callbacks_come_fast(loop_clock: LoopClock) -> None:
    """Jobs make way for a burst of callbacks, not for one slow callback in a quiet hour."""
    release = asyncio.Event()
    inbox = Inbox(router_replying_after(release, "好的"), {}, burst_rate_per_s=100.0)
    try:
        slow = asyncio.create_task(inbox.accept(text_event("o-slow", 1), 5.0))
        await loop_clock.advance(0.4)
        assert not inbox.busy()  # one callback waiting for a long time is a trickle
        burst = [asyncio.create_task(inbox.accept(text_event(f"o-burst-{n}", 100 + n), 5.0)) for n in range(60)]
        await loop_clock.advance(0.06)
        assert inbox.busy()
        release.set()
        answers = await asyncio.gather(slow, *burst)
        assert all(answer.reply == "好的" for answer in answers)
        await loop_clock.advance(0.6)
        assert not inbox.busy()  # the burst is over
    finally:
        release.set()
        await inbox.close()


def holding_for_company(inbox: Inbox) -> bool:
    """The store loop holds a small batch back under a burst (callbacks wait, none is being stored)."""
    return bool(inbox._storing.items) and not inbox._storing.busy


@pytest.mark.usefixtures("db")
async def test_under_a_burst_callbacks_a_moment_apart_are_stored_together_and_a_lone_one_at_once(
    loop_clock: LoopClock,
) -> None:
    """Each stored batch costs two transactions whatever its size: under a burst a small batch waits a
    moment for company (up to `gather_s`, or until `gather_count` are waiting); in a quiet hour a
    callback is never held back."""
    batches: list[int] = []

    async def count_batch(items: list[BatchItem]) -> dict[int, str | None]:
        batches.append(len(items))
        return {}

    inbox = Inbox(echo_router(), {}, batch_handler=count_batch, burst_rate_per_s=20.0, gather_s=2.0, gather_count=5)
    try:
        # Quiet: one callback goes at once, though the inbox would hold a batch for 2 s in a burst.
        lone = await asyncio.wait_for(inbox.accept(text_event("o-lone", 1), 3.0), timeout=1.5)
        assert lone.reply == "收到 o-lone"
        assert batches == [1]
        await loop_clock.advance(0.6)  # that one arrival is long over
        # A burst: ten callbacks 20 ms apart, each of which alone would be stored long before the next.
        sends = []
        for number in range(10):
            sends.append(asyncio.create_task(inbox.accept(text_event(f"o-burst-{number}", 10 + number), 5.0)))
            await asyncio.sleep(0.02)
        for _ in range(300):
            if holding_for_company(inbox) or all(send.done() for send in sends):
                break
            await asyncio.sleep(0.01)
        if holding_for_company(inbox):  # (unless a slow insert let the last ones pile up past gather_count)
            # The last few wait for company: up to gather_s (2 s) from when the store loop began to hold them.
            await loop_clock.advance(1.5)
            assert holding_for_company(inbox), batches
            assert not all(send.done() for send in sends)
            await loop_clock.advance(0.6)
        answers = await asyncio.wait_for(asyncio.gather(*sends), timeout=4.5)
        assert [answer.reply for answer in answers] == [f"收到 o-burst-{number}" for number in range(10)]
        assert sum(batches[1:]) == 10
        # The first few go alone (a burst is known by its rate), then they gather; without: ten of one.
        assert len(batches) - 1 <= 6, batches
        assert max(batches[1:]) >= 4, batches
    finally:
        await inbox.close()


@pytest.mark.usefixtures("db")
async def test_a_row_the_database_refuses_fails_alone_when_its_batch_is_stored_row_by_row(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Should a value the edge check misses fail the group INSERT, the batch is stored again one row at a
    time: that row is refused (400), the others are stored and answered."""
    import bot.ingest.inbox as inbox_module
    from bot.ingest.limits import RefusedEvent

    monkeypatch.setattr(inbox_module, "check_storable", lambda event, payload: None)
    inbox = Inbox(echo_router(), {}, burst_rate_per_s=1.0, gather_s=0.5, gather_count=20)
    try:
        unstorable = CitizenEvent(
            channel="oa",
            sender="o-bad",
            kind="message",
            created_at=now(),
            msg_type="text",
            msg_id="99",
            extra={"raw": b"\xff"},  # no JSON for bytes: the INSERT's parameters cannot be built
        )
        sends = [asyncio.create_task(inbox.accept(text_event(f"o-{number}", number), 3.0)) for number in range(19)]
        sends.append(asyncio.create_task(inbox.accept(unstorable, 3.0)))
        answers = await asyncio.gather(*sends, return_exceptions=True)
        assert isinstance(answers[-1], RefusedEvent)
        assert [answer.reply for answer in answers[:-1]] == [f"收到 o-{number}" for number in range(19)]
        assert await InboundMessage.all().count() == 19
    finally:
        await inbox.close()
