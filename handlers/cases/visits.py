"""The return visit (回访): the survey after a reply, its timeout into a phone task, and recording the answer.

Only a case whose return visit is recorded can close, so the return-visit rate is 100% by construction.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import redis.asyncio as aioredis
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q

from handlers import payloads
from handlers.cases.deadlines import holder, schedule_deadline
from handlers.cases.masking import mask_personal_numbers as mask_phone
from handlers.cases.masking import phone_numbers
from handlers.cases.outbox import SEND_CITIZEN, WAITING_FOR_CITIZEN, send_to_citizen, send_to_member, send_to_triage
from handlers.miniprogram.identity import linked
from handlers.settings import Settings
from handlers.texts import citizen as citizen_texts
from handlers.texts import member as member_texts
from handlers.texts import staff as staff_texts
from models.delivery import TemplateSend
from models.entities import Case, CaseEvent, CaseMessage, CaseState
from models.hotline import HotlineOrder
from models.jobs import Job, JobStatus, enqueue
from models.sla import format_deadline_zh
from models.state import Transition, apply_transition, is_escalated, record_event
from models.timeutil import now

VISIT_START = "visit.start"
VISIT_TIMEOUT = "visit.timeout"


async def schedule_return_visit(case: Case, settings: Settings) -> None:
    replied = case.replied_at or now()
    await enqueue(
        VISIT_START,
        payloads.visit_start(case.id, replied.isoformat()),
        key=f"visit:start:{case.id}:{int(replied.timestamp() * 1000)}",
        case_id=case.id,
        run_at=settings.sla.return_visit_due(replied),
    )


REPLY_WAIT_S = 600.0  # how often a survey whose reply is still on its way looks again


async def run_visit_start(job: Job, settings: Settings) -> dict[str, Any]:
    start = payloads.read(job.payload, payloads.VisitStart)
    case = await Case.get_or_none(id=start["case_id"]).prefetch_related("citizen")
    if case is None or case.state != CaseState.REPLIED:
        return {"skipped": "not waiting for a return visit"}
    moment = now()
    # The survey never overtakes the reply it asks about: while a message of the case to the citizen
    # is still on its way (WeChat busy, an outage), the survey waits; once it is delivered, the
    # return-visit clock starts from then.
    on_its_way = (
        await Job.filter(kind=SEND_CITIZEN, case_id=case.id, status__in=(JobStatus.PENDING, JobStatus.RUNNING))
        # one waiting for the citizen to write is routed for good (NULL-safe: not a NOT(=))
        .filter(Q(last_error__isnull=True) | Q(last_error__not=WAITING_FOR_CITIZEN))
        .exists()
    )
    if on_its_way or start.get("waited"):
        later = moment + timedelta(seconds=min(REPLY_WAIT_S, settings.sla.return_visit_after))
        if not on_its_way:  # delivered since the last look: the full wait from now
            later = settings.sla.return_visit_due(moment)
        await enqueue(
            VISIT_START,
            {**payloads.visit_start(case.id, start["replied_at"]), "waited": on_its_way},
            key=f"visit:start:{case.id}:after:{job.id}",
            case_id=case.id,
            run_at=later,
        )
        return {"waiting": "the reply is on its way" if on_its_way else "the reply was delivered just now"}
    # A new survey (also after a reopen): the earlier visit's answer does not answer this one.
    await apply_transition(
        case, Transition.START_RETURN_VISIT, actor="system", visit_sent_at=moment, visit_recorded_at=None
    )
    survey = citizen_texts.survey(case.code, case.last_reply or "")
    await send_to_citizen(case.citizen, survey, case=case, purpose="survey")
    await enqueue(
        VISIT_TIMEOUT,
        payloads.visit_timeout(case.id, moment.isoformat()),
        key=f"visit:timeout:{case.id}:{int(moment.timestamp() * 1000)}",
        case_id=case.id,
        run_at=settings.sla.return_visit_deadline(moment),
    )
    return {"survey": "sent"}


async def run_visit_timeout(job: Job) -> dict[str, Any]:
    timeout = payloads.read(job.payload, payloads.VisitTimeout)
    case = await Case.get_or_none(id=timeout["case_id"]).prefetch_related("citizen")
    sent_at = datetime.fromisoformat(timeout["sent_at"])
    if (
        case is None
        or case.state != CaseState.RETURN_VISIT
        or (case.visit_recorded_at is not None and case.visit_recorded_at >= sent_at)
    ):
        return {"skipped": "answered"}
    if await CaseEvent.filter(case=case, kind="visit.phone_task", created_at__gte=sent_at).exists():
        return {"skipped": "a phone task already (the survey was not delivered)"}
    await make_phone_task(case)
    return {"phone_task": True}


async def make_phone_task(case: Case, undelivered: bool = False) -> None:
    """Staff are to call the citizen and record the visit with 回访 (`case.citizen` prefetched)."""
    detail: dict[str, Any] = {"undelivered": True} if undelivered else {}
    await record_event(case, "visit.phone_task", "system", **detail)
    phone = case.citizen.phone
    await send_to_triage(
        staff_texts.phone_visit_task(case.code, mask_phone(phone) if phone else None, undelivered), case=case
    )


async def record_template_outcome(msgid: int, status: str) -> None:
    """WeChat's TEMPLATESENDJOBFINISH for a template message of ours: `success`, or why it was not
    delivered (`failed:user block`: the citizen refuses them; `failed: system failed`). An undelivered
    message is on the timeline; an undelivered survey makes the return visit a phone task at once
    (it never counts as a survey the citizen left unanswered). A repeated event changes nothing.

    The event can come before our row (WeChat answers the send, then our write): it is kept without a
    case, and `record_template_send` applies it when the row is written."""
    moment = now()
    if await TemplateSend.filter(msgid=msgid, status__isnull=True).update(status=status, finished_at=moment):
        await _apply_template_outcome(msgid)  # the conditional UPDATE: one event of two at once gets here
        return
    if not await TemplateSend.filter(msgid=msgid).exists():  # early, or another system's on the same AppID
        with contextlib.suppress(IntegrityError):
            await TemplateSend.create(msgid=msgid, purpose="", status=status, created_at=moment, finished_at=moment)


async def record_template_send(msgid: int, case: Case | None, purpose: str) -> None:
    """A template message WeChat accepted: kept for its TEMPLATESENDJOBFINISH event (which may be here
    already)."""
    sent, created = await TemplateSend.get_or_create(
        msgid=msgid, defaults={"case": case, "purpose": purpose, "created_at": now()}
    )
    if not created and not sent.purpose:  # its event came first
        if await TemplateSend.filter(msgid=msgid, purpose="").update(case=case, purpose=purpose):
            await _apply_template_outcome(msgid)


async def _apply_template_outcome(msgid: int) -> None:
    sent = await TemplateSend.get(msgid=msgid)
    if sent.status in (None, "success") or sent.case_id is None:  # type: ignore[attr-defined]
        return
    case = await Case.get(id=sent.case_id).prefetch_related("citizen")  # type: ignore[attr-defined]
    await record_event(case, "message.undelivered", "system", channel="template", msgid=msgid, status=sent.status)
    if sent.purpose == "survey" and case.state == CaseState.RETURN_VISIT:
        await make_phone_task(case, undelivered=True)


# Where a number a citizen gave comes from (电话 <编号>), in the order they are listed.
PHONE_FROM_MESSAGE, PHONE_FROM_MINIPROGRAM, PHONE_FROM_HOTLINE = "message", "miniprogram", "hotline"


async def citizen_phones(case: Case) -> list[tuple[str, str]]:
    """Every phone number the case's citizen gave, unmasked, each once with where it came from: the
    hotline's caller number, the mini-program's phone (getPhoneNumber, of the same person's accounts),
    numbers written in their messages. For the phone return visit (staff's `电话 <编号>`)."""
    found: dict[str, str] = {}
    order = await HotlineOrder.get_or_none(case=case)
    if order is not None and order.phone:
        for number in phone_numbers(order.phone) or [order.phone.strip()]:
            found.setdefault(number, PHONE_FROM_HOTLINE)
    await case.fetch_related("citizen")
    for person in await linked(case.citizen):
        for number in phone_numbers(person.phone or "") or ([person.phone.strip()] if person.phone else []):
            found.setdefault(number, PHONE_FROM_MINIPROGRAM)
    texts = await CaseMessage.filter(case=case, direction="in").order_by("id").values_list("content", flat=True)
    for text in texts:
        for number in phone_numbers(str(text or "")):
            found.setdefault(number, PHONE_FROM_MESSAGE)
    return list(found.items())


async def phone_visit_tasks(limit: int = 10) -> list[Case]:
    """Return visits nobody answered within return_visit_timeout: staff call and record them with 回访."""
    return (
        await Case.filter(state=CaseState.RETURN_VISIT, events__kind="visit.phone_task")
        .distinct()
        .order_by("visit_sent_at")
        .limit(limit)
    )


async def record_visit(
    case: Case, score: int, comment: str, actor: str, channel: str, redis: aioredis.Redis, settings: Settings
) -> str:
    """A return visit answered (by the citizen, or recorded by staff after a phone call); the answer
    to show the citizen."""
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
        return citizen_texts.visit_closed(case.code, score)
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
    due = format_deadline_zh(reply_due)
    if case.member is not None:
        await send_to_member(case.member, member_texts.reopened(case.code, comment, due), case=case)
    notice = staff_texts.reopened(case.code, comment, holder(case), due, second_time=is_escalated(case))
    await send_to_triage(notice, case=case)
    return citizen_texts.visit_reopened(case.code, due)


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
