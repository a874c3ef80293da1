"""One case on the console (`/console/cases/{code}`): everything about it, and its action forms.

The forms do what the chat does: each becomes the staff command line it stands for (`派 <编号> <委员>`,
…) and runs through `handlers.routers.staff.run_staff_command` with `via=CONSOLE`, in one transaction
with its messages (the outbox), so the member gets the same WeCom message and the citizen the same
reply, and the timeline records the staff member exactly as for a chat command, marked 控制台.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import redis.asyncio as aioredis
from tortoise.transactions import in_transaction

from handlers.cases.actions import CommandError, where
from handlers.cases.masking import mask_personal_numbers
from handlers.cases.suggest import suggest_member
from handlers.commands import parse
from handlers.routers.staff import CONSOLE, actor_names, run_staff_command, timeline_entries
from handlers.settings import Settings
from handlers.texts import console as texts
from handlers.texts.markdown import plain
from handlers.texts.staff import VERBS
from models.after_commit import collecting, run_all
from models.entities import Case, CaseEvent, CaseMessage, CaseSource, CaseState, Category, Department, Member, Staff
from models.state import AWAITS_VISIT, OWES_REPLY, RULES, TERMINAL, Transition
from models.timeutil import now

FIELD_LIMITS = {"text": 1000, "reason": 500, "note": 200, "comment": 200, "member": 40, "department": 40}
FIELD_LIMITS |= {"category": 40, "target": 32, "score": 1}


@dataclass(frozen=True)
class Deadline:
    label: str
    due: str
    left: str
    late: bool


@dataclass(frozen=True)
class Message:
    when: str
    who: str
    direction: str
    kind: str  # text | image | voice | video | location | link
    text: str
    media_id: int | None  # saved media, served by the console under the case
    location: str | None


@dataclass(frozen=True)
class TimelineEntry:
    when: str
    who: str
    what: str


@dataclass(frozen=True)
class Visit:
    sent: str | None
    recorded: str | None
    channel: str | None
    satisfaction: str | None
    comment: str | None


@dataclass(frozen=True)
class CaseDetail:
    code: str
    state: str
    state_zh: str
    urgent: bool
    terminal: bool
    where: str
    district: str
    category: str
    category_key: str
    source_zh: str
    member: str
    department: str
    created: str
    summary: str
    merged_into: str | None
    merged_cases: list[str]
    deadlines: list[Deadline]
    messages: list[Message]
    replies: list[Message]
    timeline: list[TimelineEntry]
    visit: Visit
    # what the forms offer
    can_assign: bool
    can_transfer: bool
    can_reply: bool
    can_merge: bool
    can_reject: bool
    can_visit: bool
    suggested_member: str | None
    members: list[tuple[str, str]]
    departments: list[tuple[str, str]]
    categories: list[tuple[str, str]]


def _deadline(label: str, due: datetime | None, done: datetime | None, moment: datetime) -> Deadline | None:
    if due is None:
        return None
    if done is not None:
        late = done > due
        return Deadline(label, texts.console_time(due), texts.done_at(texts.console_time(done), late), late)
    left, late = texts.time_left(due, moment)
    return Deadline(label, texts.console_time(due), left, late)


def _message(message: CaseMessage, who: str) -> Message:
    kind = message.msg_type
    location = None
    if kind == "location":
        extra = message.extra or {}
        try:
            location = texts.location(
                str(extra.get("label") or ""), float(extra["latitude"]), float(extra["longitude"])
            )
        except (KeyError, TypeError, ValueError):
            location = message.content
    return Message(
        when=texts.console_time(message.created_at),
        who=who,
        direction=message.direction,
        kind=kind,
        text=mask_personal_numbers(message.content or ""),
        media_id=message.id if message.media_path else None,
        location=location,
    )


def _may(case: Case, transition: Transition) -> bool:
    return CaseState(case.state) in RULES[transition].sources


async def case_detail(case: Case) -> CaseDetail:
    await case.fetch_related("contact_point", "member", "category", "department", "merged_into")
    moment = now()
    messages = await CaseMessage.filter(case=case).order_by("created_at", "id")
    events = await CaseEvent.filter(case=case).order_by("created_at", "id")
    entries = await timeline_entries(list(events))
    names = await actor_names([m.author for m in messages])
    conversation = [_message(m, plain(names.get(m.author, texts.DIRECTION_ZH[m.direction]))) for m in messages]
    state = CaseState(case.state)
    deadlines = [
        d
        for d in (
            _deadline(texts.ASSIGN_DEADLINE, case.assign_due_at, case.triaged_at, moment)
            if case.source != CaseSource.HOTLINE
            else None,
            _deadline(
                texts.REPLY_DEADLINE,
                case.reply_due_at,
                case.replied_at if state not in OWES_REPLY else None,
                moment,
            ),
        )
        if d is not None
    ]
    point = case.contact_point
    suggested = await suggest_member(point) if _may(case, Transition.ASSIGN) else None
    merged_cases = await Case.filter(merged_into=case).order_by("id").values_list("code", flat=True)
    members = await Member.filter(active=True).order_by("key").values_list("key", "name")
    departments = await Department.all().order_by("key").values_list("key", "name")
    categories = await Category.all().order_by("id").values_list("key", "name")
    visit = Visit(
        sent=texts.console_time(case.visit_sent_at) if case.visit_sent_at else None,
        recorded=texts.console_time(case.visit_recorded_at) if case.visit_recorded_at else None,
        channel=texts.VISIT_CHANNEL_ZH.get(case.visit_channel or "", case.visit_channel),
        satisfaction=texts.SATISFACTION.get(case.satisfaction or 0),
        comment=mask_personal_numbers(case.satisfaction_comment) if case.satisfaction_comment else None,
    )
    return CaseDetail(
        code=case.code,
        state=state.value,
        state_zh=case.state_zh,
        urgent=case.urgent,
        terminal=state in TERMINAL,
        where=where(case),
        district=case.district or (point.district if point else "") or "",
        category=case.category.name if case.category else texts.NO_CATEGORY,
        category_key=case.category.key if case.category else "",
        source_zh=texts.SOURCE_ZH.get(case.source, case.source),
        member=case.member.name if case.member else "",
        department=case.department.name if case.department else "",
        created=texts.console_time(case.created_at),
        summary=mask_personal_numbers(case.summary),
        merged_into=case.merged_into.code if case.merged_into else None,
        merged_cases=[str(c) for c in merged_cases],
        deadlines=deadlines,
        messages=[m for m in conversation if m.direction == "in"],
        replies=[m for m in conversation if m.direction == "out"],
        timeline=[TimelineEntry(texts.console_time(when), who, plain(what)) for when, who, what in entries],
        visit=visit,
        can_assign=case.source != CaseSource.HOTLINE and _may(case, Transition.ASSIGN),
        can_transfer=case.source != CaseSource.HOTLINE and _may(case, Transition.TRANSFER),
        can_reply=case.source != CaseSource.HOTLINE and _may(case, Transition.REPLY),
        can_merge=_may(case, Transition.MERGE),
        can_reject=_may(case, Transition.REJECT),
        can_visit=state in AWAITS_VISIT,
        suggested_member=suggested.key if suggested else None,
        members=[(str(k), str(n)) for k, n in members],
        departments=[(str(k), str(n)) for k, n in departments],
        categories=[(str(k), str(n)) for k, n in categories],
    )


# ---- the forms -------------------------------------------------------------------------------------------

# action -> (verb, the form fields after the code, in command-line order)
ACTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "assign": ("派", ("member",)),
    "transfer": ("转", ("department", "note")),
    "reply": ("答", ("text",)),
    "merge": ("并", ("target",)),
    "reject": ("退", ("reason",)),
    "category": ("类", ("category",)),
    "urgent": ("急", ()),
    "visit": ("回访", ("score", "comment")),
}


def command_line(action: str, code: str, form: Mapping[str, str]) -> str:
    """The chat command a form stands for; CommandError (Chinese) for a field that is too long."""
    verb, names = ACTIONS[action]
    parts = [verb, code]
    for name in names:
        value = str(form.get(name, "")).strip()
        if len(value) > FIELD_LIMITS[name]:
            raise CommandError(texts.field_too_long(FIELD_LIMITS[name]))
        if name in {"member", "department", "category", "target", "score"}:
            value = value.split()[0] if value.split() else ""  # one word: a key, a code, a score
        if value:
            parts.append(value)
    return " ".join(parts)


async def run_action(
    action: str, case: Case, form: Mapping[str, str], staff: Staff, redis: aioredis.Redis, settings: Settings
) -> str:
    """Run one form as the staff command it stands for; returns the chat's answer as plain text.
    CommandError carries the chat's refusal (nothing changed)."""
    command = parse(command_line(action, case.code, form), VERBS)
    if command is None:  # pragma: no cover - every action's verb is a staff verb
        raise CommandError(texts.NOT_FOUND)
    with collecting() as deferred:
        async with in_transaction():
            answer = await run_staff_command(command, staff, None, redis, settings, via=CONSOLE)
    await run_all(deferred)
    return plain(answer)
