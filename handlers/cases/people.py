"""Who is writing: roster staff, a member (WeCom userid or a bound official-account openid), or nobody."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from handlers.cases.masking import excerpt
from handlers.events import ChatEvent, CitizenEvent
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


async def identify(event: ChatEvent | CitizenEvent) -> Person:
    if isinstance(event, ChatEvent) and event.channel in {"wecom_app", "wecom_bot"}:
        staff = await Staff.get_or_none(wecom_userid=event.sender, active=True)
        if staff is not None:
            return Person(staff=staff)
        member = await Member.get_or_none(wecom_userid=event.sender, active=True)
        return Person(member=member)
    citizen = await Citizen.get_or_none(openid=event.sender).prefetch_related("member")
    if citizen is not None and citizen.member is not None and citizen.member.active:
        return Person(member=citizen.member)
    return Person()


def log_refusal(person: Person, event: ChatEvent) -> None:
    """A WeCom user not on the roster wrote: they get a polite refusal, the operator a log line."""
    log.warning("refused %s from %s (%s): %r", event.channel, event.sender, person.actor, excerpt(event.text, 60))
