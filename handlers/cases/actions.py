"""What staff and members do to a case, independent of how the command arrived.

Each action checks the state machine (models.state), records the actor on the timeline, updates the
triage queue, and tells the people concerned: the citizen (always with the tracking code), the
member, the triage group. Errors a person should read are raised as `CommandError` in Chinese.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
from tortoise.transactions import in_transaction

from handlers import payloads
from handlers.cases import queue as triage_queue
from handlers.cases.deadlines import mark_replied, mark_triaged, schedule_deadline
from handlers.cases.masking import excerpt
from handlers.cases.media import media_link_url
from handlers.cases.outbox import send_to_citizen, send_to_member, send_to_triage
from handlers.cases.suggest import open_workload, suggest_category, suggest_member
from handlers.cases.visits import schedule_return_visit
from handlers.miniprogram.identity import learn_unionid
from handlers.settings import Settings
from handlers.texts import citizen as citizen_texts
from handlers.texts import commands as command_texts
from handlers.texts import member as member_texts
from handlers.texts import staff as staff_texts
from handlers.texts.markdown import escape
from models.after_commit import collecting, run_all
from models.entities import Case, CaseMessage, CaseSource, CaseState, Category, Department, Member
from models.jobs import Job
from models.sla import format_deadline_zh
from models.state import (
    OWES_REPLY,
    CommandRefused,
    IllegalTransition,
    Refusal,
    Transition,
    apply_transition,
    check_holder,
    check_merge,
    check_not_terminal,
    holder_id,
    record_event,
)
from models.timeutil import now
from models.tracking import find_code


class CommandError(Exception):
    """A command that cannot be carried out; the message is shown to the person as is."""


# ---- lookups -------------------------------------------------------------------------------------


async def find_case(text: str, settings: Settings) -> Case:
    check = find_code(text, settings.tracking_prefix)
    if check is None:
        raise CommandError(command_texts.not_a_code(text, settings.tracking_prefix))
    if not check.valid:
        raise CommandError(command_texts.check_digit_failed(check.code))
    case = await Case.get_or_none(code=check.code).prefetch_related("contact_point", "member", "citizen")
    if case is None:
        raise CommandError(command_texts.no_such_case(check.code))
    return case


async def find_member(text: str) -> Member:
    by_key = await Member.get_or_none(key=text, active=True)
    if by_key is not None:
        return by_key
    matches = await Member.filter(name__contains=text, active=True).order_by("key")
    exact = [m for m in matches if m.name == text]
    if len(exact) == 1:
        return exact[0]
    if not matches:
        raise CommandError(command_texts.no_such_member(text))
    if len(matches) > 1 or len(exact) > 1:
        listed = "、".join(f"{m.name}（{m.key}，{m.sector or '—'}）" for m in (exact or matches)[:10])
        raise CommandError(command_texts.several_members(text, listed, matches[0].key))
    # One member whose name only contains the text ("张" for 张三): asked, never guessed, so that a
    # slip of the keyboard does not hand a case to somebody else.
    guess = matches[0]
    raise CommandError(command_texts.member_guess(text, guess.name, guess.key))


async def find_department(text: str) -> Department:
    department = await Department.get_or_none(key=text)
    if department is None:
        matches = await Department.filter(name__contains=text).order_by("key")
        if len(matches) == 1:
            department = matches[0]
        elif matches:
            listed = "、".join(f"{d.name}（{d.key}）" for d in matches[:10])
            raise CommandError(command_texts.several_departments(listed))
    if department is None:
        raise CommandError(command_texts.no_such_department(text))
    return department


async def find_category(text: str) -> Category:
    category = await Category.get_or_none(key=text) or await Category.get_or_none(name=text)
    if category is None:
        names = "、".join(c.name for c in await Category.all().order_by("id"))
        raise CommandError(command_texts.no_such_category(text, names))
    return category


def where(case: Case) -> str:
    if case.source == CaseSource.HOTLINE:
        return staff_texts.HOTLINE_ZH
    return case.contact_point.name if case.contact_point else "公众号"


async def transition(
    case: Case,
    name: Transition,
    actor: str,
    reason: str = "",
    detail: dict[str, Any] | None = None,
    **changes: Any,
) -> None:
    try:
        await apply_transition(case, name, actor=actor, reason=reason, detail=detail, **changes)
    except IllegalTransition as exc:
        raise CommandError(exc.message_zh) from None


def guard(check: Any, *args: Any) -> None:
    """Run a command guard of models.state; its refusal reaches the person in their words."""
    try:
        check(*args)
    except CommandRefused as exc:
        raise CommandError(command_texts.refused(exc)) from None


async def _first_message(case: Case) -> CaseMessage | None:
    return await CaseMessage.filter(case=case, direction="in").order_by("id").first()


def _content_of(case: Case, first: CaseMessage | None, limit: int) -> str:
    if first is not None and first.msg_type == "voice" and not first.content.strip():
        return staff_texts.unrecognised_voice((first.extra or {}).get("duration_s"))
    return excerpt(escape(first.content if first and first.content else case.summary), limit)


async def first_content(case: Case, limit: int) -> str:
    """The citizen's first message, masked and escaped (it goes into markdown and WeCom texts); a voice
    without recognised text reads 「语音，未识别文字」 (with its duration once the file is stored)."""
    return _content_of(case, await _first_message(case), limit)


# ---- new cases -----------------------------------------------------------------------------------


async def case_card(case: Case, suggested: Member | None, category: Category | None, settings: Settings) -> str:
    first = await _first_message(case)
    content = _content_of(case, first, 80)
    earlier = await _followed_case(case)
    listen = None
    if first is not None and first.msg_type == "voice" and (first.media_id or first.media_path):
        listen = await media_link_url(first, settings)  # served once the media job has stored the file
    return staff_texts.case_card(
        case.code,
        case.urgent,
        where(case),
        category.name if category else None,
        content,
        earlier.code if earlier else None,
        format_deadline_zh(case.assign_due_at) if case.assign_due_at else "—",
        (suggested.name, await open_workload(suggested)) if suggested is not None else None,
        listen,
    )


CASE_CREATED = "case.created"


async def run_case_created(job: Job, redis: aioredis.Redis, settings: Settings) -> dict[str, Any]:
    with collecting() as deferred:
        async with in_transaction():
            case_id = payloads.read(job.payload, payloads.CaseCreated)["case_id"]
            case = await Case.get_or_none(id=case_id).prefetch_related("contact_point", "citizen")
            if case is None or case.state != CaseState.RECEIVED:
                return {"skipped": "case already moved on"}
            await on_case_created(case, redis, settings)
    await run_all(deferred)
    return {"announced": case.code}


async def _followed_case(case: Case) -> Case | None:
    follows_id = case.follows_id  # type: ignore[attr-defined]
    return await Case.get_or_none(id=follows_id) if follows_id else None


async def on_case_created(case: Case, redis: aioredis.Redis, settings: Settings) -> None:
    """A new case: suggest, queue, post the card to the triage group, auto-assign where configured.

    Safe to run twice (a retried job): every step is keyed or checks the state first."""
    category = await suggest_category(case) if case.category_id is None else None  # type: ignore[attr-defined]
    if category is not None:
        case.category = category
        await case.save(update_fields=["category_id"])
        await record_event(case, "category.suggested", "system", category=category.key)
    point = case.contact_point
    suggested = await suggest_member(point)
    await triage_queue.enqueue_case(redis, settings, case)
    await schedule_deadline(case, "assign", settings, case.created_at)
    card = await case_card(case, suggested, category, settings)
    await send_to_triage(card, case=case, key=f"card:{case.code}")
    await learn_unionid(case.citizen)
    if point is not None and point.auto_assign and suggested is not None and case.state == CaseState.RECEIVED:
        await assign(case, suggested, "system:auto-assign", redis, settings)


# ---- triage actions ------------------------------------------------------------------------------


async def _save_marks(case: Case, fields: list[str]) -> None:
    if fields:
        await case.save(update_fields=fields)


def member_card(case: Case, content: str) -> str:
    due = format_deadline_zh(case.reply_due_at) if case.reply_due_at else "—"
    return member_texts.new_assignment(case.code, case.urgent, where(case), content, due)


async def assign(case: Case, member: Member, actor: str, redis: aioredis.Redis, settings: Settings) -> str:
    moment = now()
    former_id: int | None = case.member_id  # type: ignore[attr-defined]
    reply_due = settings.sla.reply_deadline(moment, urgent=case.urgent)
    await transition(
        case,
        Transition.ASSIGN,
        actor,
        detail={"member": member.key},
        member=member,
        assigned_at=moment,
        reply_due_at=reply_due,
        accepted_at=None,  # the members' record counts from this assignment on
        member_replied_at=None,
    )
    await _save_marks(case, mark_triaged(case, moment))
    await schedule_deadline(case, "reply", settings, moment)
    await triage_queue.dequeue_case(redis, settings, case)
    if former_id != member.id:
        await _tell_former_holder(case, former_id, member_texts.handover_reassigned(member.name))
    content = await first_content(case, 200)
    reached = await send_to_member(member, member_card(case, content), case=case)
    due = format_deadline_zh(reply_due)
    await send_to_citizen(case.citizen, citizen_texts.assigned(case.code, member.name, due), case=case)
    return staff_texts.assigned(case.code, member.name, due, reached)


async def transfer(
    case: Case, department: Department, note: str, actor: str, redis: aioredis.Redis, settings: Settings
) -> str:
    former_id = holder_id(case)
    await transition(
        case,
        Transition.TRANSFER,
        actor,
        reason=note,
        detail={"department": department.key},
        department=department,
        member=None,  # the department answers now: no member holds it (nor gets its follow-ups or 重办)
        reply_due_at=settings.sla.reply_deadline(now(), urgent=case.urgent),
    )
    await _save_marks(case, mark_triaged(case, now()))
    await schedule_deadline(case, "reply", settings, now())
    await triage_queue.dequeue_case(redis, settings, case)
    await _tell_former_holder(case, former_id, member_texts.handover_transferred(department.name))
    await send_to_citizen(case.citizen, citizen_texts.transferred(case.code, department.name), case=case)
    return staff_texts.transferred(case.code, department.name)


async def reply(case: Case, text: str, actor: str, by_name: str, redis: aioredis.Redis, settings: Settings) -> str:
    """The answer to the citizen (and to the citizens of cases merged into this one)."""
    if not text.strip():
        raise CommandError(command_texts.empty_reply(case.code))
    moment = now()
    by_member = actor.startswith("member:")
    former_id = holder_id(case) if not by_member else None
    marks: dict[str, Any] = {"last_reply": text, "replied_at": moment}
    if by_member and case.member_replied_at is None:
        marks["member_replied_at"] = moment  # the members' record: the holding member's first answer
    await transition(case, Transition.REPLY, actor, detail={"by": by_name}, **marks)
    await _tell_former_holder(case, former_id, member_texts.HANDOVER_ANSWERED_BY_STAFF)
    await _save_marks(case, mark_triaged(case, moment) + mark_replied(case, moment, settings))
    await schedule_return_visit(case, settings)
    await triage_queue.dequeue_case(redis, settings, case)
    await CaseMessage.create(case=case, direction="out", author=actor, msg_type="text", content=text, created_at=moment)
    await send_to_citizen(case.citizen, citizen_texts.reply(case.code, text, by_name), case=case, purpose="reply")
    merged = await Case.filter(merged_into=case).prefetch_related("citizen")
    for other in merged:
        other.last_reply = text
        other.replied_at = moment
        await other.save(update_fields=["last_reply", "replied_at"])
        await record_event(other, "reply.via_merge", actor, target=case.code)
        await send_to_citizen(
            other.citizen,
            citizen_texts.reply_via_merge(other.code, case.code, text, by_name),
            case=other,
            purpose="reply",
        )
    await send_to_triage(staff_texts.replied(case.code, by_name, text), case=case)
    return staff_texts.reply_queued(case.code, len(merged))


async def merge(case: Case, target: Case, actor: str, redis: aioredis.Redis, settings: Settings) -> str:
    guard(check_merge, case, target)
    former_id = holder_id(case)
    await transition(case, Transition.MERGE, actor, detail={"target": target.code}, merged_into=target)
    await _tell_former_holder(case, former_id, member_texts.handover_merged(target.code))
    await _save_marks(case, mark_triaged(case, now()))
    await triage_queue.dequeue_case(redis, settings, case)
    await record_event(target, "merge.received", actor, source=case.code)
    await send_to_citizen(case.citizen, citizen_texts.merged(case.code, target.code), case=case)
    if target.last_reply and CaseState(target.state) != CaseState.RECEIVED:
        reply_text = citizen_texts.earlier_reply_of_merge(case.code, target.code, target.last_reply)
        await send_to_citizen(case.citizen, reply_text, case=case, purpose="reply")
    return staff_texts.merged(case.code, target.code)


async def reject(case: Case, reason: str, actor: str, redis: aioredis.Redis, settings: Settings) -> str:
    if not reason.strip():
        raise CommandError(command_texts.need_reject_reason(case.code))
    former_id = holder_id(case)
    await transition(case, Transition.REJECT, actor, reason=reason, closed_at=now())
    await _tell_former_holder(case, former_id, member_texts.HANDOVER_REJECTED)
    await _save_marks(case, mark_triaged(case, now()))
    await triage_queue.dequeue_case(redis, settings, case)
    await send_to_citizen(case.citizen, citizen_texts.rejected(case.code, reason), case=case)
    return staff_texts.rejected(case.code)


async def set_category(case: Case, category: Category, actor: str) -> str:
    guard(check_not_terminal, case, Refusal.CATEGORY_FIXED)
    case.category = category
    await case.save(update_fields=["category_id"])
    await record_event(case, "category.set", actor, category=category.key)
    return staff_texts.category_set(case.code, category.name)


async def mark_urgent(case: Case, actor: str, redis: aioredis.Redis, settings: Settings) -> str:
    guard(check_not_terminal, case, Refusal.URGENCY_FIXED)
    if case.urgent:
        return staff_texts.already_urgent(case.code)
    case.urgent = True
    case.assign_due_at = settings.sla.assign_deadline(case.created_at, urgent=True)
    fields = ["urgent", "assign_due_at"]
    if case.assigned_at is not None and CaseState(case.state) in OWES_REPLY:
        # The urgent period from the assignment, but never a moment already past (a case reopened or
        # assigned long ago gets the urgent period from now) and never later than the deadline it had.
        moment = now()
        urgent_due = settings.sla.reply_deadline(case.assigned_at, urgent=True)
        if urgent_due <= moment:
            urgent_due = settings.sla.reply_deadline(moment, urgent=True)
        case.reply_due_at = min(case.reply_due_at, urgent_due) if case.reply_due_at else urgent_due
        fields.append("reply_due_at")
    await case.save(update_fields=fields)
    await record_event(case, "urgent", actor)
    if CaseState(case.state) == CaseState.RECEIVED:
        await triage_queue.enqueue_case(redis, settings, case)
        await schedule_deadline(case, "assign", settings, now())
    elif "reply_due_at" in fields:
        await schedule_deadline(case, "reply", settings, now())
        holder = await Member.get_or_none(id=case.member_id)  # type: ignore[attr-defined]
        if holder is not None and case.reply_due_at is not None:
            notice = member_texts.made_urgent(case.code, format_deadline_zh(case.reply_due_at))
            await send_to_member(holder, notice, case=case)
    due = case.reply_due_at if "reply_due_at" in fields else case.assign_due_at
    return staff_texts.made_urgent(case.code, format_deadline_zh(due) if due else None)


# ---- member actions ------------------------------------------------------------------------------


def ensure_holder(case: Case, member: Member) -> None:
    guard(check_holder, case, member.id)


async def _tell_former_holder(case: Case, former_id: int | None, why: str) -> None:
    """The member who held the case learns it left them (reassigned, transferred), so they stop work on it."""
    if former_id is None:
        return
    former = await Member.get_or_none(id=former_id)
    if former is not None:
        await send_to_member(former, member_texts.handed_over(case.code, why), case=case)


async def accept(case: Case, member: Member) -> str:
    ensure_holder(case, member)
    await transition(case, Transition.ACCEPT, f"member:{member.key}", accepted_at=now())
    due = format_deadline_zh(case.reply_due_at) if case.reply_due_at else "—"
    return member_texts.accepted(case.code, due)


async def ask(case: Case, member: Member, question: str) -> str:
    ensure_holder(case, member)
    if not question.strip():
        raise CommandError(command_texts.need_question(case.code))
    await transition(case, Transition.ASK, f"member:{member.key}", reason=question)
    await CaseMessage.create(
        case=case,
        direction="out",
        author=f"member:{member.key}",
        msg_type="text",
        content=question,
        created_at=now(),
    )
    await send_to_citizen(
        case.citizen, citizen_texts.question(case.code, member.name, question), case=case, purpose="question"
    )
    return member_texts.asked(case.code)


async def return_to_triage(case: Case, member: Member, reason: str, redis: aioredis.Redis, settings: Settings) -> str:
    ensure_holder(case, member)
    if not reason.strip():
        raise CommandError(command_texts.need_return_reason(case.code))
    await transition(
        case,
        Transition.RETURN_TO_TRIAGE,
        f"member:{member.key}",
        reason=reason,
        member=None,
        assign_due_at=settings.sla.assign_deadline(now(), urgent=case.urgent),
        reply_due_at=None,
    )
    await schedule_deadline(case, "assign", settings, now())
    await triage_queue.enqueue_case(redis, settings, case)
    await send_to_triage(staff_texts.returned_by_member(case.code, member.name, reason), case=case)
    return member_texts.returned(case.code)
