import pytest

from models.entities import Case, CaseEvent, CaseState, Citizen
from models.state import RULES, IllegalTransition, Transition, apply_transition, can_apply
from models.timeutil import now


async def _case(state: CaseState = CaseState.RECEIVED) -> Case:
    citizen, _ = await Citizen.get_or_create(openid="o-sm")
    moment = now()
    count = await Case.all().count()
    return await Case.create(
        code=f"MS26112300{count:02d}0",
        citizen=citizen,
        state=state,
        created_at=moment,
        updated_at=moment,
        last_citizen_message_at=moment,
    )


async def test_the_happy_path_is_recorded_with_actor_and_reason(db: None) -> None:
    case = await _case()
    steps = [
        (Transition.ASSIGN, "staff:s-li", CaseState.ASSIGNED),
        (Transition.ACCEPT, "member:m-zhang", CaseState.ACCEPTED),
        (Transition.REPLY, "member:m-zhang", CaseState.REPLIED),
        (Transition.START_RETURN_VISIT, "system", CaseState.RETURN_VISIT),
        (Transition.CLOSE, "citizen:o-sm", CaseState.CLOSED),
    ]
    for transition, actor, expected in steps:
        await apply_transition(case, transition, actor=actor, reason=f"because {transition.value}")
        assert case.state == expected
    events = await CaseEvent.filter(case=case).order_by("id")
    assert [(e.kind, e.actor, e.from_state, e.to_state) for e in events] == [
        ("state:assign", "staff:s-li", "received", "assigned"),
        ("state:accept", "member:m-zhang", "assigned", "accepted"),
        ("state:reply", "member:m-zhang", "accepted", "replied"),
        ("state:start_return_visit", "system", "replied", "return_visit"),
        ("state:close", "citizen:o-sm", "return_visit", "closed"),
    ]
    assert events[0].detail["reason"] == "because assign"
    assert (await Case.get(id=case.id)).state == CaseState.CLOSED


async def test_illegal_transitions_raise_a_clear_chinese_error_and_change_nothing(db: None) -> None:
    case = await _case(CaseState.CLOSED)
    with pytest.raises(IllegalTransition) as info:
        await apply_transition(case, Transition.ASSIGN, actor="staff:s-li")
    assert case.code in info.value.message_zh
    assert "已办结" in info.value.message_zh
    assert "交办" in info.value.message_zh
    assert (await Case.get(id=case.id)).state == CaseState.CLOSED
    assert await CaseEvent.filter(case=case).count() == 0


def test_terminal_states_allow_nothing_and_every_state_is_reachable() -> None:
    for transition in Transition:
        for terminal in (CaseState.CLOSED, CaseState.MERGED, CaseState.REJECTED):
            assert not can_apply(terminal, transition)
    targets = {rule.target for rule in RULES.values()}
    assert targets | {CaseState.RECEIVED} == set(CaseState)


async def test_two_concurrent_commands_cannot_both_win(db: None) -> None:
    case = await _case()
    stale = await Case.get(id=case.id)  # a second worker read the case at the same moment
    await apply_transition(case, Transition.ASSIGN, actor="staff:s-li")
    with pytest.raises(IllegalTransition) as info:
        await apply_transition(stale, Transition.REJECT, actor="staff:s-chen", reason="重复")
    assert "已交办" in info.value.message_zh
    assert (await Case.get(id=case.id)).state == CaseState.ASSIGNED
    assert await CaseEvent.filter(case=case).count() == 1
