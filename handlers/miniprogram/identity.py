"""Who a mini-program citizen is: their mini-program openid, and the official-account openid of the same
person when WeChat gives both a unionid (jscode2session; the official account's user/info)."""

from __future__ import annotations

from handlers import payloads
from models.entities import Citizen
from models.jobs import enqueue

CHANNEL = "wxa"
# {openid}: cgi-bin/user/info for an official-account follower's unionid (bot.outbound.miniprogram).
FETCH_UNIONID = "citizen.unionid"


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


async def linked_ids_of(openid: str) -> list[int]:
    """The citizen ids of the person with this openid (none when we do not know it)."""
    citizen = await Citizen.get_or_none(openid=openid)
    return await linked_ids(citizen) if citizen is not None else []


async def learn_unionid(citizen: Citizen) -> None:
    """Ask, once per follower, for the unionid of an official-account citizen (a member who bound the
    account is not asked): with it, their mini-program openid finds their cases and reaches them."""
    if citizen.channel == CHANNEL or citizen.unionid or citizen.member_id is not None:  # type: ignore[attr-defined]
        return
    await enqueue(FETCH_UNIONID, payloads.fetch_unionid(citizen.openid), key=f"unionid:{citizen.openid}")
