"""Members handling their cases: in WeCom single chat, or from the official account once bound.

Also: binding a member's official-account openid with a one-time code, and the polite refusal for a
WeCom user who is neither staff nor member.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

import redis.asyncio as aioredis
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from handlers.cases import actions
from handlers.cases.actions import CommandError
from handlers.cases.masking import excerpt
from handlers.cases.people import identify
from handlers.cases.suggest import OPEN_WORK
from handlers.commands import CommandLine, command_filter, event_text, parse
from handlers.events import ChatEvent, CitizenEvent, Reply
from handlers.routers.staff import VERBS as STAFF_VERBS
from handlers.routers.staff import log_refusal, refusal_text
from handlers.routing import Router
from handlers.settings import Settings
from handlers.texts.markdown import escape
from models.entities import Case, Citizen, Member, MemberBindCode
from models.sla import format_deadline_zh
from models.timeutil import now

router = Router("member", event_type=(ChatEvent, CitizenEvent))

MEMBER_COMMANDS: list[tuple[str, str, str, str]] = [
    ("收", "accept", "收 <编号>", "接收交办的件"),
    ("答", "reply", "答 <编号> <答复内容>", "答复群众"),
    ("问", "ask", "问 <编号> <问题>", "向群众了解情况，群众的回复会转给您"),
    ("退回", "return", "退回 <编号> <原因>", "退回分拣"),
    ("我的", "my", "我的", "我在办的件"),
    ("帮助", "help", "帮助", "显示本表"),
]
VERBS = {word: verb for verb, alias, _, _ in MEMBER_COMMANDS for word in (verb, alias)}
BIND_VERBS = {"绑定": "绑定", "bind": "绑定"}
BIND_CODE_TTL = timedelta(days=3)


def bind_command(event: ChatEvent | CitizenEvent) -> dict[str, Any] | None:
    if not isinstance(event, CitizenEvent) or event.kind != "message" or event.msg_type != "text":
        return None
    command = parse(event.text, BIND_VERBS)
    return {"command": command} if command else None


def help_text() -> str:
    rows = [f"{usage}（{alias}）：{effect}" for _, alias, usage, effect in MEMBER_COMMANDS]
    return "委员办件命令：\n" + "\n".join(rows)


async def member_sender(event: ChatEvent | CitizenEvent) -> dict[str, Any] | None:
    """A member writing (any message: a bound openid is the member's, never a citizen's)."""
    if isinstance(event, CitizenEvent) and event.kind != "message":
        return None
    person = await identify(event)
    if person.member is None or person.staff is not None:
        return None
    return {"member": person.member}


async def open_service_window(event: ChatEvent | CitizenEvent) -> None:
    """A member writing through the official account opens its 48-hour customer-service window, as a
    citizen's message does: what we send them next goes as a customer-service message, not a template."""
    if isinstance(event, CitizenEvent) and event.kind == "message":
        await Citizen.filter(openid=event.sender).update(last_inbound_at=event.created_at, window_sends=0)


@router.handler(member_sender, command_filter(VERBS))
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
        usage = next(u for v, _, u, _ in MEMBER_COMMANDS if v == command.verb)
        raise CommandError(f"格式：{usage}")
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


@router.handler(member_sender, bind_command)
async def handle_bind_when_bound(event: CitizenEvent, member: Member) -> Reply:
    """A member already bound sends a binding code again (a second code, or the same one twice)."""
    await open_service_window(event)
    return Reply(f"{member.name}委员，您已绑定，无需再次绑定。\n{help_text()}")


@router.handler(member_sender)
async def handle_unknown_member_command(event: ChatEvent | CitizenEvent) -> Reply:
    await open_service_window(event)
    text = event_text(event) or ""
    staff_only = parse(text, STAFF_VERBS)
    if staff_only is not None:
        return Reply(f"「{staff_only.verb}」是工作人员的命令，委员请用以下命令。\n{help_text()}")
    return Reply(f"没有听懂「{excerpt(text, 30)}」。\n{help_text()}")


async def my_cases_text(member: Member) -> str:
    cases = await Case.filter(member=member, state__in=OPEN_WORK).order_by("-urgent", "reply_due_at").limit(20)
    if not cases:
        return f"{member.name}委员，您目前没有在办的件。"
    lines = [f"{member.name}委员，您在办 {len(cases)} 件："]
    for case in cases:
        due = format_deadline_zh(case.reply_due_at) if case.reply_due_at else "—"
        urgent = "【急】" if case.urgent else ""
        lines.append(f"{urgent}{case.code} {case.state_zh} {excerpt(escape(case.summary), 20)}（答复期限 {due}）")
    return "\n".join(lines)


# ---- binding a member's official-account openid ---------------------------------------------------


async def create_bind_code(member_key: str) -> MemberBindCode:
    """A one-time 6-digit code for `mashang member bind-code <member-key>`."""
    member = await Member.get_or_none(key=member_key)
    if member is None:  # the member's name or WeCom userid is fine too, when only one member has it
        found = await Member.filter(Q(name=member_key) | Q(wecom_userid=member_key)).order_by("key").limit(10)
        if len(found) > 1:
            listed = "、".join(f"{m.name}（{m.key}）" for m in found)
            raise CommandError(f"「{member_key}」对应多位委员：{listed}。请改用花名册代号。")
        member = found[0] if found else None
    if member is None:
        keys = await Member.all().order_by("key").limit(3).values_list("key", flat=True)
        examples = "、".join(str(key) for key in keys)
        hint = f"（委员代号是花名册 [[members]] 里的 key，例如 {examples}）" if examples else ""
        raise CommandError(f"没有代号为 {member_key} 的委员{hint}。")
    moment = now()
    for _ in range(10):
        code = f"{secrets.randbelow(10**6):06d}"
        if not await MemberBindCode.filter(code=code, used_at=None, expires_at__gt=moment).exists():
            await MemberBindCode.filter(code=code).delete()
            return await MemberBindCode.create(
                code=code, member=member, created_at=moment, expires_at=moment + BIND_CODE_TTL
            )
    raise CommandError("暂时无法生成绑定码，请稍后再试。")  # pragma: no cover


@router.handler(bind_command)
async def handle_bind(event: CitizenEvent, command: CommandLine) -> Reply:
    code = command.args[0] if command.args else ""
    moment = now()
    async with in_transaction():
        bind = await MemberBindCode.get_or_none(code=code, used_at=None, expires_at__gt=moment).prefetch_related(
            "member"
        )
        if bind is None:
            return Reply("绑定码无效或已过期，请向政协办公室重新索取。")
        updated = await MemberBindCode.filter(id=bind.id, used_at=None).update(used_at=moment, used_by=event.sender)
        if not updated:
            return Reply("绑定码无效或已过期，请向政协办公室重新索取。")
        citizen, _ = await Citizen.get_or_create(openid=event.sender, defaults={"channel": event.channel})
        citizen.member = bind.member
        citizen.last_inbound_at, citizen.window_sends = event.created_at, 0  # the message opens the window
        await citizen.save(update_fields=["member_id", "last_inbound_at", "window_sends"])
    return Reply(f"{bind.member.name}委员，您好！绑定成功。今后交办给您的件会发到这里。\n{help_text()}")


# ---- nobody we know ------------------------------------------------------------------------------


async def unknown_wecom_user(event: ChatEvent) -> bool:
    if event.channel not in {"wecom_app", "wecom_bot"}:
        return False
    person = await identify(event)
    if person.staff is None and person.member is None:
        log_refusal(person, event)
        return True
    return False


@router.handler(unknown_wecom_user)
async def handle_unknown_user(event: ChatEvent) -> Reply:
    return Reply(refusal_text())
