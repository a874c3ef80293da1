"""One-time subscribe consents: the front end's wx.requestSubscribeMessage gives one send per accepted
template; we count them (`SubscribeConsent.remaining`) and take one for every subscribe message."""

from __future__ import annotations

import re

from tortoise.expressions import F

from handlers.miniprogram.errors import invalid
from handlers.texts import miniprogram as texts
from models.entities import Citizen
from models.miniprogram import SubscribeConsent
from models.timeutil import now

TEMPLATE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_PER_REQUEST = 10  # wx.requestSubscribeMessage asks for at most 3 templates at once


def check_templates(accepted: object) -> list[str]:
    if (
        not isinstance(accepted, list)
        or not 1 <= len(accepted) <= MAX_PER_REQUEST
        or not all(isinstance(item, str) and TEMPLATE_ID.fullmatch(item) for item in accepted)
    ):
        raise invalid("accepted", texts.BAD_TEMPLATES)
    return list(accepted)


async def record(citizen: Citizen, template_ids: list[str]) -> dict[str, int]:
    """Add one consent per accepted template (a template listed twice, two); the counts left."""
    moment = now()
    for template_id in template_ids:
        row, created = await SubscribeConsent.get_or_create(
            citizen=citizen, template_id=template_id, defaults={"remaining": 1, "updated_at": moment}
        )
        if not created:
            await SubscribeConsent.filter(id=row.id).update(remaining=F("remaining") + 1, updated_at=moment)
    rows = await SubscribeConsent.filter(citizen=citizen, template_id__in=template_ids)
    return {row.template_id: row.remaining for row in rows}


async def take(citizen_id: int, template_id: str) -> bool:
    """Use one consent, atomically; False when none is left."""
    taken = await SubscribeConsent.filter(citizen_id=citizen_id, template_id=template_id, remaining__gt=0).update(
        remaining=F("remaining") - 1, updated_at=now()
    )
    return bool(taken)


async def give_back(citizen_id: int, template_id: str) -> None:
    """A consent taken for a message that did not go out (WeChat unavailable): it is still the citizen's."""
    await SubscribeConsent.filter(citizen_id=citizen_id, template_id=template_id).update(
        remaining=F("remaining") + 1, updated_at=now()
    )


async def used_up(citizen_id: int, template_id: str) -> None:
    """WeChat says no consent is left (43101): ours agrees from now on."""
    await SubscribeConsent.filter(citizen_id=citizen_id, template_id=template_id).update(remaining=0, updated_at=now())
