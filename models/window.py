"""The official account's customer-service window: when we may send a citizen a customer-service message.

WeChat's rule (wechat-facts.md): a user's message opens a 48-hour window in which at most 5 customer-service
messages may be sent to them (errors 45015 out of the window, 45047 quota used). Past it only a template
message (or a subscription notice) reaches them. The window is kept on the citizen's row
(`last_inbound_at`, `window_sends`); this module is the one place that opens it, takes a send from it and
gives one back, for the router, the batch intake's SQL and the delivery workers alike.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tortoise.expressions import F

from models.entities import Citizen
from models.timeutil import now

LENGTH = timedelta(hours=48)
MAX_SENDS = 5
# WeChat's answers when a customer-service message is refused for the window: out of it / its sends used.
REFUSED_CODES = frozenset({45015, 45047})


def opened_by_message(at: datetime) -> dict[str, Any]:
    """The citizen row's window columns after a message of theirs at `at` (for INSERT/UPDATE statements)."""
    return {"last_inbound_at": at, "window_sends": 0}


def open_on(citizen: Citizen, at: datetime) -> list[str]:
    """Open the window on a loaded citizen; the caller saves the returned fields."""
    for name, value in opened_by_message(at).items():
        setattr(citizen, name, value)
    return list(opened_by_message(at))


async def open_for(openid: str, at: datetime) -> None:
    """Open the window of the citizen with `openid` (a member writing from the official account, too)."""
    await Citizen.filter(openid=openid).update(**opened_by_message(at))


async def reserve(citizen: Citizen) -> bool:
    """Take one of the sends of the citizen's open window, atomically; False when none is left."""
    taken = await Citizen.filter(id=citizen.id, last_inbound_at__gt=now() - LENGTH, window_sends__lt=MAX_SENDS).update(
        window_sends=F("window_sends") + 1
    )
    return bool(taken)


async def release(citizen: Citizen) -> None:
    """Give back a send reserved for a message that did not go out."""
    await Citizen.filter(id=citizen.id, window_sends__gt=0).update(window_sends=F("window_sends") - 1)
