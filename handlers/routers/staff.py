"""Staff in the triage group (@bot) or in single chat with the WeCom app: one line per action."""

from __future__ import annotations

import logging
from typing import Any

import redis.asyncio as aioredis

from handlers.cases import actions, loop
from handlers.cases import queue as triage_queue
from handlers.cases.actions import CommandError
from handlers.cases.masking import excerpt
from handlers.cases.people import Person, identify
from handlers.commands import CommandLine, command_filter, event_text, parse
from handlers.events import ChatEvent, Reply
from handlers.routing import Router
from handlers.settings import Settings
from handlers.texts.markdown import escape
from models.entities import Case, CaseEvent, CaseState, Member, Staff
from models.sla import format_deadline_zh
from models.timeutil import now

log = logging.getLogger(__name__)

router = Router("staff", event_type=ChatEvent)

# Cases that owe the citizen a reply: held by a member, or transferred to a department.
OVERDUE_REPLY_STATES = [
    CaseState.ASSIGNED,
    CaseState.ACCEPTED,
    CaseState.NEEDS_INFO,
    CaseState.REOPENED,
    CaseState.TRANSFERRED,
]

STAFF_COMMANDS: list[tuple[str, str, str, str]] = [
    # verb, alias, usage, effect
    ("派", "assign", "派 <编号> <委员>", "交办给委员（姓名或花名册代号）"),
    ("转", "transfer", "转 <编号> <部门> [说明]", "转交承办部门"),
    ("答", "reply", "答 <编号> <答复内容>", "代部门或政协答复群众"),
    ("并", "merge", "并 <编号> <目标编号>", "并案：群众也会收到目标件的答复"),
    ("退", "reject", "退 <编号> <理由>", "不予受理，告知群众理由"),
    ("类", "category", "类 <编号> <类别>", "设置类别"),
    ("急", "urgent", "急 <编号>", "标为急件（期限缩短，排在前面）"),
    ("查", "show", "查 <编号>", "查看办理过程"),
    ("待办", "queue", "待办", "待分拣、超期和待电话回访的件"),
    ("回访", "visit", "回访 <编号> <1|2|3> [备注]", "记录电话回访：1 满意，2 基本满意，3 不满意"),
    ("统计", "stats", "统计 [委员]", "今日、本周、本月的交办、答复、回访和满意率"),
    ("帮助", "help", "帮助", "显示本表"),
]
VERBS = {word: verb for verb, alias, _, _ in STAFF_COMMANDS for word in (verb, alias)}


def help_text() -> str:
    rows = [f"{usage}（{alias}）：{effect}" for _, alias, usage, effect in STAFF_COMMANDS]
    return "码上商分拣命令：\n" + "\n".join(rows)


async def staff_sender(event: ChatEvent) -> dict[str, Any] | None:
    person = await identify(event)
    return {"person": person, "staff": person.staff} if person.staff is not None else None


def actor_of(staff: Staff) -> str:
    return f"staff:{staff.key}"


async def _command_reply(coro: Any) -> Reply:
    try:
        return Reply(await coro)
    except CommandError as exc:
        return Reply(str(exc))


def _need(command: CommandLine, count: int) -> None:
    if len(command.args) < count:
        usage = next(u for v, _, u, _ in STAFF_COMMANDS if v == command.verb)
        raise CommandError(f"格式：{usage}")


@router.handler(staff_sender, command_filter(VERBS))
async def handle_staff_command(command: CommandLine, staff: Staff, redis: aioredis.Redis, settings: Settings) -> Reply:
    return await _command_reply(run_staff_command(command, staff, redis, settings))


async def run_staff_command(command: CommandLine, staff: Staff, redis: aioredis.Redis, settings: Settings) -> str:
    actor = actor_of(staff)
    verb = command.verb
    if verb == "帮助":
        return help_text()
    if verb == "待办":
        return await queue_text(redis, settings)
    if verb == "统计":
        member = await actions.find_member(command.rest) if command.rest else None
        return await loop.stats_text(member)
    _need(command, 1)
    case = await actions.find_case(command.args[0], settings)
    # The command line goes on the timeline before what it does; a refused one is taken off again.
    entry = await CaseEvent.create(
        case=case,
        kind="command",
        actor=actor,
        detail={"line": f"{verb} {command.rest}"[:500]},
        created_at=now(),
    )
    try:
        return await _run_case_command(command, case, actor, redis, settings)
    except CommandError:
        await entry.delete()
        raise


async def _run_case_command(
    command: CommandLine, case: Case, actor: str, redis: aioredis.Redis, settings: Settings
) -> str:
    verb = command.verb
    if verb == "派":
        _need(command, 2)
        member = await actions.find_member(command.rest_after(1))
        return await actions.assign(case, member, actor, redis, settings)
    if verb == "转":
        _need(command, 2)
        department = await actions.find_department(command.args[1])
        return await actions.transfer(case, department, command.rest_after(2), actor, redis, settings)
    if verb == "答":
        return await actions.reply(case, command.rest_after(1), actor, "政协码上商工作人员", redis, settings)
    if verb == "并":
        _need(command, 2)
        target = await actions.find_case(command.args[1], settings)
        return await actions.merge(case, target, actor, redis, settings)
    if verb == "退":
        return await actions.reject(case, command.rest_after(1), actor, redis, settings)
    if verb == "类":
        _need(command, 2)
        return await actions.set_category(case, await actions.find_category(command.rest_after(1)), actor)
    if verb == "急":
        return await actions.mark_urgent(case, actor, redis, settings)
    if verb == "查":
        return await timeline_text(case)
    if verb == "回访":
        _need(command, 2)
        answer = loop.parse_survey_answer(command.rest_after(1))
        if answer is None:
            raise CommandError(f"格式：回访 {case.code} 1|2|3 备注（1 满意，2 基本满意，3 不满意）")
        if CaseState(case.state) not in {CaseState.REPLIED, CaseState.RETURN_VISIT}:
            raise CommandError(f"编号 {case.code} 当前状态为「{case.state_zh}」，只有已答复的件才能回访。")
        await loop.record_visit(case, answer.score, answer.comment, actor, "phone", redis, settings)
        outcome = "已办结。" if answer.score in (1, 2) else "已重新交办，承办人会收到群众意见。"
        return f"已记录 {case.code} 的电话回访：{loop.SATISFACTION_ZH[answer.score]}，{outcome}"
    raise CommandError(help_text())  # pragma: no cover - every verb is handled above


@router.handler(staff_sender)
async def handle_unknown_staff_command(event: ChatEvent) -> Reply:
    from handlers.routers.member import VERBS as MEMBER_VERBS  # members imports this module

    text = event_text(event) or ""
    if not text.strip():  # "@码上商" and nothing else
        return Reply(help_text())
    member_only = parse(text, MEMBER_VERBS)
    if member_only is not None:
        return Reply(f"「{member_only.verb}」是委员办件的命令，工作人员请用以下命令。\n{help_text()}")
    return Reply(f"没有听懂「{excerpt(escape(text), 30)}」。\n{help_text()}")  # the bot's answer is markdown


async def queue_text(redis: aioredis.Redis, settings: Settings, limit: int = 10) -> str:
    moment = now()
    waiting = await triage_queue.queue_size(redis, settings)
    cases = await triage_queue.queued_cases(redis, settings, limit)
    overdue_reply = (
        await Case.filter(
            state__in=OVERDUE_REPLY_STATES,
            reply_due_at__lt=moment,
        )
        .order_by("-urgent", "reply_due_at")
        .limit(limit)
        .prefetch_related("member")
    )
    overdue_reply_count = await Case.filter(state__in=OVERDUE_REPLY_STATES, reply_due_at__lt=moment).count()
    overdue_assign = await triage_queue.overdue_count(redis, settings, moment)
    lines = [f"**待办**：待分拣 {waiting} 件（其中已超期 {overdue_assign} 件），答复超期 {overdue_reply_count} 件"]
    for case in cases:
        late = "【超期】" if case.assign_due_at and case.assign_due_at < moment else ""
        urgent = "【急】" if case.urgent else ""
        due = format_deadline_zh(case.assign_due_at) if case.assign_due_at else "—"
        where, summary = escape(actions.where(case)), excerpt(escape(case.summary), 24)
        lines.append(f"{urgent}{late}{case.code} {where} {summary}（交办期限 {due}）")
    if waiting > len(cases):
        lines.append(f"……另有 {waiting - len(cases)} 件待分拣未列出（以上按交办期限先后，急件在前）")
    for case in overdue_reply:
        holder = f"委员{escape(case.member.name)}" if case.member else "承办部门"
        due = format_deadline_zh(case.reply_due_at) if case.reply_due_at else "—"
        lines.append(f"【答复超期】{case.code} {holder}（期限 {due}）")
    for case in await loop.phone_visit_tasks(limit):
        lines.append(f"【电话回访】{case.code}：群众未答复回访，请电话回访后发送「回访 {case.code} 1|2|3 备注」")
    if len(lines) == 1:
        lines.append("暂无待办，辛苦了！")
    return "\n".join(lines)


_EVENT_ZH = {
    "created": "提交",
    "message.in": "留言",
    "message.out": "发送消息",
    "media.saved": "保存附件",
    "category.suggested": "建议类别",
    "category.set": "设置类别",
    "urgent": "标为急件",
    "command": "命令",
    "merge.received": "同类件并入本件：",
    "reply.via_merge": "随并案答复",
    "sla.reminder": "催办",
    "sla.overdue": "超期通报",
    "visit.phone_task": "转电话回访",
    "follows": "关联已办结件",
}


async def timeline_text(case: Case, limit: int = 20) -> str:
    events = await CaseEvent.filter(case=case).order_by("-created_at", "-id").limit(limit)
    lines = [
        f"**{case.code}** {escape(actions.where(case))}，状态：{case.state_zh}"
        + (f"，委员：{escape(case.member.name)}" if case.member else ""),
        f"内容：{await actions.first_content(case, 120)}",
    ]
    names = await _actor_names([event.actor for event in events] + [str(e.detail.get("to", "")) for e in events])
    who_is = {actor: escape(name) for actor, name in names.items()}
    for event in reversed(events):
        when = format_deadline_zh(event.created_at)
        if event.kind.startswith("state:"):
            from models.state import TRANSITION_ZH, Transition

            what = TRANSITION_ZH.get(Transition(event.kind[6:]), event.kind)
            reason, target = event.detail.get("reason"), event.detail.get("target")
            what += f"（{excerpt(escape(str(reason)), 40)}）" if reason else ""
            what += f"，并入 {target}" if target else ""
        else:
            what = _EVENT_ZH.get(event.kind, event.kind)
            if event.kind == "message.out":
                channel, to = str(event.detail.get("channel", "")), str(event.detail.get("to", ""))
                recipient = f"，给{who_is.get(to, escape(to))}" if to else ""
                what += f"（{escape(_CHANNEL_ZH.get(channel, channel))}{recipient}）"
            if event.kind == "command":
                what += f"：{excerpt(escape(str(event.detail.get('line', ''))), 40)}"
            if event.kind == "merge.received":
                what += escape(str(event.detail.get("source", "")))  # the case merged into this one
        lines.append(f"{when} {who_is.get(event.actor, escape(event.actor))} {what}")
    return "\n".join(lines)


_CHANNEL_ZH = {
    "custom": "客服消息",
    "template": "模板消息",
    "passive": "即时回复",
    "triage_webhook": "分拣群",
    "triage_appchat": "分拣群",
    "wecom_text": "企业微信",
    "wecom_markdown": "企业微信",
    "bot_response": "群机器人回复",
}


async def _actor_names(actors: list[str]) -> dict[str, str]:
    """How the timeline names who did something or got a message: 群众, 工作人员李四, 委员张三, 系统
    (from `citizen:…`, `staff:<key>`, `member:<key>`, `wecom:<userid>`, `system`, `citizen`, `member`)."""
    keys: dict[str, set[str]] = {"staff": set(), "member": set(), "wecom": set()}
    for actor in actors:
        kind, _, key = actor.partition(":")
        if kind in keys and key:
            keys[kind].add(key)
    staff = {s.key: s.name for s in await Staff.filter(key__in=keys["staff"])} if keys["staff"] else {}
    members = {m.key: m.name for m in await Member.filter(key__in=keys["member"])} if keys["member"] else {}
    wecom: dict[str, str] = {}
    if keys["wecom"]:
        for member in await Member.filter(wecom_userid__in=keys["wecom"]):
            wecom[str(member.wecom_userid)] = f"委员{member.name}"
        for person in await Staff.filter(wecom_userid__in=keys["wecom"]):
            wecom[str(person.wecom_userid)] = f"工作人员{person.name}"
    fixed = {"system": "系统", "citizen": "群众", "member": "委员"}
    names = {}
    for actor in actors:
        kind, _, key = actor.partition(":")
        if actor in fixed:
            names[actor] = fixed[actor]
        elif kind == "citizen":
            names[actor] = "群众"
        elif kind == "staff" and key in staff:
            names[actor] = f"工作人员{staff[key]}"
        elif kind == "member" and key in members:
            names[actor] = f"委员{members[key]}"
        elif kind == "wecom" and key in wecom:
            names[actor] = wecom[key]
    return names


def refusal_text() -> str:
    return "您好，您还不是码上商的工作人员或委员，不能使用此功能。如需开通，请联系政协办公室。"


def log_refusal(person: Person, event: ChatEvent) -> None:
    log.warning("refused %s from %s (%s): %r", event.channel, event.sender, person.actor, excerpt(event.text, 60))
