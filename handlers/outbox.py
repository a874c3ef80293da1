"""Outgoing messages as durable send jobs. Handlers enqueue; the bot's send worker delivers.

Enqueue inside the caller's transaction so a message exists exactly when the change it reports does.
"""

from __future__ import annotations

from models.entities import Case, Citizen
from models.jobs import Job, enqueue

SEND_CITIZEN = "send.citizen"


async def send_to_citizen(
    citizen: Citizen, text: str, *, case: Case | None = None, key: str | None = None
) -> Job | None:
    """Send `text` to a citizen: customer-service message inside the 48 h window, template after it."""
    return await enqueue(
        SEND_CITIZEN,
        {
            "openid": citizen.openid,
            "channel": citizen.channel,
            "text": text,
            "case_code": case.code if case else None,
            "case_state": case.state_zh if case else None,
        },
        key=key,
        case_id=case.id if case else None,
    )
