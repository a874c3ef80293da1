"""The case lifecycle as an explicit state machine.

Every transition has a name and the states it is allowed from. `apply_transition` checks it, changes
the case, and records a CaseEvent with actor, time and reason in the same transaction as the caller.
An illegal transition raises `IllegalTransition`, whose `message_zh` the chat layer shows as is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from models.entities import CASE_STATE_ZH, TERMINAL_STATES, Case, CaseEvent, CaseState
from models.timeutil import now

S = CaseState


class Transition(StrEnum):
    ASSIGN = "assign"  # 交办 to a member
    ACCEPT = "accept"  # member accepts
    ASK = "ask"  # member asks the citizen for details
    PROVIDE_INFO = "provide_info"  # the citizen answered the question
    RETURN_TO_TRIAGE = "return_to_triage"  # member hands the case back
    TRANSFER = "transfer"  # 转办 to a department
    REPLY = "reply"  # 答复 by member, staff or department
    START_RETURN_VISIT = "start_return_visit"
    CLOSE = "close"  # return visit recorded: satisfied
    REOPEN = "reopen"  # return visit: unsatisfied, 重办
    MERGE = "merge"  # 并案 into another case
    REJECT = "reject"  # 不予受理


TRANSITION_ZH: dict[Transition, str] = {
    Transition.ASSIGN: "交办",
    Transition.ACCEPT: "接收",
    Transition.ASK: "询问群众",
    Transition.PROVIDE_INFO: "群众补充",
    Transition.RETURN_TO_TRIAGE: "退回分拣",
    Transition.TRANSFER: "转办",
    Transition.REPLY: "答复",
    Transition.START_RETURN_VISIT: "发起回访",
    Transition.CLOSE: "办结",
    Transition.REOPEN: "重办",
    Transition.MERGE: "并案",
    Transition.REJECT: "不予受理",
}

# ---- state groups: every rule that asks "is the case in one of these states" asks one of these ----

# Held by a member: assigned and not yet answered. The member may act on it and hears of its changes.
HELD_BY_MEMBER = frozenset({S.ASSIGNED, S.ACCEPTED, S.NEEDS_INFO, S.REOPENED})
# Owes the citizen a reply: held by a member, or transferred to a department (the reply deadline runs).
OWES_REPLY = HELD_BY_MEMBER | {S.TRANSFERRED}
# Replied, with the return visit to come or under way: a return visit can be recorded.
AWAITS_VISIT = frozenset({S.REPLIED, S.RETURN_VISIT})
# Finished: nothing more happens to the case (its category and urgency are fixed).
TERMINAL = TERMINAL_STATES
# Cases another case cannot be merged into.
NOT_MERGE_TARGET = frozenset({S.MERGED, S.REJECTED})
# Reopened this many times (a second 不满意 or more): escalated, listed in 待办 until it is replied again.
ESCALATED_AFTER_REOPENS = 2


@dataclass(frozen=True)
class Rule:
    sources: frozenset[CaseState]
    target: CaseState


RULES: dict[Transition, Rule] = {
    Transition.ASSIGN: Rule(frozenset({S.RECEIVED, S.ASSIGNED, S.ACCEPTED, S.REOPENED}), S.ASSIGNED),
    Transition.ACCEPT: Rule(frozenset({S.ASSIGNED}), S.ACCEPTED),
    Transition.ASK: Rule(frozenset({S.ASSIGNED, S.ACCEPTED, S.REOPENED, S.NEEDS_INFO}), S.NEEDS_INFO),
    Transition.PROVIDE_INFO: Rule(frozenset({S.NEEDS_INFO}), S.ACCEPTED),
    Transition.RETURN_TO_TRIAGE: Rule(frozenset({S.ASSIGNED, S.ACCEPTED, S.NEEDS_INFO, S.REOPENED}), S.RECEIVED),
    Transition.TRANSFER: Rule(frozenset({S.RECEIVED, *HELD_BY_MEMBER}), S.TRANSFERRED),
    Transition.REPLY: Rule(frozenset({S.RECEIVED, S.TRANSFERRED, *HELD_BY_MEMBER}), S.REPLIED),
    Transition.START_RETURN_VISIT: Rule(frozenset({S.REPLIED}), S.RETURN_VISIT),
    Transition.CLOSE: Rule(frozenset({S.RETURN_VISIT}), S.CLOSED),
    Transition.REOPEN: Rule(frozenset({S.RETURN_VISIT}), S.REOPENED),
    Transition.MERGE: Rule(frozenset({S.RECEIVED, S.TRANSFERRED, *HELD_BY_MEMBER}), S.MERGED),
    Transition.REJECT: Rule(frozenset({S.RECEIVED, S.ASSIGNED, S.ACCEPTED, S.NEEDS_INFO}), S.REJECTED),
}


class IllegalTransition(Exception):
    """A transition was asked for from a state that does not allow it."""

    def __init__(self, case_code: str, transition: Transition, state: CaseState) -> None:
        self.case_code = case_code
        self.transition = transition
        self.state = state
        allowed = "、".join(CASE_STATE_ZH[s] for s in sorted(RULES[transition].sources))
        self.message_zh = (
            f"编号 {case_code} 当前状态为「{CASE_STATE_ZH[state]}」，不能{TRANSITION_ZH[transition]}"
            f"（只有{allowed}的件可以{TRANSITION_ZH[transition]}）。"
        )
        super().__init__(f"case {case_code}: cannot {transition.value} from {state.value}")


def can_apply(state: CaseState | str, transition: Transition) -> bool:
    return CaseState(state) in RULES[transition].sources


# ---- command guards: checks a command makes before it changes anything ------------------------------


class Refusal(StrEnum):
    """Why a command is refused although the transition table alone would not say so."""

    NOT_HELD = "not_held"  # the case is no longer with any member (transferred, answered, closed...)
    NOT_YOURS = "not_yours"  # held by another member
    NOT_REPLIED = "not_replied"  # a return visit for a case not answered yet
    MERGE_SELF = "merge_self"
    MERGE_TARGET = "merge_target"  # the target is merged or rejected itself
    CATEGORY_FIXED = "category_fixed"  # the category of a finished case
    URGENCY_FIXED = "urgency_fixed"  # urgency for a finished case


class CommandRefused(Exception):
    """A guard said no; handlers render `refusal` in the reader's words (handlers.texts)."""

    def __init__(self, refusal: Refusal, case_code: str, state: CaseState, other_code: str = "") -> None:
        self.refusal = refusal
        self.case_code = case_code
        self.state = state
        self.other_code = other_code
        super().__init__(f"case {case_code}: refused ({refusal.value}) in state {state.value}")


def is_escalated(case: Case) -> bool:
    """Reopened again after a second 不满意, and not replied since: staff watch it (待办)."""
    return case.state == S.REOPENED and case.reopen_count >= ESCALATED_AFTER_REOPENS


def is_held_by_member(case: Case) -> bool:
    return CaseState(case.state) in HELD_BY_MEMBER


def holder_id(case: Case) -> int | None:
    """The member working on the case now (assigned and not yet answered), if any."""
    return case.member_id if is_held_by_member(case) else None  # type: ignore[attr-defined]


def check_holder(case: Case, member_id: int) -> None:
    """Only the member holding a case may act on it, and only while it is held."""
    if not is_held_by_member(case):
        raise CommandRefused(Refusal.NOT_HELD, case.code, CaseState(case.state))
    if case.member_id != member_id:  # type: ignore[attr-defined]
        raise CommandRefused(Refusal.NOT_YOURS, case.code, CaseState(case.state))


def check_visit(case: Case) -> None:
    """A return visit is recorded only for a case that has been answered."""
    if CaseState(case.state) not in AWAITS_VISIT:
        raise CommandRefused(Refusal.NOT_REPLIED, case.code, CaseState(case.state))


def check_merge(case: Case, target: Case) -> None:
    if case.id == target.id:
        raise CommandRefused(Refusal.MERGE_SELF, case.code, CaseState(case.state), target.code)
    if CaseState(target.state) in NOT_MERGE_TARGET:
        raise CommandRefused(Refusal.MERGE_TARGET, case.code, CaseState(target.state), target.code)


def check_not_terminal(case: Case, refusal: Refusal) -> None:
    """Category and urgency change only while the case is still worked on."""
    if CaseState(case.state) in TERMINAL:
        raise CommandRefused(refusal, case.code, CaseState(case.state))


async def apply_transition(
    case: Case,
    transition: Transition,
    *,
    actor: str,
    reason: str = "",
    at: datetime | None = None,
    detail: dict[str, Any] | None = None,
    **changes: Any,
) -> CaseEvent:
    """Move `case` along `transition`, set `changes` on it, save, and record the event.

    Callers run this inside their own transaction together with whatever else they change.
    """
    state = CaseState(case.state)
    rule = RULES[transition]
    if state not in rule.sources:
        raise IllegalTransition(case.code, transition, state)
    moment = at or now()
    target = rule.target
    # Only one of two concurrent commands wins: the state must still be what we checked.
    won = await Case.filter(id=case.id, state=state.value).update(state=target.value, updated_at=moment)
    if not won:
        current = await Case.get(id=case.id)
        case.state = current.state
        raise IllegalTransition(case.code, transition, CaseState(current.state))
    case.state = target
    case.updated_at = moment
    for name, value in changes.items():
        setattr(case, name, value)
    await case.save()
    event_detail = dict(detail or {})
    if reason:
        event_detail["reason"] = reason
    return await CaseEvent.create(
        case=case,
        kind=f"state:{transition.value}",
        actor=actor,
        from_state=state.value,
        to_state=target.value,
        detail=event_detail,
        created_at=moment,
    )


async def record_event(case: Case, kind: str, actor: str, at: datetime | None = None, **detail: Any) -> CaseEvent:
    """Record a timeline entry that is not a state change (a message, an outbound send, a note)."""
    return await CaseEvent.create(case=case, kind=kind, actor=actor, detail=detail, created_at=at or now())
