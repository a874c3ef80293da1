"""Who is writing: roster staff, a member (WeCom userid or a bound official-account openid), or nobody.

The routers resolve it once per event: `person`, provided lazily (`provide_person`) to every filter
and handler that takes it, computed by the first that asks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from handlers.cases.masking import excerpt
from handlers.events import ChatEvent, CitizenEvent
from handlers.routing import Router
from models.entities import Citizen, Member, Staff

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Person:
    staff: Staff | None = None
    member: Member | None = None

    @property
    def actor(self) -> str:
        if self.staff is not None:
            return f"staff:{self.staff.key}"
        if self.member is not None:
            return f"member:{self.member.key}"
        return "unknown"


WECOM_CHANNELS = frozenset({"wecom_app", "wecom_bot"})


def from_wecom(event: ChatEvent | CitizenEvent) -> bool:
    return isinstance(event, ChatEvent) and event.channel in WECOM_CHANNELS


async def identify(event: ChatEvent | CitizenEvent) -> Person:
    """WeCom: staff (1 query), else a member (1 more). Official account: the citizen row with its
    bound member, in one query.

    WeCom userids are case-insensitive ("不区分大小写", the UserID field of
    https://developer.work.weixin.qq.com/document/path/90195): `ZhangSan` on the roster is whoever
    writes as `zhangsan`. The roster import refuses two userids that differ only in case."""
    if from_wecom(event):
        staff = await Staff.filter(wecom_userid__iexact=event.sender, active=True).order_by("id").first()
        if staff is not None:
            return Person(staff=staff)
        member = await Member.filter(wecom_userid__iexact=event.sender, active=True).order_by("id").first()
        return Person(member=member)
    citizen = await Citizen.filter(openid=event.sender).select_related("member").first()
    if citizen is not None and citizen.member is not None and citizen.member.active:
        return Person(member=citizen.member)
    return Person()


def provide_person(router: Router) -> None:
    """`person` for the router's filters and handlers: `identify(event)`, on first use, once per event
    (routers that both provide it share the one value)."""
    router.provide("person", identify)


def log_refusal(person: Person, event: ChatEvent) -> None:
    """A WeCom user not on the roster wrote: they get a polite refusal, the operator a log line."""
    log.warning("refused %s from %s (%s): %r", event.channel, event.sender, person.actor, excerpt(event.text, 60))
