"""Members handling their cases: in WeCom single chat, or from the official account once bound.

Also: binding a member's official-account openid with a one-time code, and the polite refusal for a
WeCom user who is neither staff nor member.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import redis.asyncio as aioredis
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from handlers import binding
from handlers.cases import actions
from handlers.cases.actions import CommandError
from handlers.cases.outbox import send_to_triage
from handlers.cases.people import Person, from_wecom, log_refusal, provide_person
from handlers.commands import CommandLine, command_filter, event_text, parse
from handlers.events import ChatEvent, CitizenEvent, Reply
from handlers.routing import Router
from handlers.settings import Settings
from handlers.texts import citizen as citizen_texts
from handlers.texts import commands as command_texts
from handlers.texts import member as texts
from handlers.texts import staff as staff_texts
from handlers.texts.member import COMMANDS as MEMBER_COMMANDS
from handlers.texts.member import VERBS
from handlers.topics import opinions
from models import window
from models.entities import Case, Citizen, Member, MemberBindCode
from models.sla import format_deadline_zh
from models.state import HELD_BY_MEMBER
from models.timeutil import now

router = Router("member", event_type=(ChatEvent, CitizenEvent))
provide_person(router)

__all__ = ["MEMBER_COMMANDS", "VERBS", "router"]
BIND_VERBS = {"绑定": "绑定", "bind": "绑定"}
BIND_CODE_TTL = timedelta(days=3)


def bind_command(event: ChatEvent | CitizenEvent) -> dict[str, Any] | None:
    """「绑定 <code>」, or 绑定 alone (answered with how to bind); 绑定 followed by anything that is not
    code-shaped is a citizen's message like any other (「绑定 银行卡时被骗了…」)."""
    if not isinstance(event, CitizenEvent) or event.kind != "message" or event.msg_type != "text":
        return None
    command = parse(event.text, BIND_VERBS)
    if command is None or (command.rest and binding.read_code(command.rest) is None):
        return None
    return {"command": command}


def help_text() -> str:
    return texts.help_text()


def writes(event: ChatEvent | CitizenEvent) -> bool:
    """A message, not an official-account event (a scan, a follow): those are citizens' whoever makes
    them, and nobody asks who is writing."""
    return not isinstance(event, CitizenEvent) or event.kind == "message"


def member_sender(person: Person) -> dict[str, Any] | None:
    """A member writing (any message: a bound openid is the member's, never a citizen's). After
    `writes`, so that an event costs no lookup."""
    if person.member is None or person.staff is not None:
        return None
    return {"member": person.member}


async def open_service_window(event: ChatEvent | CitizenEvent) -> None:
    """A member writing through the official account opens its 48-hour customer-service window, as a
    citizen's message does: what we send them next goes as a customer-service message, not a template."""
    if isinstance(event, CitizenEvent) and event.kind == "message":
        await window.open_for(event.sender, event.created_at)


@router.handler(writes, member_sender, command_filter(VERBS))
async def handle_member_command(
    event: ChatEvent | CitizenEvent, command: CommandLine, member: Member, redis: aioredis.Redis, settings: Settings
) -> Reply:
    await open_service_window(event)
    try:
        return Reply(await run_member_command(command, member, redis, settings))
    except CommandError as exc:
        return Reply(str(exc))


async def run_member_command(command: CommandLine, member: Member, redis: aioredis.Redis, settings: Settings) -> str:
    if command.verb == "帮助":
        return help_text()
    if command.verb == "我的":
        return await my_cases_text(member)
    if not command.args:
        raise CommandError(command_texts.usage(texts.usage(command.verb)))
    if command.verb == "议":
        text = command.rest_after(1)
        if not text:
            raise CommandError(command_texts.usage(texts.usage(command.verb)))
        if len(text) > opinions.TEXT_MAX:
            raise CommandError(texts.opinion_too_long(opinions.TEXT_MAX))
        try:
            opinion = await opinions.post_by_member(member, command.args[0], text)
        except opinions.OpinionError as exc:
            raise CommandError(str(exc)) from None
        return texts.opinion_posted(opinion.id, command.args[0])
    case = await actions.find_case(command.args[0], settings)
    if command.verb == "收":
        return await actions.accept(case, member)
    if command.verb == "答":
        actions.ensure_holder(case, member)
        return await actions.reply(
            case, command.rest_after(1), f"member:{member.key}", f"政协委员{member.name}", redis, settings
        )
    if command.verb == "问":
        return await actions.ask(case, member, command.rest_after(1))
    if command.verb == "退回":
        return await actions.return_to_triage(case, member, command.rest_after(1), redis, settings)
    raise CommandError(help_text())  # pragma: no cover


@router.handler(writes, member_sender, bind_command)
async def handle_bind_when_bound(event: CitizenEvent, member: Member) -> Reply:
    """A member already bound sends a binding code again (a second code, or the same one twice)."""
    await open_service_window(event)
    return Reply(texts.already_bound(member.name))


@router.handler(writes, member_sender)
async def handle_unknown_member_command(event: ChatEvent | CitizenEvent) -> Reply:
    await open_service_window(event)
    text = event_text(event) or ""
    staff_only = parse(text, staff_texts.VERBS)
    if staff_only is not None:
        return Reply(texts.staff_command(staff_only.verb))
    return Reply(texts.not_understood(text))


async def my_cases_text(member: Member) -> str:
    held = Case.filter(member=member, state__in=list(HELD_BY_MEMBER))
    cases = await held.order_by("-urgent", "reply_due_at").limit(20)
    rows = [
        (
            case.code,
            case.state_zh,
            case.urgent,
            case.summary,
            format_deadline_zh(case.reply_due_at) if case.reply_due_at else "—",
        )
        for case in cases
    ]
    return texts.my_cases(member.name, rows)


# ---- binding a member's official-account openid ---------------------------------------------------


async def create_bind_code(member_key: str) -> MemberBindCode:
    """A one-time code for `mashang member bind-code <member-key>` (handlers.binding: its shape)."""
    member = await Member.get_or_none(key=member_key)
    if member is None:  # the member's name or WeCom userid is fine too, when only one member has it
        found = await Member.filter(Q(name=member_key) | Q(wecom_userid__iexact=member_key)).order_by("key").limit(10)
        if len(found) > 1:
            listed = "、".join(f"{m.name}（{m.key}）" for m in found)
            raise CommandError(command_texts.bind_several_members(member_key, listed))
        member = found[0] if found else None
    if member is None:
        keys = await Member.all().order_by("key").limit(3).values_list("key", flat=True)
        examples = "、".join(str(key) for key in keys)
        raise CommandError(command_texts.bind_no_member(member_key, examples))
    moment = now()
    for _ in range(10):
        code = binding.new_code()
        if not await MemberBindCode.filter(code=code, used_at=None, expires_at__gt=moment).exists():
            await MemberBindCode.filter(code=code).delete()
            return await MemberBindCode.create(
                code=code, member=member, created_at=moment, expires_at=moment + BIND_CODE_TTL
            )
    raise CommandError(command_texts.BIND_CODE_UNAVAILABLE)  # pragma: no cover


@router.handler(bind_command)
async def handle_bind(event: CitizenEvent, command: CommandLine, redis: aioredis.Redis, settings: Settings) -> Reply:
    if not command.rest:
        return Reply(texts.BIND_USAGE)
    locked = await binding.lockout(redis, settings, event.sender)
    if locked is not None:  # refused untried: a lock-out must not be a way to keep guessing
        return Reply(texts.bind_locked(format_deadline_zh(locked.until), locked.everyone))
    code = binding.read_code(command.rest) or ""
    if not binding.may_be_valid(code):  # an earlier version's 6 digits, or not a code at all
        return await bind_failed(event, redis, settings)
    moment = now()
    async with in_transaction():
        bind = await MemberBindCode.get_or_none(code=code, used_at=None, expires_at__gt=moment).prefetch_related(
            "member"
        )
        if bind is None:
            return await bind_failed(event, redis, settings)
        updated = await MemberBindCode.filter(id=bind.id, used_at=None).update(used_at=moment, used_by=event.sender)
        if not updated:
            return await bind_failed(event, redis, settings)
        citizen, _ = await Citizen.get_or_create(openid=event.sender, defaults={"channel": event.channel})
        citizen.member = bind.member
        opened = window.open_on(citizen, event.created_at)  # the binding message opens the window
        await citizen.save(update_fields=["member_id", *opened])
        # Every binding is told, so that a code somebody else used shows at once.
        member, at = bind.member, format_deadline_zh(moment)
        await send_to_triage(staff_texts.member_bound(member.name, member.key, event.sender, at))
    await binding.forget_failures(redis, settings, event.sender)
    return Reply(texts.bound(bind.member.name))


async def bind_failed(event: CitizenEvent, redis: aioredis.Redis, settings: Settings) -> Reply:
    """A wrong (or used, or expired) code: counted; past a limit binding is locked for a while, and the
    triage group hears of each lock-out once."""
    started = await binding.record_failure(redis, settings, event.sender)
    window = citizen_texts.duration_zh(binding.WINDOW_S)
    for lock in started:
        who = None if lock.everyone else event.sender
        await send_to_triage(staff_texts.bind_lockout(who, lock.failures, window, format_deadline_zh(lock.until)))
    if not started:
        return Reply(texts.BIND_CODE_INVALID)
    everyone = any(lock.everyone for lock in started)
    latest = max(lock.until for lock in started)
    return Reply(f"{texts.BIND_CODE_INVALID}\n{texts.bind_locked(format_deadline_zh(latest), everyone)}")


# ---- nobody we know ------------------------------------------------------------------------------


def unknown_wecom_user(event: ChatEvent, person: Person) -> bool:
    """Neither staff nor a member. After `from_wecom`: a citizen is nobody we know, and welcome."""
    if person.staff is None and person.member is None:
        log_refusal(person, event)
        return True
    return False


@router.handler(from_wecom, unknown_wecom_user)
async def handle_unknown_user(event: ChatEvent) -> Reply:
    return Reply(command_texts.NOT_ON_ROSTER)
