"""The customer-service window (models/window.py): a message opens 5 sends in 48 hours, a subscribe or
scan 3 sends within 1 minute; past both only a template reaches the citizen."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from models import window
from models.entities import Citizen
from models.timeutil import ManualClock, get_clock, set_clock


async def test_an_event_opens_three_sends_within_a_minute_and_a_message_five_in_two_days(db: None) -> None:
    clock = ManualClock(datetime(2026, 12, 2, 8, 0, tzinfo=UTC))
    previous = get_clock()
    set_clock(clock)
    try:
        citizen = await Citizen.create(openid="o-window", channel="oa", created_at=clock.now())
        assert await window.reserve(citizen) is None  # nothing open: a template
        await citizen.save(update_fields=window.open_event_on(citizen, clock.now()))
        assert [await window.reserve(citizen) for _ in range(4)] == ["event", "event", "event", None]
        await window.release(citizen, "event")  # a send that did not go out is given back
        assert await window.reserve(citizen) == "event"
        await citizen.save(update_fields=window.open_event_on(citizen, clock.now()))
        clock.advance(61)  # the event window is a minute long
        assert await window.reserve(citizen) is None
        await citizen.save(update_fields=window.open_on(citizen, clock.now()))
        await citizen.save(update_fields=window.open_event_on(citizen, clock.now()))
        # A citizen who wrote has the 5 of their message window, not 3 more for a scan beside them.
        assert [await window.reserve(citizen) for _ in range(6)] == ["message"] * 5 + [None]
        clock.advance(timedelta(hours=48, seconds=1).total_seconds())
        await citizen.save(update_fields=window.open_event_on(citizen, clock.now()))
        assert await window.reserve(citizen) == "event"  # the message window is over, the event one open
    finally:
        set_clock(previous)


async def test_a_greeting_after_a_scan_that_missed_its_passive_reply_goes_as_a_customer_service_message(
    stack,
) -> None:
    citizen = stack.citizen()
    await citizen.event("o-scan-window", "SCAN", "cp:hz-hospital-1")
    row = await Citizen.get(openid="o-scan-window")
    assert row.event_window_at is not None
    from handlers.cases.outbox import send_to_citizen

    await send_to_citizen(row, "欢迎来到湖州市中心医院联系点")  # as when the passive reply was missed
    await stack.run_jobs()
    assert "欢迎来到湖州市中心医院联系点" in [m.text for m in stack.platform.sent_to("o-scan-window")]
    assert not [c for c in stack.platform.calls_to("message/template/send") if c.body.get("touser") == "o-scan-window"]
