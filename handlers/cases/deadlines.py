"""Deadline timers: a reminder before each deadline, an overdue notice at it, escalation after it.

Timers are durable jobs (models.jobs) keyed by case, stage, deadline and round, so scheduling twice
is harmless; a timer whose case has moved on (assigned, replied, deadline changed) does nothing.
A restart or a Redis flush loses none and fires none twice: the job rows are the state.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from handlers import payloads
from handlers.cases.outbox import send_to_member, send_to_triage, send_to_wecom_user
from handlers.settings import Settings
from handlers.texts import member as member_texts
from handlers.texts import staff as staff_texts
from models.entities import Case, CaseState, Staff, StaffRole
from models.jobs import Job, enqueue
from models.sla import format_deadline_zh
from models.state import OWES_REPLY, record_event
from models.timeutil import now

SLA_REMIND = "sla.remind"
SLA_OVERDUE = "sla.overdue"
Stage = Literal["assign", "reply"]


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


# ---- timers --------------------------------------------------------------------------------------


def _due_of(case: Case, stage: Stage) -> datetime | None:
    return case.assign_due_at if stage == "assign" else case.reply_due_at


def _stage_active(case: Case, stage: Stage) -> bool:
    state = CaseState(case.state)
    if stage == "assign":
        return state == CaseState.RECEIVED
    return state in OWES_REPLY


async def schedule_deadline(case: Case, stage: Stage, settings: Settings, start: datetime) -> None:
    """A reminder before the deadline and an overdue notice at it (idempotent)."""
    due = _due_of(case, stage)
    if due is None:
        return
    stamp = int(due.timestamp())
    payload = payloads.deadline_timer(case.id, stage, due.isoformat(), 1)
    remind_at = settings.sla.reminder_at(start, due)
    await enqueue(SLA_REMIND, payload, key=f"sla:remind:{stage}:{case.id}:{stamp}", case_id=case.id, run_at=remind_at)
    await enqueue(SLA_OVERDUE, payload, key=f"sla:overdue:{stage}:{case.id}:{stamp}:1", case_id=case.id, run_at=due)


async def _timer_case(job: Job) -> Case | None:
    """The case if this timer still applies to it, else None (the case moved on)."""
    timer = payloads.read(job.payload, payloads.DeadlineTimer)
    case = await Case.get_or_none(id=timer["case_id"]).prefetch_related("member", "contact_point", "citizen")
    if case is None:
        return None
    stage = timer["stage"]
    due = _due_of(case, stage)
    if (
        not _stage_active(case, stage)
        or due is None
        or int(due.timestamp()) != int(datetime.fromisoformat(timer["due"]).timestamp())
    ):
        return None
    return case


def holder(case: Case) -> str:
    """Who works on the case, as staff read it (its member must be loaded)."""
    return staff_texts.holder_name(case.member.name if case.member is not None else None)


async def run_reminder(job: Job) -> dict[str, Any]:
    case = await _timer_case(job)
    if case is None:
        return {"skipped": "case moved on"}
    timer = payloads.read(job.payload, payloads.DeadlineTimer)
    stage = timer["stage"]
    due = format_deadline_zh(datetime.fromisoformat(timer["due"]))
    await record_event(case, "sla.reminder", "system", stage=stage, due=timer["due"])
    if stage == "reply" and case.member is not None:
        await send_to_member(case.member, member_texts.reminder(case.code, due), case=case)
    else:
        await send_to_triage(staff_texts.reminder(case.code, stage, due, case.summary), case=case)
    return {"reminded": stage}


async def run_overdue(job: Job, settings: Settings) -> dict[str, Any]:
    case = await _timer_case(job)
    if case is None:
        return {"skipped": "case moved on"}
    timer = payloads.read(job.payload, payloads.DeadlineTimer)
    stage, round_no = timer["stage"], int(timer["round"])
    due = datetime.fromisoformat(timer["due"])
    await record_event(case, "sla.overdue", "system", stage=stage, due=timer["due"], round=round_no)
    notice = staff_texts.overdue(case.code, stage, format_deadline_zh(due), round_no, holder(case), case.summary)
    await send_to_triage(notice, case=case)
    if stage == "reply" and case.member is not None:
        await send_to_member(case.member, member_texts.overdue(case.code), case=case)
    if round_no > 1:
        for admin in await Staff.filter(role=StaffRole.ADMIN, active=True):
            await send_to_wecom_user(
                admin.wecom_userid, staff_texts.escalation(case.code, stage, round_no, holder(case)), case=case
            )
    # Nothing is silent: until the case moves on, it escalates again after another period.
    allowed = settings.sla.assign_within if stage == "assign" else settings.sla.reply_within
    if case.urgent:
        allowed *= settings.sla.urgent_factor
    next_at = settings.sla.calendar.add(now(), allowed)
    await enqueue(
        SLA_OVERDUE,
        payloads.deadline_timer(case.id, stage, timer["due"], round_no + 1),
        key=f"sla:overdue:{stage}:{case.id}:{int(due.timestamp())}:{round_no + 1}",
        case_id=case.id,
        run_at=next_at,
    )
    return {"overdue": stage, "round": round_no}
