"""Staff in the triage group (@bot) or in single chat with the WeCom app: one line per action."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import redis.asyncio as aioredis

from handlers.admin.accounts import can_act
from handlers.cases import actions, figures, visits
from handlers.cases import queue as triage_queue
from handlers.cases.actions import CommandError
from handlers.cases.masking import excerpt
from handlers.cases.outbox import send_report_file
from handlers.cases.people import Person, provide_person
from handlers.commands import CommandLine, command_filter, event_text, parse
from handlers.events import ChatEvent, Reply
from handlers.reports import hotspots, leads, similar
from handlers.routing import Router
from handlers.settings import Settings
from handlers.texts import commands as command_texts
from handlers.texts import member as member_texts
from handlers.texts import reports as report_texts
from handlers.texts import staff as texts
from handlers.texts.markdown import escape
from handlers.texts.staff import COMMANDS as STAFF_COMMANDS
from handlers.texts.staff import VERBS
from handlers.topics import opinions, topics
from models.entities import Case, CaseEvent, CaseState, Member, Staff
from models.sla import format_deadline_zh
from models.state import ESCALATED_AFTER_REOPENS, OWES_REPLY, TRANSITION_ZH, Transition, check_visit
from models.timeutil import now

router = Router("staff", event_type=ChatEvent)
HOTSPOTS = "热点"  # 统计 热点
provide_person(router)

__all__ = ["STAFF_COMMANDS", "VERBS", "router"]


def help_text() -> str:
    return texts.help_text()


def staff_sender(person: Person) -> dict[str, Any] | None:
    return {"staff": person.staff} if person.staff is not None else None


def actor_of(staff: Staff) -> str:
    return f"staff:{staff.key}"


async def _command_reply(coro: Any) -> Reply:
    try:
        return Reply(await coro)
    except CommandError as exc:
        return Reply(str(exc))


def _need(command: CommandLine, count: int) -> None:
    if len(command.args) < count:
        raise CommandError(command_texts.usage(texts.usage(command.verb)))


@router.handler(staff_sender, command_filter(VERBS))
async def handle_staff_command(
    command: CommandLine, staff: Staff, event: ChatEvent, redis: aioredis.Redis, settings: Settings
) -> Reply:
    return await _command_reply(run_staff_command(command, staff, event, redis, settings))


CHAT = "chat"
CONSOLE = "console"  # the web console: the same commands, marked on the timeline


async def run_staff_command(
    command: CommandLine,
    staff: Staff,
    event: ChatEvent | None,
    redis: aioredis.Redis,
    settings: Settings,
    via: str = CHAT,
) -> str:
    """One staff command, from the chat (`event`) or (`via=CONSOLE`, no event) from a form of the web
    console."""
    actor = actor_of(staff)
    verb = command.verb
    if not can_act(staff) and verb not in texts.READ_ONLY_VERBS:
        raise CommandError(texts.viewer_refused(verb))
    if verb == "帮助":
        return help_text()
    if verb in LEAD_VERBS:
        try:
            return await lead_command(command, staff, event, settings)
        except leads.TopicError as exc:
            raise CommandError(str(exc)) from exc
    if verb == "待办":
        return await queue_text(redis, settings)
    if verb == "统计":
        if command.rest == HOTSPOTS:
            return report_texts.hotspots_chat(await hotspots.find_hotspots())
        member = await actions.find_member(command.rest) if command.rest else None
        return await figures.stats_text(member)
    if verb in TOPIC_VERBS:
        return await _topic_command(command, actor, settings)
    _need(command, 1)
    case = await actions.find_case(command.args[0], settings)
    if verb == "类似":  # reads only: nothing on the case's timeline
        found = await similar.similar_to(case, settings.similar_threshold, settings.similar_max_cases)
        return report_texts.similar_cases_chat(found)
    # The command line goes on the timeline before what it does; a refused one is taken off again.
    entry = await CaseEvent.create(
        case=case,
        kind="command",
        actor=actor,
        detail={"line": f"{verb} {command.rest}"[:500], **({"via": via} if via != CHAT else {})},
        created_at=now(),
    )
    try:
        return await _run_case_command(command, case, actor, redis, settings)
    except CommandError:
        await entry.delete()
        raise


TOPIC_VERBS = frozenset({"议题", "通过", "不通过", "立案"})


async def _topic_command(command: CommandLine, actor: str, settings: Settings) -> str:
    """码上商量: the open topics, a topic's top opinions, reviewing an opinion, making a case of one."""
    try:
        if command.verb == "议题":
            if command.args:
                return texts.top_opinions(command.args[0], await opinions.top_lines(command.args[0]))
            return texts.open_topics(await topics.open_topic_counts())
        _need(command, 1)
        if command.verb == "立案":
            return await opinions.make_case(command.args[0], actor, settings)
        return await opinions.review(command.args[0], approve=command.verb == "通过")
    except opinions.OpinionError as exc:
        raise CommandError(str(exc)) from None


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
        return await actions.reply(case, command.rest_after(1), actor, texts.STAFF_SIGNATURE, redis, settings)
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
    if verb == "电话":  # unmasked: the command line above records who asked
        return texts.citizen_phones(case.code, await visits.citizen_phones(case))
    if verb == "回访":
        _need(command, 2)
        answer = visits.parse_survey_answer(command.rest_after(1))
        if answer is None:
            raise CommandError(texts.visit_usage(case.code))
        actions.guard(check_visit, case)
        await visits.record_visit(case, answer.score, answer.comment, actor, "phone", redis, settings)
        return texts.visit_recorded(case.code, answer.score)
    raise CommandError(help_text())  # pragma: no cover - every verb is handled above


LEAD_VERBS = frozenset({"线索", "专题", "报告"})
REMOVE = "移除"  # 专题 <名> 移除 <编号>


async def lead_command(command: CommandLine, staff: Staff, event: ChatEvent | None, settings: Settings) -> str:
    """`线索`, `专题`, `报告`: leads and their topics (专题, handlers/reports/leads.py), not 码上商量's (议题)."""
    actor, prefix = actor_of(staff), settings.tracking_prefix
    args = command.args
    if command.verb == "线索":
        if len(args) < 2:
            raise CommandError(command_texts.usage(texts.usage("线索")))
        result = await leads.mark_leads(args[:-1], args[-1], actor, prefix)
        return texts.leads_marked(result.topic, result.created, result.added, result.already, result.total)
    if command.verb == "专题":
        if not args:
            return report_texts.topics_chat(await leads.list_topics())
        if len(args) >= 2 and args[-2] == REMOVE:
            name = " ".join(args[:-2])
            code, left = await leads.remove_lead(name, args[-1], actor, prefix)
            return texts.lead_removed(code, name, left)
        if REMOVE in args:
            raise CommandError(texts.topic_usage())
        return report_texts.topic_chat(await leads.topic_figures(command.rest))
    # 报告 <专题名>: the draft is written and sent as a file by a job (bot/outbound/wecom.py)
    if not args:
        raise CommandError(command_texts.usage(texts.usage("报告")))
    topic = await leads.find_topic(command.rest)
    if not await leads.LeadTopicCase.filter(topic=topic).exists():
        raise CommandError(texts.topic_empty(topic.name))
    asker = event.sender if event is not None else staff.wecom_userid
    await send_report_file(topic.name, None if settings.triage_group_files else asker)
    return texts.report_queued(topic.name, settings.triage_group_files)


@router.handler(staff_sender)
async def handle_unknown_staff_command(event: ChatEvent) -> Reply:
    text = event_text(event) or ""
    if not text.strip():  # "@码上商" and nothing else
        return Reply(help_text())
    member_only = parse(text, member_texts.VERBS)
    if member_only is not None:
        return Reply(texts.member_command(member_only.verb))
    return Reply(texts.not_understood(text))


async def queue_text(redis: aioredis.Redis, settings: Settings, limit: int = 10) -> str:
    moment = now()
    waiting = await triage_queue.queue_size(redis, settings)
    cases = await triage_queue.queued_cases(redis, settings, limit)
    late_replies = Case.filter(state__in=list(OWES_REPLY), reply_due_at__lt=moment)
    overdue_reply = await late_replies.order_by("-urgent", "reply_due_at").limit(limit).prefetch_related("member")
    overdue_reply_count = await late_replies.count()
    overdue_assign = await triage_queue.overdue_count(redis, settings, moment)
    lines = [texts.queue_head(waiting, overdue_assign, overdue_reply_count)]
    for case in cases:
        late = bool(case.assign_due_at and case.assign_due_at < moment)
        due = format_deadline_zh(case.assign_due_at) if case.assign_due_at else "—"
        lines.append(texts.queue_case(case.code, case.urgent, late, actions.where(case), case.summary, due))
    if waiting > len(cases):
        lines.append(texts.queue_more(waiting - len(cases)))
    late_codes = set()
    for case in overdue_reply:
        due = format_deadline_zh(case.reply_due_at) if case.reply_due_at else "—"
        lines.append(texts.queue_reply_overdue(case.code, case.member.name if case.member else None, due))
        late_codes.add(case.code)
    # Escalated after a second 不满意 (models/state.py: is_escalated): listed until replied again.
    escalated = Case.filter(state=CaseState.REOPENED, reopen_count__gte=ESCALATED_AFTER_REOPENS)
    for case in await escalated.order_by("-urgent", "reply_due_at").limit(limit).prefetch_related("member"):
        if case.code not in late_codes:  # an overdue one is listed above already
            due = format_deadline_zh(case.reply_due_at) if case.reply_due_at else "—"
            member = case.member.name if case.member else None
            lines.append(texts.queue_escalated(case.code, case.reopen_count, member, due))
    for case in await visits.phone_visit_tasks(limit):
        lines.append(texts.queue_phone_visit(case.code))
    if len(lines) == 1:
        lines.append(texts.QUEUE_EMPTY)
    return "\n".join(lines)


async def timeline_text(case: Case, limit: int = 20) -> str:
    events = await CaseEvent.filter(case=case).order_by("-created_at", "-id").limit(limit)
    member = case.member.name if case.member else None
    content = await actions.first_content(case, 120)
    lines = texts.timeline_head(case.code, actions.where(case), case.state_zh, member, content)
    for when, who, what in await timeline_entries(list(reversed(events))):
        lines.append(f"{format_deadline_zh(when)} {who} {what}")
    return "\n".join(lines)


async def timeline_entries(events: list[CaseEvent]) -> list[tuple[datetime, str, str]]:
    """(when, who, what) of each event, as `查` shows them (what strangers wrote escaped for markdown);
    the web console shows the same words."""
    who_is = await actor_names([event.actor for event in events] + [str(e.detail.get("to", "")) for e in events])
    entries = []
    for index, event in enumerate(events):
        if event.kind.startswith("state:"):
            what = TRANSITION_ZH.get(Transition(event.kind[6:]), event.kind)
            reason, target = event.detail.get("reason"), event.detail.get("target")
            what += f"（{excerpt(escape(str(reason)), 40)}）" if reason else ""
            what += f"，并入 {target}" if target else ""
        else:
            what = texts.EVENT_ZH.get(event.kind, event.kind)
            if event.kind == "message.out":
                channel, to = str(event.detail.get("channel", "")), str(event.detail.get("to", ""))
                recipient = f"，给{who_is.get(to, escape(to))}" if to else ""
                what += f"（{escape(texts.CHANNEL_ZH.get(channel, channel))}{recipient}）"
            if event.kind == "command":
                line = _without_reason(str(event.detail.get("line", "")), event, events[index + 1 : index + 2])
                what += f"：{excerpt(escape(line), 40)}"
                what += texts.VIA_CONSOLE if event.detail.get("via") == CONSOLE else ""
            if event.kind.startswith("lead."):
                what += f"「{escape(str(event.detail.get('topic', '')))}」"
            if event.kind == "merge.received":
                what += escape(str(event.detail.get("source", "")))  # the case merged into this one
        entries.append((event.created_at, who_is.get(event.actor, escape(event.actor)), what))
    return entries


def _without_reason(line: str, command: CaseEvent, following: list[CaseEvent]) -> str:
    """A command whose reason the change it made shows (退 <编号> <理由> → 不予受理（理由）): the reason
    once, on the change, and the command line without it."""
    change = following[0] if following else None
    if change is None or not change.kind.startswith("state:") or change.actor != command.actor:
        return line
    reason = str(change.detail.get("reason") or "").strip()
    stripped = line.rstrip()
    return stripped[: -len(reason)].rstrip() if reason and stripped.endswith(reason) else line


async def actor_names(actors: list[str]) -> dict[str, str]:
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
            wecom[str(member.wecom_userid)] = texts.member_name(member.name)
        for person in await Staff.filter(wecom_userid__in=keys["wecom"]):
            wecom[str(person.wecom_userid)] = texts.staff_name(person.name)
    fixed = texts.ACTOR_ZH
    names = {}
    for actor in actors:
        kind, _, key = actor.partition(":")
        if actor in fixed:
            names[actor] = fixed[actor]
        elif kind == "citizen":
            names[actor] = texts.ACTOR_ZH["citizen"]
        elif kind == "staff" and key in staff:
            names[actor] = texts.staff_name(staff[key])
        elif kind == "member" and key in members:
            names[actor] = texts.member_name(members[key])
        elif kind == "wecom" and key in wecom:
            names[actor] = wecom[key]
    return names
