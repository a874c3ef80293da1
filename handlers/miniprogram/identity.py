"""Who a mini-program citizen is: their mini-program openid, and the official-account openid of the same
person when WeChat gives both a unionid (jscode2session; the official account's user/info)."""

from __future__ import annotations

from models.entities import Citizen

CHANNEL = "wxa"


async def sign_in(openid: str, unionid: str | None) -> Citizen:
    """The mini-program citizen with `openid`, made on the first sign-in; a unionid WeChat gives is kept."""
    citizen, _ = await Citizen.get_or_create(openid=openid, defaults={"channel": CHANNEL, "unionid": unionid})
    if unionid and citizen.unionid != unionid:
        citizen.unionid = unionid
        await citizen.save(update_fields=["unionid"])
    return citizen


async def linked(citizen: Citizen) -> list[Citizen]:
    """`citizen` and every other openid of the same person (same unionid), oldest first."""
    if not citizen.unionid:
        return [citizen]
    rows = await Citizen.filter(unionid=citizen.unionid).order_by("id")
    return rows if any(row.id == citizen.id for row in rows) else [citizen, *rows]


async def linked_ids(citizen: Citizen) -> list[int]:
    return [row.id for row in await linked(citizen)]
