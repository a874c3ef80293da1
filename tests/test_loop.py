"""Closing the loop with second-long deadlines: reminders, overdue notices, escalation, return visits.

Business time stands still (a `ManualClock`) until a test moves it: each deadline is checked just
short of it (nothing yet) and just past it (done), without waiting for it in real time.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from bot.app import REDIS
from bot.cli.main import demo_clocks
from bot.config import DEMO_SLA, build_config
from models.entities import Case, CaseEvent, CaseState
from models.jobs import Job, JobStatus
from models.timeutil import ManualClock
from tests.conftest import reset_postgres
from tests.harness import TRIAGE_HOOK, Stack

CODE = re.compile(r"MS\d{11,}")

# Deadlines from the start (a case received or assigned at 0): assign 1.0, its reminder at 0.5, each
# further escalation 1.0 after the last; reply 1.5, its reminder at 0.75; the return visit 0.3 after
# the reply, a phone task 0.6 after the survey went out.
FAST_SLA = {
    "assign_within": 1.0,
    "reply_within": 1.5,
    "urgent_factor": 0.5,
    "remind_at": 0.5,
    "return_visit_after": 0.3,
    "return_visit_timeout": 0.6,
}


@pytest.fixture
async def fast(database_url: str, redis_url: str, redis_client: aioredis.Redis, tmp_path: Path) -> AsyncIterator[Stack]:
    if database_url.startswith("postgres"):
        await reset_postgres(database_url)
    stack = Stack(database_url=database_url, redis_url=redis_url, tmp_path=tmp_path, clock=ManualClock())
    try:
        await stack.start(sla=FAST_SLA)  # inside: a start that fails half-way still puts the clock back
        yield stack
    finally:
        await stack.stop()


async def say(stack: Stack, userid: str, text: str) -> str:
    """A WeCom user writes to the app in single chat (over HTTP, encrypted); returns the app's answer."""
    result = await stack.wecom_user().text(userid, text)
    assert result.status == 200, result.body
    assert result.reply is not None, f"no passive reply to {text!r}: {result.body!r}"
    return str(result.reply["Content"])


async def citizen_says(stack: Stack, openid: str, text: str) -> str:
    result = await stack.citizen().text(openid, text)
    assert result.reply is not None, result
    return result.reply["Content"]


async def new_case(stack: Stack, openid: str, text: str) -> Case:
    await stack.citizen().event(openid, "SCAN", "cp:hz-hospital-1")
    match = CODE.search(await citizen_says(stack, openid, text))
    assert match
    return await Case.get(code=match.group(0))


def group(stack: Stack) -> list[str]:
    return [m.text for m in stack.platform.sent_to(TRIAGE_HOOK)]


async def test_unassigned_case_is_reminded_then_overdue_then_escalated(fast: Stack) -> None:
    case = await new_case(fast, "o-l1", "医院厕所没有纸")
    await fast.run_jobs()
    assert len(group(fast)) == 1  # the card
    await fast.advance(0.45)  # at 0.45
    assert len(group(fast)) == 1  # the reminder is due at 0.5
    await fast.advance(0.15)  # at 0.6
    assert any("【催办】" in t and case.code in t for t in group(fast))
    await fast.advance(0.35)  # at 0.95
    assert not any("【超期】" in t for t in group(fast))  # due at 1.0
    await fast.advance(0.25)  # at 1.2
    overdue = [t for t in group(fast) if "【超期】" in t and case.code in t]
    assert len(overdue) == 1
    assert case.code in await say(fast, "lisi", "待办")
    await fast.advance(0.95)  # at 2.15
    assert not any("第2次超期" in t for t in group(fast))  # 1.0 after the first notice (at 1.2)
    await fast.advance(0.15)  # at 2.3
    assert any("第2次超期" in t and case.code in t for t in group(fast))
    assert any(case.code in m.text and "督办" in m.text for m in fast.platform.sent_to("chenqi"))  # the admin
    # Assigned at last: the next escalation (at 3.3) finds the case moved on and stays silent.
    await say(fast, "lisi", f"派 {case.code} 张三")
    posts_before = len(group(fast))
    await fast.advance(1.1)  # at 3.4
    (third,) = [j for j in await Job.filter(kind="sla.overdue") if j.payload["round"] == 3]
    assert third.status == JobStatus.DONE
    assert third.result == {"skipped": "case moved on"}
    assert not any("超期" in t and "交办" in t for t in group(fast)[posts_before:])
    timers = await CaseEvent.filter(case=case, kind__startswith="sla.").values_list("kind", "detail")
    assign = [kind for kind, detail in timers if detail["stage"] == "assign"]
    assert assign.count("sla.reminder") == 1
    assert assign.count("sla.overdue") == 2
    # The reply's own reminder (0.75 after the assignment at 2.3) fell due in that time too.
    assert [kind for kind, detail in timers if detail["stage"] == "reply"] == ["sla.reminder"]


async def test_member_is_reminded_and_an_overdue_reply_is_reported(fast: Stack) -> None:
    case = await new_case(fast, "o-l2", "门诊楼电梯停运")
    await say(fast, "lisi", f"派 {case.code} 张三")
    await fast.run_jobs()
    await fast.advance(0.7)  # at 0.7
    assert not any("【催办】" in m.text for m in fast.platform.sent_to("zhangsan"))  # due at 0.75
    await fast.advance(0.2)  # at 0.9
    to_member = [m.text for m in fast.platform.sent_to("zhangsan")]
    assert any("【催办】" in t and case.code in t for t in to_member)
    await fast.advance(0.55)  # at 1.45
    assert not any("【超期提醒】" in m.text for m in fast.platform.sent_to("zhangsan"))  # due at 1.5
    assert not any("【超期】" in t for t in group(fast))
    await fast.advance(0.25)  # at 1.7
    assert any("【超期提醒】" in m.text for m in fast.platform.sent_to("zhangsan"))
    assert any("【超期】" in t and "答复期限" in t and case.code in t for t in group(fast))


async def test_timers_survive_a_restart_and_a_redis_flush_and_fire_once(fast: Stack) -> None:
    case = await new_case(fast, "o-l3", "住院费结算慢")
    await fast.app[REDIS].flushdb()
    await fast.restart_service()
    await fast.advance(0.45)  # at 0.45: nothing is due yet
    assert await CaseEvent.filter(case=case, kind__startswith="sla.").count() == 0
    await fast.advance(0.75)  # at 1.2: past the reminder (0.5) and the deadline (1.0)
    await fast.restart_service()
    await fast.run_jobs()
    await fast.run_jobs()
    kinds = await CaseEvent.filter(case=case).values_list("kind", flat=True)
    assert kinds.count("sla.reminder") == 1
    assert kinds.count("sla.overdue") == 1
    assert len([t for t in group(fast) if "【超期】" in t and case.code in t]) == 1


async def test_return_visit_closes_a_satisfied_case(fast: Stack) -> None:
    case = await new_case(fast, "o-l4", "药房取药排队久")
    await say(fast, "lisi", f"派 {case.code} 张三")
    await say(fast, "zhangsan", f"答 {case.code} 已增开两个取药窗口")
    await fast.advance(0.25)  # at 0.25: the survey is due at 0.3
    assert not any("【回访】" in m.text for m in fast.platform.sent_to("o-l4"))
    await case.refresh_from_db()
    assert case.state == CaseState.REPLIED
    await fast.advance(0.15)  # at 0.4
    survey = fast.platform.sent_to("o-l4")[-1].text
    assert "【回访】" in survey
    assert case.code in survey
    assert "1 满意" in survey
    await case.refresh_from_db()
    assert case.state == CaseState.RETURN_VISIT
    thanks = await citizen_says(fast, "o-l4", "1")
    assert "已办结" in thanks
    assert case.code in thanks
    await case.refresh_from_db()
    assert case.state == CaseState.CLOSED
    assert case.satisfaction == 1
    assert case.visit_channel == "citizen"
    # Writing again later starts a new case that points back to the closed one.
    again = await citizen_says(fast, "o-l4", "药房又开始排长队了")
    new_code = CODE.search(again).group(0)
    assert new_code != case.code
    assert case.code in again


async def test_dissatisfied_reopens_to_the_same_member_and_a_second_time_escalates(fast: Stack) -> None:
    case = await new_case(fast, "o-l5", "医院附近夜间噪音")
    await say(fast, "lisi", f"派 {case.code} 张三")
    await say(fast, "zhangsan", f"答 {case.code} 已联系城管")
    await fast.advance(0.4)  # the survey went out at 0.3
    answer = await citizen_says(fast, "o-l5", "3 还是很吵")
    assert "重新办理" in answer
    assert case.code in answer
    await case.refresh_from_db()
    assert case.state == CaseState.REOPENED
    assert case.satisfaction_comment == "还是很吵"
    await fast.run_jobs()
    assert any("【重办】" in m.text and "还是很吵" in m.text for m in fast.platform.sent_to("zhangsan"))
    await say(fast, "zhangsan", f"答 {case.code} 已安排夜间巡查")
    await fast.advance(0.25)  # at 0.65: the second survey is due 0.3 after the second reply (at 0.4)
    assert len([m for m in fast.platform.sent_to("o-l5") if "【回访】" in m.text]) == 1
    await fast.advance(0.15)  # at 0.8
    assert len([m for m in fast.platform.sent_to("o-l5") if "【回访】" in m.text]) == 2
    assert "二次不满意" not in await say(fast, "lisi", "待办")  # once: a reopen is the member's to answer
    await citizen_says(fast, "o-l5", "不满意 没有变化")
    await fast.run_jobs()
    assert any("二次不满意" in t and case.code in t for t in group(fast))
    # Escalated, it stays on the staff's list until it is replied again (not only once it is late).
    queue = await say(fast, "lisi", "待办")
    assert f"【二次不满意】{case.code}" in queue
    assert "委员张三" in queue
    await say(fast, "zhangsan", f"答 {case.code} 已在夜间加装隔音屏")
    assert case.code not in await say(fast, "lisi", "待办")


async def test_unanswered_survey_becomes_a_phone_task_recorded_by_staff(fast: Stack) -> None:
    case = await new_case(fast, "o-l6", "挂号机经常死机")
    await say(fast, "lisi", f"转 {case.code} d-health")
    await say(fast, "lisi", f"答 {case.code} 卫健委：已更换挂号机")
    await fast.advance(0.4)  # the survey went out at 0.3; unanswered, it is a phone task at 0.9
    assert any("【回访】" in m.text for m in fast.platform.sent_to("o-l6"))
    await fast.advance(0.45)  # at 0.85
    assert not any("【电话回访】" in t for t in group(fast))
    await fast.advance(0.25)  # at 1.1
    assert any("【电话回访】" in t and case.code in t for t in group(fast))
    assert f"回访 {case.code}" in await say(fast, "lisi", "待办")
    recorded = await say(fast, "lisi", f"回访 {case.code} 2 电话回访，群众基本满意")
    assert "已办结" in recorded
    await case.refresh_from_db()
    assert case.state == CaseState.CLOSED
    assert case.visit_channel == "phone"
    assert case.satisfaction == 2
    assert "只有已答复的件" in await say(fast, "lisi", f"回访 {case.code} 1")


async def test_the_visit_rate_counts_only_cases_whose_visit_is_due(fast: Stack) -> None:
    case = await new_case(fast, "o-l7r", "医院门口积水")
    await say(fast, "lisi", f"派 {case.code} 张三")
    await say(fast, "zhangsan", f"答 {case.code} 已疏通下水道")
    assert "回访率 —" in await say(fast, "lisi", "统计")  # replied, the survey not due yet: not 0 %
    await fast.advance(0.4)  # the survey went out at 0.3
    await citizen_says(fast, "o-l7r", "1")
    assert "回访率 100%" in await say(fast, "lisi", "统计")


async def test_stats_in_the_triage_group(fast: Stack) -> None:
    done = await new_case(fast, "o-l7", "医院门口乱停车")
    await say(fast, "lisi", f"派 {done.code} 张三")
    await say(fast, "zhangsan", f"答 {done.code} 已增设停车引导员")
    await fast.advance(0.4)  # past the survey (0.3)
    await citizen_says(fast, "o-l7", "1")
    await new_case(fast, "o-l8", "医院食堂饭菜凉")
    assert CODE.search(await citizen_says(fast, "o-l8b", "小区路灯坏了"))  # no code scanned first
    stats = await say(fast, "lisi", "统计")
    assert "今日：新增 3 件" in stats
    assert "按时交办 100%" in stats
    assert "回访率 100%" in stats
    assert "满意率 100%" in stats
    assert "湖州市中心医院：2 件" in stats
    assert "未经联系点（直接留言）：1 件" in stats  # every new case is in the per-point figures
    member = await say(fast, "lisi", "统计 张三")
    assert "委员张三" in member
    assert "今日：新增 1 件" in member


async def test_a_new_complaint_starting_with_a_digit_is_not_a_survey_answer_and_codes_work(fast: Stack) -> None:
    case = await new_case(fast, "o-l9", "电梯坏了")
    await say(fast, "lisi", f"派 {case.code} 张三")
    await say(fast, "zhangsan", f"答 {case.code} 已修好")
    await fast.advance(0.4)  # past the survey (0.3)
    await case.refresh_from_db()
    assert case.state == CaseState.RETURN_VISIT
    fresh = await citizen_says(fast, "o-l9", "3号楼电梯又坏了")
    assert "重新办理" not in fresh
    assert "感谢您的评价" not in fresh
    await case.refresh_from_db()
    assert case.state == CaseState.RETURN_VISIT  # not reopened by accident
    answered = await citizen_says(fast, "o-l9", f"{case.code} 3 还是会停，电话13812345678")
    assert case.code in answered
    assert "重新办理" in answered
    await fast.run_jobs()
    to_member = [m.text for m in fast.platform.sent_to("zhangsan") if "【重办】" in m.text]
    assert len(to_member) == 1
    assert "13812345678" not in to_member[0]
    assert "138****5678" in to_member[0]


async def test_the_status_of_a_rejected_case_does_not_promise_handling(fast: Stack) -> None:
    case = await new_case(fast, "o-l10", "广告推销")
    await say(fast, "lisi", f"退 {case.code} 与政协工作无关")
    status = await citizen_says(fast, "o-l10", case.code)
    assert "不予受理" in status
    assert "尽快办理" not in status


@pytest.fixture
async def demo(database_url: str, redis_url: str, redis_client: aioredis.Redis, tmp_path: Path) -> AsyncIterator[Stack]:
    """The clocks of `mashang serve --demo` (demo_clocks), on a manual clock."""
    if database_url.startswith("postgres"):
        await reset_postgres(database_url)
    sla = demo_clocks(build_config({}, environ={})).sla
    assert sla == DEMO_SLA
    stack = Stack(database_url=database_url, redis_url=redis_url, tmp_path=tmp_path, clock=ManualClock())
    try:
        await stack.start(sla=dict(vars(sla)))
        yield stack
    finally:
        await stack.stop()


async def test_the_demo_brings_the_survey_a_minute_after_the_reply_and_reminders_within_minutes(demo: Stack) -> None:
    await demo.citizen().event("o-demo-1", "SCAN", "cp:hz-hospital-1")
    acknowledged = await citizen_says(demo, "o-demo-1", "医院门口停车太难")
    assert "我们将在5分钟内交办、10分钟内答复" in acknowledged  # the promise says the demo's clocks
    case = await Case.get(code=CODE.search(acknowledged).group(0))
    await demo.run_jobs()
    await demo.advance(3 * 60 + 40)
    assert not any("【催办】" in t for t in group(demo))
    await demo.advance(10)  # 3 min 50 s: past 75 % of the 5 minutes allowed
    assert any("【催办】" in t and case.code in t for t in group(demo))
    await demo.advance(80)  # 5 min 10 s
    assert any("【超期】" in t and case.code in t for t in group(demo))
    await say(demo, "lisi", f"派 {case.code} 张三")
    await say(demo, "zhangsan", f"答 {case.code} 已协调增设停车位")
    await demo.run_jobs()

    def surveys() -> list[str]:
        return [m.text for m in demo.platform.sent_to("o-demo-1") if "【回访】" in m.text]

    await demo.advance(55)
    assert surveys() == []
    await demo.advance(10)  # a minute after the reply
    assert len(surveys()) == 1
    await demo.advance(5 * 60 + 10)  # unanswered for 5 minutes: a phone task
    assert any("【电话回访】" in t and case.code in t for t in group(demo))
