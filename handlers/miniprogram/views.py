"""What the mini-program shows of a case: the citizen's own view, never staff names or notes.

Times are ISO 8601 with their offset; replies are signed with the committee's display name (and the
signature the chat reply carried, e.g. 政协委员张三: no member identity beyond it); the timeline holds
the public steps (submitted, assigned, replied, return visit, closed...) and the messages that could not
be pushed to the citizen, which wait here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from handlers.cases.masking import mask_personal_numbers
from handlers.texts import case_page as page_texts
from handlers.texts import miniprogram as texts
from models.entities import Case, CaseEvent, CaseMessage, CaseState
from models.state import TERMINAL

# CaseEvent kinds on the public timeline, and what the API calls them.
PUBLIC_KINDS = {
    "state:assign": "assigned",
    "state:transfer": "transferred",
    "state:ask": "asked",
    "state:provide_info": "info_provided",
    "state:reply": "replied",
    "reply.via_merge": "replied",
    "state:start_return_visit": "return_visit",
    "state:close": "closed",
    "state:reopen": "reopened",
    "state:merge": "merged",
    "state:reject": "rejected",
}


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def case_summary(case: Case) -> dict[str, Any]:
    point = case.contact_point
    return {
        "tracking_code": case.code,
        "status": str(case.state),
        "status_text": case.state_zh,
        "contact_point": {"key": point.key, "name": point.name} if point else None,
        "created_at": iso(case.created_at),
        "summary": mask_personal_numbers(case.summary),
        "channel": "miniprogram" if case.citizen.channel == "wxa" else "official_account",
    }


def _message(message: CaseMessage, kind: str) -> dict[str, Any]:
    item: dict[str, Any] = {
        "time": iso(message.created_at),
        "kind": kind,
        "msg_type": message.msg_type,
        "text": mask_personal_numbers(message.content) if kind == "citizen" else message.content,
    }
    if message.extra.get("upload_id"):
        item["upload_id"] = message.extra["upload_id"]
    return item


async def _merge_target(case: Case) -> Case | None:
    target = case
    for _ in range(10):
        target_id: int | None = target.merged_into_id  # type: ignore[attr-defined]
        joined = await Case.get_or_none(id=target_id) if target_id is not None else None
        if joined is None:
            break
        target = joined
        if target.state != CaseState.MERGED:
            break
    return target if target is not case else None


async def case_detail(case: Case, committee_name: str) -> dict[str, Any]:
    messages = await CaseMessage.filter(case=case).order_by("created_at", "id")
    events = await CaseEvent.filter(case=case).order_by("created_at", "id")
    asked = [str(e.detail.get("reason", "")) for e in events if e.kind == "state:ask"]
    signatures = [str(e.detail.get("by") or "") for e in events if e.kind == "state:reply"]
    conversation: list[dict[str, Any]] = []
    replies: list[dict[str, Any]] = []
    for message in messages:
        if message.direction == "in":
            conversation.append(_message(message, "citizen"))
        elif message.content in asked:  # a member's question (its text is the ask's reason)
            asked.remove(message.content)
            conversation.append(_message(message, "question"))
        else:
            by = signatures.pop(0) if signatures else ""
            replies.append(_reply(message.content, message.created_at, committee_name, by))
    summary = case_summary(case)
    merged_into = None
    if case.state == CaseState.MERGED and (target := await _merge_target(case)) is not None:
        merged_into = {"tracking_code": target.code, "status": str(target.state), "status_text": target.state_zh}
        if target.last_reply and not replies:
            replies.append(_reply(target.last_reply, target.replied_at or target.updated_at, committee_name, ""))
    elif case.last_reply and not replies:  # answered through a case it was merged with earlier
        replies.append(_reply(case.last_reply, case.replied_at or case.updated_at, committee_name, ""))
    return {
        **summary,
        "messages": conversation,
        "replies": replies,
        "timeline": _timeline(case, events),
        "deadlines": {"assign_due_at": iso(case.assign_due_at), "reply_due_at": iso(case.reply_due_at)},
        "can_rate": case.state == CaseState.RETURN_VISIT,
        "can_follow_up": CaseState(case.state) not in TERMINAL,
        "merged_into": merged_into,
    }


def _reply(text: str, moment: datetime, committee_name: str, by: str) -> dict[str, Any]:
    return {"time": iso(moment), "text": text, "signature": committee_name, "by": by or None}


def _timeline(case: Case, events: list[CaseEvent]) -> list[dict[str, Any]]:
    title, note = page_texts.SUBMITTED
    entries = [{"time": iso(case.created_at), "kind": "submitted", "title": title, "note": note}]
    for event in events:
        if event.kind == "message.out" and event.detail.get("reason") == "no_consent":
            title, note = texts.NOT_PUSHED
            entries.append({"time": iso(event.created_at), "kind": "not_pushed", "title": title, "note": note})
            continue
        kind = PUBLIC_KINDS.get(event.kind)
        if kind is None:  # messages, deadlines, categories, staff's own steps
            continue
        title, note = page_texts.TIMELINE[event.kind]
        if event.kind in ("state:close", "state:reopen"):
            score = event.detail.get("score")
            note = page_texts.visit_note(score if isinstance(score, int) else None)
        elif event.kind == "state:merge" and event.detail.get("target"):
            note = page_texts.merged_note(str(event.detail["target"]))
        elif event.kind == "state:reject" and event.detail.get("reason"):
            note = str(event.detail["reason"])  # written for the citizen: the chat sends it to them
        entries.append({"time": iso(event.created_at), "kind": kind, "title": title, "note": note})
    return entries
