"""Closing the loop: deadline timers, reminders and escalation, the return visit, the figures.

Timers are durable jobs (models.jobs) keyed by case, stage, deadline and round, so scheduling twice
is harmless; a timer whose case has moved on (assigned, replied, deadline changed) does nothing.
A restart or a Redis flush loses none and fires none twice: the job rows are the state.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import redis.asyncio as aioredis

from handlers.cases.masking import excerpt
from handlers.cases.outbox import send_to_citizen, send_to_member, send_to_triage, send_to_wecom_user
from handlers.settings import Settings
from handlers.texts.markdown import escape
from models.entities import Case, CaseState, Member, Staff, StaffRole
from models.jobs import Job, enqueue
from models.sla import format_deadline_zh
from models.state import Transition, apply_transition, record_event
from models.timeutil import now

SLA_REMIND = "sla.remind"
SLA_OVERDUE = "sla.overdue"
VISIT_START = "visit.start"
VISIT_TIMEOUT = "visit.timeout"
LOOP_JOB_KINDS = (SLA_REMIND, SLA_OVERDUE, VISIT_START, VISIT_TIMEOUT)

OPEN_WORK = (CaseState.ASSIGNED, CaseState.ACCEPTED, CaseState.NEEDS_INFO, CaseState.REOPENED)
STAGE_ZH = {"assign": "交办", "reply": "答复"}
SATISFACTION_ZH = {1: "满意", 2: "基本满意", 3: "不满意"}


# ---- bookkeeping for the figures -----------------------------------------------------------------


def mark_triaged(case: Case, moment: datetime) -> list[str]:
    """First triage decision (assign, transfer, reply, merge, reject): on time or not."""
    if case.triaged_at is not None:
        return []
    case.triaged_at = moment
    case.triaged_on_time = case.assign_due_at is None or moment <= case.assign_due_at
    return ["triaged_at", "triaged_on_time"]


def mark_replied(case: Case, moment: datetime, settings: Settings) -> list[str]:
    if case.first_replied_at is not None:
        return []
    due = case.reply_due_at or settings.sla.reply_deadline(case.created_at, urgent=case.urgent)
    case.first_replied_at = moment
    case.replied_on_time = moment <= due
    return ["first_replied_at", "replied_on_time"]


# ---- deadline timers -----------------------------------------------------------------------------


def _due_of(case: Case, stage: str) -> datetime | None:
    return case.assign_due_at if stage == "assign" else case.reply_due_at


def _stage_active(case: Case, stage: str) -> bool:
    state = CaseState(case.state)
    if stage == "assign":
        return state == CaseState.RECEIVED
    return state in OPEN_WORK or state == CaseState.TRANSFERRED


async def schedule_deadline(case: Case, stage: str, settings: Settings, start: datetime) -> None:
    """A reminder before the deadline and an overdue notice at it (idempotent)."""
    due = _due_of(case, stage)
    if due is None:
        return
    stamp = int(due.timestamp())
    payload = {"case_id": case.id, "stage": stage, "due": due.isoformat(), "round": 1}
    remind_at = settings.sla.reminder_at(start, due)
    await enqueue(SLA_REMIND, payload, key=f"sla:remind:{stage}:{case.id}:{stamp}", case_id=case.id, run_at=remind_at)
    await enqueue(SLA_OVERDUE, payload, key=f"sla:overdue:{stage}:{case.id}:{stamp}:1", case_id=case.id, run_at=due)


async def _timer_case(job: Job) -> Case | None:
    """The case if this timer still applies to it, else None (the case moved on)."""
    case = await Case.get_or_none(id=job.payload["case_id"]).prefetch_related("member", "contact_point", "citizen")
    if case is None:
        return None
    stage = job.payload["stage"]
    due = _due_of(case, stage)
    if (
        not _stage_active(case, stage)
        or due is None
        or int(due.timestamp()) != int(datetime.fromisoformat(job.payload["due"]).timestamp())
    ):
        return None
    return case


def _holder(case: Case) -> str:
    if case.member is not None:
        return f"委员{escape(case.member.name)}"
    return "工作人员"


async def run_reminder(job: Job) -> dict[str, Any]:
    case = await _timer_case(job)
    if case is None:
        return {"skipped": "case moved on"}
    stage = job.payload["stage"]
    due = format_deadline_zh(datetime.fromisoformat(job.payload["due"]))
    await record_event(case, "sla.reminder", "system", stage=stage, due=job.payload["due"])
    if stage == "reply" and case.member is not None:
        await send_to_member(
            case.member,
            f"【催办】编号 {case.code} 请于 {due} 前答复群众。回复「答 {case.code} 答复内容」即可。",
            case=case,
        )
    else:
        await send_to_triage(
            f"**【催办】{case.code}** {STAGE_ZH[stage]}期限 {due} 将到\n> {excerpt(escape(case.summary), 60)}\n"
            + (f"派件：`派 {case.code} 委员姓名`" if stage == "assign" else f"部门答复后录入：`答 {case.code} 内容`"),
            case=case,
        )
    return {"reminded": stage}


async def run_overdue(job: Job, settings: Settings) -> dict[str, Any]:
    case = await _timer_case(job)
    if case is None:
        return {"skipped": "case moved on"}
    stage, round_no = job.payload["stage"], int(job.payload["round"])
    due = datetime.fromisoformat(job.payload["due"])
    await record_event(case, "sla.overdue", "system", stage=stage, due=job.payload["due"], round=round_no)
    headline = f"**【超期】{case.code}** 已超过{STAGE_ZH[stage]}期限 {format_deadline_zh(due)}"
    if round_no > 1:
        headline = f"**【督办·第{round_no}次超期】{case.code}** 仍未{STAGE_ZH[stage]}（期限 {format_deadline_zh(due)}）"
    await send_to_triage(f"{headline}\n> 承办：{_holder(case)}\n> {excerpt(escape(case.summary), 60)}", case=case)
    if stage == "reply" and case.member is not None:
        await send_to_member(
            case.member,
            f"【超期提醒】编号 {case.code} 已超过答复期限，请尽快答复：「答 {case.code} 答复内容」。",
            case=case,
        )
    if round_no > 1:
        for admin in await Staff.filter(role=StaffRole.ADMIN, active=True):
            await send_to_wecom_user(
                admin.wecom_userid,
                f"【督办】编号 {case.code} 第{round_no}次超期（{STAGE_ZH[stage]}），承办：{_holder(case)}。",
                case=case,
            )
    # Nothing is silent: until the case moves on, it escalates again after another period.
    allowed = settings.sla.assign_within if stage == "assign" else settings.sla.reply_within
    if case.urgent:
        allowed *= settings.sla.urgent_factor
    next_at = settings.sla.calendar.add(now(), allowed)
    payload = {**job.payload, "round": round_no + 1}
    await enqueue(
        SLA_OVERDUE,
        payload,
        key=f"sla:overdue:{stage}:{case.id}:{int(due.timestamp())}:{round_no + 1}",
        case_id=case.id,
        run_at=next_at,
    )
    return {"overdue": stage, "round": round_no}


# ---- the return visit ----------------------------------------------------------------------------


async def schedule_return_visit(case: Case, settings: Settings) -> None:
    replied = case.replied_at or now()
    await enqueue(
        VISIT_START,
        {"case_id": case.id, "replied_at": replied.isoformat()},
        key=f"visit:start:{case.id}:{int(replied.timestamp() * 1000)}",
        case_id=case.id,
        run_at=settings.sla.return_visit_due(replied),
    )


def survey_text(case: Case) -> str:
    return (
        f"【回访】您的诉求（编号 {case.code}）已答复：{excerpt(case.last_reply or '', 100)}\n"
        "请问您对办理结果是否满意？请回复数字：1 满意　2 基本满意　3 不满意（可在数字后写下您的意见）。"
    )


async def run_visit_start(job: Job, settings: Settings) -> dict[str, Any]:
    case = await Case.get_or_none(id=job.payload["case_id"]).prefetch_related("citizen")
    if case is None or case.state != CaseState.REPLIED:
        return {"skipped": "not waiting for a return visit"}
    moment = now()
    # A new survey (also after a reopen): the earlier visit's answer does not answer this one.
    await apply_transition(
        case, Transition.START_RETURN_VISIT, actor="system", visit_sent_at=moment, visit_recorded_at=None
    )
    await send_to_citizen(case.citizen, survey_text(case), case=case)
    await enqueue(
        VISIT_TIMEOUT,
        {"case_id": case.id, "sent_at": moment.isoformat()},
        key=f"visit:timeout:{case.id}:{int(moment.timestamp() * 1000)}",
        case_id=case.id,
        run_at=settings.sla.return_visit_deadline(moment),
    )
    return {"survey": "sent"}


async def run_visit_timeout(job: Job) -> dict[str, Any]:
    case = await Case.get_or_none(id=job.payload["case_id"])
    sent_at = datetime.fromisoformat(job.payload["sent_at"])
    if (
        case is None
        or case.state != CaseState.RETURN_VISIT
        or (case.visit_recorded_at is not None and case.visit_recorded_at >= sent_at)
    ):
        return {"skipped": "answered"}
    await record_event(case, "visit.phone_task", "system")
    await send_to_triage(
        f"**【电话回访】{case.code}** 群众未答复回访问卷，请电话回访后发送：`回访 {case.code} 1|2|3 备注`"
        "（1 满意，2 基本满意，3 不满意）",
        case=case,
    )
    return {"phone_task": True}


async def record_visit(
    case: Case, score: int, comment: str, actor: str, channel: str, redis: aioredis.Redis, settings: Settings
) -> str:
    """A return visit answered (by the citizen, or recorded by staff after a phone call)."""
    moment = now()
    if case.state == CaseState.REPLIED:
        await apply_transition(case, Transition.START_RETURN_VISIT, actor=actor, visit_sent_at=moment)
    common: dict[str, Any] = {
        "satisfaction": score,
        "satisfaction_comment": comment or None,
        "visit_recorded_at": moment,
        "visit_channel": channel,
    }
    detail = {"score": score, "channel": channel}
    await case.fetch_related("member", "citizen")
    if score in (1, 2):
        await apply_transition(
            case, Transition.CLOSE, actor=actor, reason=comment, detail=detail, closed_at=moment, **common
        )
        return f"感谢您的评价（{SATISFACTION_ZH[score]}）！编号 {case.code} 已办结。"
    reply_due = settings.sla.reply_deadline(moment, urgent=case.urgent)
    await apply_transition(
        case,
        Transition.REOPEN,
        actor=actor,
        reason=comment,
        detail=detail,
        reopen_count=case.reopen_count + 1,
        reply_due_at=reply_due,
        **common,
    )
    await schedule_deadline(case, "reply", settings, moment)
    said = f"：{excerpt(escape(comment), 200)}" if comment else ""  # into markdown for the triage group
    if case.member is not None:
        await send_to_member(
            case.member,
            f"【重办】编号 {case.code} 群众不满意{said}。"
            f"请于 {format_deadline_zh(reply_due)} 前重新答复：「答 {case.code} 内容」。",
            case=case,
        )
    escalate = "**【二次不满意】**" if case.reopen_count >= 2 else "**【重办】**"
    await send_to_triage(
        f"{escalate} {case.code} 群众不满意{said}\n"
        f"> 承办：{_holder(case)}；重新答复期限 {format_deadline_zh(reply_due)}",
        case=case,
    )
    return f"很抱歉没有让您满意。编号 {case.code} 已重新办理，将于 {format_deadline_zh(reply_due)} 前再次答复您。"


_SURVEY = re.compile(
    r"^\s*(?:([A-Za-z]{1,8}\d{11,})\s+)?(基本满意|不满意|满意|[123])(?=$|[\s，,。:：!！;；])[\s，,。:：!！;；]*(.*)$",
    re.S,
)
_WORDS = {"满意": 1, "基本满意": 2, "不满意": 3, "1": 1, "2": 2, "3": 3}


@dataclass(frozen=True)
class SurveyAnswer:
    score: int
    comment: str
    code_text: str | None


def parse_survey_answer(text: str) -> SurveyAnswer | None:
    match = _SURVEY.match(text)
    if not match:
        return None
    return SurveyAnswer(_WORDS[match.group(2)], match.group(3).strip(), match.group(1))


# ---- figures -------------------------------------------------------------------------------------


@dataclass
class Figures:
    new_cases: int = 0
    triaged: int = 0
    triaged_on_time: int = 0
    replied: int = 0
    replied_on_time: int = 0
    visits_due: int = 0
    visits_recorded: int = 0
    satisfied: int = 0

    @staticmethod
    def percent(part: int, whole: int) -> str:
        return f"{part * 100 / whole:.0f}%" if whole else "—"

    def line(self, label: str) -> str:
        return (
            f"{label}：新增 {self.new_cases} 件；按时交办 {self.percent(self.triaged_on_time, self.triaged)}；"
            f"按时答复 {self.percent(self.replied_on_time, self.replied)}；"
            f"回访率 {self.percent(self.visits_recorded, self.visits_due)}；"
            f"满意率 {self.percent(self.satisfied, self.visits_recorded)}"
        )


async def figures_since(start: datetime, **filters: Any) -> Figures:
    cases = await Case.filter(created_at__gte=start, **filters).values(
        "state",
        "triaged_at",
        "triaged_on_time",
        "first_replied_at",
        "replied_on_time",
        "visit_recorded_at",
        "satisfaction",
    )
    figures = Figures(new_cases=len(cases))
    for row in cases:
        if row["triaged_at"] is not None:
            figures.triaged += 1
            figures.triaged_on_time += bool(row["triaged_on_time"])
        if row["first_replied_at"] is not None:
            figures.replied += 1
            figures.replied_on_time += bool(row["replied_on_time"])
            figures.visits_due += 1
        if row["visit_recorded_at"] is not None:
            figures.visits_recorded += 1
            figures.satisfied += row["satisfaction"] in (1, 2)
    return figures


async def overdue_now() -> int:
    moment = now()
    late_triage = await Case.filter(state=CaseState.RECEIVED, assign_due_at__lt=moment).count()
    late_reply = await Case.filter(state__in=[*OPEN_WORK, CaseState.TRANSFERRED], reply_due_at__lt=moment).count()
    return late_triage + late_reply


def period_starts(moment: datetime) -> list[tuple[str, datetime]]:
    from models.tracking import LOCAL_TZ

    local = moment.astimezone(LOCAL_TZ)
    today = local.replace(hour=0, minute=0, second=0, microsecond=0)
    week = today - timedelta(days=today.weekday())
    month = today.replace(day=1)
    # In UTC: SQLite compares the stored timestamps as text, so every bound must be written the same way.
    return [(label, start.astimezone(UTC)) for label, start in (("今日", today), ("本周", week), ("本月", month))]


async def stats_text(member: Member | None = None) -> str:
    moment = now()
    filters: dict[str, Any] = {"member": member} if member else {}
    title = f"**统计（委员{escape(member.name)}）**" if member else "**码上商统计**"
    lines = [title]
    for label, start in period_starts(moment):
        lines.append((await figures_since(start, **filters)).line(label))
    lines.append(f"当前超期：{await overdue_now()} 件")
    if member is None:
        month_start = period_starts(moment)[2][1]
        from models.entities import ContactPoint

        per_point = []
        for point in await ContactPoint.all().order_by("key"):
            figures = await figures_since(month_start, contact_point=point)
            if figures.new_cases:
                per_point.append((figures.new_cases, escape(point.name), figures))
        direct = await figures_since(month_start, contact_point_id__isnull=True)
        if direct.new_cases:  # written without scanning a contact point's code first
            per_point.append((direct.new_cases, "未经联系点（直接留言）", direct))
        if per_point:
            lines.append("本月各联系点：")
            for count, name, figures in sorted(per_point, key=lambda item: -item[0])[:10]:
                lines.append(
                    f"· {name}：{count} 件，按时答复 {figures.percent(figures.replied_on_time, figures.replied)}，"
                    f"满意率 {figures.percent(figures.satisfied, figures.visits_recorded)}"
                )
        lines.append("按委员查看：`统计 委员姓名`")
    return "\n".join(lines)


async def phone_visit_tasks(limit: int = 10) -> list[Case]:
    """Return visits nobody answered within return_visit_timeout: staff call and record them with 回访."""
    return (
        await Case.filter(state=CaseState.RETURN_VISIT, events__kind="visit.phone_task")
        .distinct()
        .order_by("visit_sent_at")
        .limit(limit)
    )
