"""What staff and members do to a case, independent of how the command arrived.

Each action checks the state machine (models.state), records the actor on the timeline, updates the
triage queue, and tells the people concerned: the citizen (always with the tracking code), the
member, the triage group. Errors a person should read are raised as `CommandError` in Chinese.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
from tortoise.transactions import in_transaction

from handlers.cases import loop
from handlers.cases import queue as triage_queue
from handlers.cases.masking import excerpt
from handlers.cases.outbox import send_to_citizen, send_to_member, send_to_triage
from handlers.cases.suggest import OPEN_WORK, open_workload, suggest_category, suggest_member
from handlers.settings import Settings
from handlers.texts.markdown import bold, escape, font, quote
from models.after_commit import collecting, run_all
from models.entities import TERMINAL_STATES, Case, CaseMessage, CaseState, Category, Department, Member
from models.jobs import Job, enqueue
from models.sla import format_deadline_zh
from models.state import IllegalTransition, Transition, apply_transition, record_event
from models.timeutil import now
from models.tracking import find_code


class CommandError(Exception):
    """A command that cannot be carried out; the message is shown to the person as is."""


# ---- lookups -------------------------------------------------------------------------------------


async def find_case(text: str, settings: Settings) -> Case:
    check = find_code(text, settings.tracking_prefix)
    if check is None:
        raise CommandError(f"「{text}」不是有效的编号（形如 {settings.tracking_prefix}2611230042X）。")
    if not check.valid:
        raise CommandError(f"编号 {check.code} 校验未通过，可能有数字输错或顺序颠倒，请核对。")
    case = await Case.get_or_none(code=check.code).prefetch_related("contact_point", "member", "citizen")
    if case is None:
        raise CommandError(f"没有编号为 {check.code} 的件。")
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
        raise CommandError(f"没有找到委员「{text}」，请用姓名或花名册代号（如 m-zhang）。")
    if len(matches) > 1 or len(exact) > 1:
        listed = "、".join(f"{m.name}（{m.key}，{m.sector or '—'}）" for m in (exact or matches)[:10])
        raise CommandError(f"「{text}」对应多位委员：{listed}。请改用花名册代号，如「派 <编号> {matches[0].key}」。")
    # One member whose name only contains the text ("张" for 张三): asked, never guessed, so that a
    # slip of the keyboard does not hand a case to somebody else.
    guess = matches[0]
    raise CommandError(f"没有叫「{text}」的委员。您是不是要找 {guess.name}（{guess.key}）？请写全名或花名册代号。")


async def find_department(text: str) -> Department:
    department = await Department.get_or_none(key=text)
    if department is None:
        matches = await Department.filter(name__contains=text).order_by("key")
        if len(matches) == 1:
            department = matches[0]
        elif matches:
            raise CommandError("对应多个部门：" + "、".join(f"{d.name}（{d.key}）" for d in matches[:10]))
    if department is None:
        raise CommandError(f"没有找到部门「{text}」。")
    return department


async def find_category(text: str) -> Category:
    category = await Category.get_or_none(key=text) or await Category.get_or_none(name=text)
    if category is None:
        names = "、".join(c.name for c in await Category.all().order_by("id"))
        raise CommandError(f"没有类别「{text}」。可选：{names}")
    return category


def where(case: Case) -> str:
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


async def first_content(case: Case, limit: int) -> str:
    """The citizen's first message, masked and escaped (it goes into markdown and WeCom texts)."""
    first = await CaseMessage.filter(case=case, direction="in").order_by("id").first()
    return excerpt(escape(first.content if first and first.content else case.summary), limit)


# ---- new cases -----------------------------------------------------------------------------------


async def case_card(case: Case, suggested: Member | None, category: Category | None) -> str:
    """The markdown card a new case makes in the triage group; whatever the citizen wrote is escaped."""
    content = await first_content(case, 80)
    lines = [
        bold(f"新诉求 {case.code}") + (" " + font("warning", "急") if case.urgent else ""),
        quote(f"联系点：{escape(where(case))}"),
        quote(f"建议类别：{escape(category.name) if category else '未识别'}"),
        quote(f"内容：{content}"),
        *([quote(f"关联已办结件：{earlier.code}")] if (earlier := await _followed_case(case)) else []),
        quote(f"交办期限：{format_deadline_zh(case.assign_due_at) if case.assign_due_at else '—'}"),
    ]
    if suggested is not None:
        load = await open_workload(suggested)
        name = escape(suggested.name)
        lines.append(f"建议委员：{name}（在办 {load} 件）")
        lines.append(f"派件请发：`派 {case.code} {name}`")
    else:
        lines.append(f"派件请发：`派 {case.code} 委员姓名`；转部门：`转 {case.code} 部门`")
    return "\n".join(lines)


CASE_CREATED = "case.created"


async def announce_new_case(case: Case) -> None:
    """Called in the intake transaction: the rest of a new case's set-up is a durable job, so WeChat
    gets its answer after a handful of writes (the job runs a moment later, and again after a crash)."""
    await enqueue(CASE_CREATED, {"case_id": case.id}, key=f"{CASE_CREATED}:{case.id}", case_id=case.id)


async def run_case_created(job: Job, redis: aioredis.Redis, settings: Settings) -> dict[str, Any]:
    with collecting() as deferred:
        async with in_transaction():
            case = await Case.get_or_none(id=job.payload["case_id"]).prefetch_related("contact_point", "citizen")
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
    await loop.schedule_deadline(case, "assign", settings, case.created_at)
    await send_to_triage(await case_card(case, suggested, category), case=case, key=f"card:{case.code}")
    if point is not None and point.auto_assign and suggested is not None and case.state == CaseState.RECEIVED:
        await assign(case, suggested, "system:auto-assign", redis, settings)


# ---- triage actions ------------------------------------------------------------------------------


async def _save_marks(case: Case, fields: list[str]) -> None:
    if fields:
        await case.save(update_fields=fields)


def member_card(case: Case, content: str) -> str:
    due = format_deadline_zh(case.reply_due_at) if case.reply_due_at else "—"
    code = case.code
    return (
        f"【新交办】编号 {code}{'（急件）' if case.urgent else ''}\n"
        f"联系点：{escape(where(case))}\n内容：{content}\n请于 {due} 前答复。\n"
        f"回复「收 {code}」接收；「答 {code} 答复内容」答复群众；「问 {code} 问题」向群众了解情况；"
        f"「退回 {code} 原因」退回分拣。"
    )


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
    )
    await _save_marks(case, loop.mark_triaged(case, moment))
    await loop.schedule_deadline(case, "reply", settings, moment)
    await triage_queue.dequeue_case(redis, settings, case)
    if former_id != member.id:
        await _tell_former_holder(case, former_id, f"已改由委员{member.name}办理")
    content = await first_content(case, 200)
    reached = await send_to_member(member, member_card(case, content), case=case)
    await send_to_citizen(
        case.citizen,
        f"您的诉求（编号 {case.code}）已交由政协委员{member.name}办理，将于 {format_deadline_zh(reply_due)} 前答复您。",
        case=case,
    )
    note = "" if reached else f"（注意：委员{member.name}尚未绑定企业微信或公众号，请电话通知）"
    return f"已将 {case.code} 交办给委员{member.name}，答复期限 {format_deadline_zh(reply_due)}。{note}"


async def transfer(
    case: Case, department: Department, note: str, actor: str, redis: aioredis.Redis, settings: Settings
) -> str:
    former_id = _holder_id(case)
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
    await _save_marks(case, loop.mark_triaged(case, now()))
    await loop.schedule_deadline(case, "reply", settings, now())
    await triage_queue.dequeue_case(redis, settings, case)
    await _tell_former_holder(case, former_id, f"已转交{department.name}办理")
    await send_to_citizen(
        case.citizen,
        f"您的诉求（编号 {case.code}）已转交{department.name}办理，办理结果将及时告知您。",
        case=case,
    )
    return f"已将 {case.code} 转交{department.name}。部门答复后，请用「答 {case.code} 答复内容」录入，系统会转告群众。"


async def reply(case: Case, text: str, actor: str, by_name: str, redis: aioredis.Redis, settings: Settings) -> str:
    """The answer to the citizen (and to the citizens of cases merged into this one)."""
    if not text.strip():
        raise CommandError(f"答复内容不能为空：「答 {case.code} 答复内容」。")
    moment = now()
    former_id = _holder_id(case) if not actor.startswith("member:") else None
    await transition(case, Transition.REPLY, actor, detail={"by": by_name}, last_reply=text, replied_at=moment)
    await _tell_former_holder(case, former_id, "已由工作人员答复群众")
    await _save_marks(case, loop.mark_triaged(case, moment) + loop.mark_replied(case, moment, settings))
    await loop.schedule_return_visit(case, settings)
    await triage_queue.dequeue_case(redis, settings, case)
    await CaseMessage.create(case=case, direction="out", author=actor, msg_type="text", content=text, created_at=moment)
    await send_to_citizen(case.citizen, f"【答复】您的诉求（编号 {case.code}）：{text}\n——{by_name}", case=case)
    merged = await Case.filter(merged_into=case).prefetch_related("citizen")
    for other in merged:
        other.last_reply = text
        other.replied_at = moment
        await other.save(update_fields=["last_reply", "replied_at"])
        await record_event(other, "reply.via_merge", actor, target=case.code)
        await send_to_citizen(
            other.citizen,
            f"【答复】您的诉求（编号 {other.code}，已与 {case.code} 合并办理）：{text}\n——{by_name}",
            case=other,
        )
    await send_to_triage(
        f"{bold(f'{case.code} 已答复')}（{escape(by_name)}）\n{quote(excerpt(escape(text), 120))}", case=case
    )
    extra = f"，并转告了合并的 {len(merged)} 件" if merged else ""
    # Queued, not yet delivered: the outbox sends it (and keeps trying while WeChat is down).
    return f"已答复 {case.code}，答复已排入发送队列，将发给群众{extra}。"


async def merge(case: Case, target: Case, actor: str, redis: aioredis.Redis, settings: Settings) -> str:
    if case.id == target.id:
        raise CommandError("不能把一件并入它自己。")
    if CaseState(target.state) in {CaseState.MERGED, CaseState.REJECTED}:
        raise CommandError(f"目标件 {target.code} 当前状态为「{target.state_zh}」，不能作为并案目标。")
    former_id = _holder_id(case)
    await transition(case, Transition.MERGE, actor, detail={"target": target.code}, merged_into=target)
    await _tell_former_holder(case, former_id, f"已并入同类件 {target.code} 一并办理")
    await _save_marks(case, loop.mark_triaged(case, now()))
    await triage_queue.dequeue_case(redis, settings, case)
    await record_event(target, "merge.received", actor, source=case.code)
    await send_to_citizen(
        case.citizen,
        f"您的诉求（编号 {case.code}）与同类问题（编号 {target.code}）合并办理，答复将同时告知您。",
        case=case,
    )
    if target.last_reply and CaseState(target.state) not in {CaseState.RECEIVED}:
        await send_to_citizen(
            case.citizen,
            f"【答复】关于 {case.code}（已与 {target.code} 合并）：{target.last_reply}",
            case=case,
        )
    return f"已将 {case.code} 并入 {target.code}，其群众会收到 {target.code} 的答复。"


async def reject(case: Case, reason: str, actor: str, redis: aioredis.Redis, settings: Settings) -> str:
    if not reason.strip():
        raise CommandError(f"请说明不予受理的理由：「退 {case.code} 理由」。")
    former_id = _holder_id(case)
    await transition(case, Transition.REJECT, actor, reason=reason, closed_at=now())
    await _tell_former_holder(case, former_id, "经审核不予受理")
    await _save_marks(case, loop.mark_triaged(case, now()))
    await triage_queue.dequeue_case(redis, settings, case)
    await send_to_citizen(
        case.citizen,
        f"您的诉求（编号 {case.code}）经审核不予受理，原因：{reason}。如有疑问，欢迎继续留言。",
        case=case,
    )
    return f"已对 {case.code} 不予受理，已告知群众原因。"


async def set_category(case: Case, category: Category, actor: str) -> str:
    if CaseState(case.state) in TERMINAL_STATES:
        raise CommandError(f"编号 {case.code} 已「{case.state_zh}」，不能再改类别。")
    case.category = category
    await case.save(update_fields=["category_id"])
    await record_event(case, "category.set", actor, category=category.key)
    return f"已将 {case.code} 的类别设为「{category.name}」。"


async def mark_urgent(case: Case, actor: str, redis: aioredis.Redis, settings: Settings) -> str:
    if CaseState(case.state) in TERMINAL_STATES:
        raise CommandError(f"编号 {case.code} 已「{case.state_zh}」，无需加急。")
    if case.urgent:
        return f"{case.code} 已是急件。"
    case.urgent = True
    case.assign_due_at = settings.sla.assign_deadline(case.created_at, urgent=True)
    fields = ["urgent", "assign_due_at"]
    if case.assigned_at is not None and CaseState(case.state) not in {
        CaseState.REPLIED,
        CaseState.RETURN_VISIT,
    }:
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
        await loop.schedule_deadline(case, "assign", settings, now())
    elif "reply_due_at" in fields:
        await loop.schedule_deadline(case, "reply", settings, now())
        holder = await Member.get_or_none(id=case.member_id)  # type: ignore[attr-defined]
        if holder is not None and case.reply_due_at is not None:
            due_text = format_deadline_zh(case.reply_due_at)
            notice = f"【急件】编号 {case.code} 已标为急件，答复期限提前到 {due_text}，请抓紧办理。"
            await send_to_member(holder, notice, case=case)
    due = case.reply_due_at if "reply_due_at" in fields else case.assign_due_at
    return (
        f"已将 {case.code} 标为急件，期限提前到 {format_deadline_zh(due)}。" if due else f"已将 {case.code} 标为急件。"
    )


# ---- member actions ------------------------------------------------------------------------------


def ensure_holder(case: Case, member: Member) -> None:
    if CaseState(case.state) not in OPEN_WORK:  # transferred to a department, answered, closed…
        raise CommandError(f"编号 {case.code} 当前状态为「{case.state_zh}」，已不在您的办理中，无需再办理。")
    if case.member_id != member.id:  # type: ignore[attr-defined]
        raise CommandError(f"编号 {case.code} 不是交办给您的件，不能办理。")


def _holder_id(case: Case) -> int | None:
    """The member working on the case now (assigned and not yet answered), if any."""
    held = CaseState(case.state) in OPEN_WORK
    return case.member_id if held else None  # type: ignore[attr-defined]


async def _tell_former_holder(case: Case, former_id: int | None, why: str) -> None:
    """The member who held the case learns it left them (reassigned, transferred), so they stop work on it."""
    if former_id is None:
        return
    former = await Member.get_or_none(id=former_id)
    if former is not None:
        await send_to_member(former, f"【交办变更】编号 {case.code} {why}，您无需再办理。谢谢！", case=case)


async def accept(case: Case, member: Member) -> str:
    ensure_holder(case, member)
    await transition(case, Transition.ACCEPT, f"member:{member.key}")
    due = format_deadline_zh(case.reply_due_at) if case.reply_due_at else "—"
    return f"已接收 {case.code}，请于 {due} 前答复。"


async def ask(case: Case, member: Member, question: str) -> str:
    ensure_holder(case, member)
    if not question.strip():
        raise CommandError(f"请写明要问群众的问题：「问 {case.code} 问题」。")
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
        case.citizen,
        f"关于您的诉求（编号 {case.code}），委员{member.name}想进一步了解：{question}\n请直接回复文字、图片或语音。",
        case=case,
    )
    return f"已向 {case.code} 的群众提问，群众的回复会转给您。"


async def return_to_triage(case: Case, member: Member, reason: str, redis: aioredis.Redis, settings: Settings) -> str:
    ensure_holder(case, member)
    if not reason.strip():
        raise CommandError(f"请说明退回原因：「退回 {case.code} 原因」。")
    await transition(
        case,
        Transition.RETURN_TO_TRIAGE,
        f"member:{member.key}",
        reason=reason,
        member=None,
        assign_due_at=settings.sla.assign_deadline(now(), urgent=case.urgent),
        reply_due_at=None,
    )
    await loop.schedule_deadline(case, "assign", settings, now())
    await triage_queue.enqueue_case(redis, settings, case)
    await send_to_triage(
        f"**{case.code} 被退回分拣**\n> 委员：{escape(member.name)}\n> 原因：{excerpt(escape(reason), 120)}\n"
        f"请重新派件：`派 {case.code} 委员姓名`",
        case=case,
    )
    return f"已将 {case.code} 退回分拣，原因已告知工作人员。"


async def forward_to_member(case: Case, text: str) -> None:
    """A citizen's follow-up on a case a member holds (escaped: WeCom and WeChat texts make links of <a> tags)."""
    member = await Member.get_or_none(id=case.member_id)  # type: ignore[attr-defined]
    if member is not None:
        await send_to_member(member, f"【群众补充】编号 {case.code}：{excerpt(escape(text), 500)}", case=case)
