"""The official account's customer-service window: when we may send a citizen a customer-service message.

WeChat's rule (wechat-facts.md): a user's message opens a 48-hour window in which at most 5 customer-service
messages may be sent to them (errors 45015 out of the window, 45047 quota used); a subscribe, a scan or a
menu click opens a short one of its own: at most 3 within 1 minute. Past both only a template message (or
a subscription notice) reaches them. The windows are kept on the citizen's row (`last_inbound_at`,
`window_sends`; `event_window_at`, `event_window_sends`); this module is the one place that opens them,
takes a send from them and gives one back, for the router, the batch intake's SQL and delivery alike.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from tortoise.expressions import F, Q

from models.entities import Citizen
from models.timeutil import now

LENGTH = timedelta(hours=48)
MAX_SENDS = 5
EVENT_LENGTH = timedelta(minutes=1)  # after a subscribe, scan or menu click
EVENT_MAX_SENDS = 3
Slot = Literal["message", "event"]  # which window a reserved send came from
# WeChat's answers when a customer-service message is refused for the window: out of it / its sends used.
REFUSED_CODES = frozenset({45015, 45047})


def opened_by_message(at: datetime) -> dict[str, Any]:
    """The citizen row's window columns after a message of theirs at `at` (for INSERT/UPDATE statements)."""
    return {"last_inbound_at": at, "window_sends": 0}


def opened_by_event(at: datetime) -> dict[str, Any]:
    """The citizen row's event-window columns after a subscribe, scan or menu click at `at`."""
    return {"event_window_at": at, "event_window_sends": 0}


def open_event_on(citizen: Citizen, at: datetime) -> list[str]:
    """Open the event window on a loaded citizen; the caller saves the returned fields."""
    for name, value in opened_by_event(at).items():
        setattr(citizen, name, value)
    return list(opened_by_event(at))


def open_on(citizen: Citizen, at: datetime) -> list[str]:
    """Open the window on a loaded citizen; the caller saves the returned fields."""
    for name, value in opened_by_message(at).items():
        setattr(citizen, name, value)
    return list(opened_by_message(at))


async def open_for(openid: str, at: datetime) -> None:
    """Open the window of the citizen with `openid` (a member writing from the official account, too)."""
    await Citizen.filter(openid=openid).update(**opened_by_message(at))


async def reserve(citizen: Citizen) -> Slot | None:
    """Take one send of the citizen's open window, atomically: the message window's first; the event
    window's only while no message window is open (WeChat does not say the two allowances add up, so a
    citizen who wrote gets the 5 of their message and no more); None when nothing is left (a template)."""
    moment = now()
    taken = await Citizen.filter(id=citizen.id, last_inbound_at__gt=moment - LENGTH, window_sends__lt=MAX_SENDS).update(
        window_sends=F("window_sends") + 1
    )
    if taken:
        return "message"
    no_message_window = Q(last_inbound_at__isnull=True) | Q(last_inbound_at__lte=moment - LENGTH)
    taken = await Citizen.filter(
        no_message_window,
        id=citizen.id,
        event_window_at__gt=moment - EVENT_LENGTH,
        event_window_sends__lt=EVENT_MAX_SENDS,
    ).update(event_window_sends=F("event_window_sends") + 1)
    return "event" if taken else None


async def release(citizen: Citizen, slot: Slot | None = "message") -> None:
    """Give back a send reserved (from the window `slot` says) for a message that did not go out."""
    if slot == "event":
        await Citizen.filter(id=citizen.id, event_window_sends__gt=0).update(
            event_window_sends=F("event_window_sends") - 1
        )
    elif slot == "message":
        await Citizen.filter(id=citizen.id, window_sends__gt=0).update(window_sends=F("window_sends") - 1)
