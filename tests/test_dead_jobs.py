"""No silent dead jobs (issue 14 §4): a configuration error an administrator fixes in minutes holds the
messages sent meanwhile back (retried slowly, attempts not counted) and tells the triage group once per
cause what to fix; past `[jobs] misconfigured_ceiling` they are dead, kept, and `mashang jobs retry`
sends them. 81013 tells staff a member cannot be reached; 45009 waits for the next Beijing day."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import redis.asyncio as aioredis

from models.entities import Case, CaseEvent, Citizen
from models.jobs import Job, JobStatus
from models.timeutil import ManualClock, now
from tests.conftest import reset_postgres
from tests.harness import Stack

ROOT = Path(__file__).resolve().parent.parent
CODE = re.compile(r"MS\d{11,}")
RETRY_S = 600.0
CEILING_S = 6 * 3600.0
BEIJING = ZoneInfo("Asia/Shanghai")


@pytest.fixture
async def clocked(
    database_url: str, redis_url: str, redis_client: aioredis.Redis, tmp_path: Path
) -> AsyncIterator[Stack]:
    if database_url.startswith("postgres"):
        await reset_postgres(database_url)
    # Business time a little ahead of real time, as the `mashang jobs` process (real time) sees it; not much:
    # the customer-service window counts from the real time of the citizen's message.
    start = datetime.now(UTC) + timedelta(minutes=30)
    stack = Stack(database_url=database_url, redis_url=redis_url, tmp_path=tmp_path, clock=ManualClock(start))
    try:
        await stack.start(jobs={"misconfigured_retry": RETRY_S, "misconfigured_ceiling": CEILING_S})
        yield stack
    finally:
        await stack.stop()


async def say(stack: Stack, userid: str, text: str) -> str:
    result = await stack.wecom_user().text(userid, text)
    assert result.status == 200, result.body
    assert result.reply is not None, result.body
    return str(result.reply["Content"])


async def new_case(stack: Stack, openid: str, text: str) -> Case:
    await stack.citizen().event(openid, "SCAN", "cp:hz-hospital-1")
    result = await stack.citizen().text(openid, text)
    assert result.reply is not None, result
    match = CODE.search(str(result.reply["Content"]))
    assert match, result.reply
    await stack.run_jobs()
    return await Case.get(code=match.group(0))


async def assigned_and_replied(stack: Stack, openid: str, reply: str) -> Case:
    case = await new_case(stack, openid, "医院门口停车太难")
    await say(stack, "lisi", f"派 {case.code} 张三")
    await say(stack, "zhangsan", f"答 {case.code} {reply}")
    await stack.run_jobs()
    return case


def alerts(stack: Stack, title: str) -> list[str]:
    return [text for text in stack.triage_messages() if title in text]


def about(stack: Stack, userid: str, code: str) -> list[str]:
    return [text for text in stack.texts_to(userid) if code in text]


async def run_cli(stack: Stack, *args: str) -> tuple[int, str, str]:
    """`mashang <args>` as an operator runs it (its own process), on the stack's database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MASHANG_")}
    env["MASHANG_DATABASE_URL"] = stack.database_url
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli.main",
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode or 0, out.decode(), err.decode()


async def test_nothing_sent_during_an_ip_whitelist_error_is_lost_and_each_cause_alerts_once(clocked: Stack) -> None:
    stack = clocked
    stack.platform.misconfigure(40164)  # the official account: our IP is not whitelisted
    stack.platform.misconfigure(60020)  # the WeCom app: not a trusted IP (the group robot still works)
    first = await assigned_and_replied(stack, "o-d1", "已协调增设停车位")
    second = await assigned_and_replied(stack, "o-d2", "已安排保安疏导")
    # Nothing reached the member or the citizens; the jobs wait, their attempts not counted.
    assert about(stack, "zhangsan", first.code) == []
    assert not any("停车位" in text or "保安" in text for text in stack.texts_to("o-d1") + stack.texts_to("o-d2"))
    waiting = await Job.filter(kind__in=["send.citizen", "send.wecom_user"], status=JobStatus.PENDING)
    assert len(waiting) >= 4
    assert all(job.attempts == 0 for job in waiting)
    # Those WeChat refused carry the time the error began (their ceiling); the ones queued behind them
    # take it over when they next look (on PostgreSQL that may be after this snapshot).
    assert all(job.blocked_since is not None for job in waiting if "configuration error" in (job.last_error or ""))
    refused = {job.kind for job in waiting if "configuration error" in (job.last_error or "")}
    assert refused == {"send.citizen", "send.wecom_user"}  # the others wait behind those, sharing their wait
    # One alert per cause, in Chinese, saying what to fix.
    [wechat] = alerts(stack, "【配置错误】公众号 错误码 40164")
    assert "IP白名单" in wechat
    assert "jobs retry --all-dead" in wechat
    [wecom] = alerts(stack, "【配置错误】企业微信应用 错误码 60020")
    assert "企业可信IP" in wecom
    # Still broken ten minutes later: tried again, no second alert.
    calls = len(stack.platform.calls_to("/wechat/"))
    await stack.advance(RETRY_S + 1)
    assert len(stack.platform.calls_to("/wechat/")) > calls
    assert len(alerts(stack, "【配置错误】")) == 2
    assert await Job.filter(status=JobStatus.DEAD).count() == 0
    # Fixed: within the next retry everything arrives, once each.
    stack.platform.fix()
    await stack.advance(RETRY_S + 1)
    for case, reply in ((first, "已协调增设停车位"), (second, "已安排保安疏导")):
        assert len(about(stack, "zhangsan", case.code)) == 1  # the assignment notice
        openid = "o-d1" if case is first else "o-d2"
        assert len([text for text in stack.texts_to(openid) if reply in text]) == 1
    assert await Job.filter(status__in=[JobStatus.PENDING, JobStatus.DEAD], kind__startswith="send.").count() == 0
    await stack.advance(RETRY_S + 1)
    assert len(about(stack, "zhangsan", first.code)) == 1
    assert len(alerts(stack, "【配置错误】")) == 2


async def test_past_the_ceiling_they_are_dead_and_jobs_retry_sends_them_once(clocked: Stack) -> None:
    stack = clocked
    stack.platform.misconfigure(40164)
    case = await assigned_and_replied(stack, "o-d3", "已协调增设停车位")
    code, pending, _ = await run_cli(stack, "jobs", "list")
    assert code == 0
    [held] = [line for line in pending.splitlines() if case.code in line and "发群众" in line and "40164" in line]
    assert "已试 0 次" in held
    assert "配置错误，自" in held
    await stack.advance(CEILING_S + RETRY_S)
    dead = await Job.filter(status=JobStatus.DEAD, kind="send.citizen")
    assert dead, "the reply is given up past the ceiling"
    assert all(job.case_id == case.id for job in dead)  # type: ignore[attr-defined]
    dead_total = await Job.filter(status=JobStatus.DEAD).count()  # the unionid look-up too
    code, listing, _ = await run_cli(stack, "jobs", "list", "--dead")
    assert code == 0
    assert "已放弃的任务" in listing
    assert case.code in listing
    assert "发群众" in listing
    assert "40164" in listing
    # An id that is no dead or waiting job: exit 1, nothing changed.
    code, _, err = await run_cli(stack, "jobs", "retry", "999999")
    assert code == 1
    assert "999999" in err
    assert await Job.filter(status=JobStatus.DEAD).count() == dead_total
    stack.platform.fix()
    code, out, _ = await run_cli(stack, "jobs", "retry", "--all-dead")
    assert code == 0, out
    assert f"已重新放回队列 {dead_total} 个任务" in out
    await stack.advance(1)
    assert len([text for text in stack.texts_to("o-d3") if "已协调增设停车位" in text]) == 1
    assert await Job.filter(status=JobStatus.DEAD).count() == 0
    await stack.advance(RETRY_S + 1)
    assert len([text for text in stack.texts_to("o-d3") if "已协调增设停车位" in text]) == 1


async def test_a_message_behind_a_held_one_shares_its_ceiling(clocked: Stack) -> None:
    stack = clocked
    stack.platform.misconfigure(60020)
    case = await new_case(stack, "o-d4", "医院门口停车太难")
    await say(stack, "lisi", f"派 {case.code} 张三")
    await stack.run_jobs()
    await stack.advance(RETRY_S + 1)  # the notice is held back, and stays so
    await say(stack, "lisi", f"急 {case.code}")  # another notice to the member, behind it
    await stack.run_jobs()
    to_member = await Job.filter(kind="send.wecom_user").order_by("id")
    assert len(to_member) >= 2
    await stack.advance(CEILING_S)
    await stack.advance(RETRY_S + 1)
    assert await Job.filter(kind="send.wecom_user", status=JobStatus.DEAD).count() == len(to_member)


async def test_when_the_triage_group_itself_fails_the_alert_goes_to_the_log(
    clocked: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    stack = clocked
    stack.platform.misconfigure(93000)  # the robot was removed from the triage group
    with caplog.at_level(logging.ERROR, logger="bot.outbound.alerts"):
        case = await new_case(stack, "o-d5", "学校门口积水")
    assert stack.triage_messages() == []
    [logged] = [r.getMessage() for r in caplog.records if "93000" in r.getMessage()]
    assert "wecom.triage_webhook_key" in logged
    card = await Job.get(kind="send.triage", case_id=case.id)
    assert card.status == JobStatus.PENDING
    assert card.attempts == 0
    stack.platform.fix()
    await stack.advance(RETRY_S + 1)
    assert len([text for text in stack.triage_messages() if case.code in text]) == 1
    assert alerts(stack, "【配置错误】") == []


async def test_a_bad_template_holds_the_reply_until_fixed(clocked: Stack) -> None:
    stack = clocked
    case = await new_case(stack, "o-d6", "医院门口停车太难")
    # The window closes: the reply goes as a template message, and the template is wrong.
    await Citizen.filter(openid="o-d6").update(last_inbound_at=now() - timedelta(hours=49), event_window_at=None)
    stack.platform.misconfigure(47003)
    await say(stack, "lisi", f"派 {case.code} 张三")
    await say(stack, "zhangsan", f"答 {case.code} 已协调增设停车位")
    await stack.run_jobs()
    [alert] = alerts(stack, "错误码 47003")
    assert "[wechat.templates.*]" in alert
    held = await Job.filter(kind="send.citizen", status=JobStatus.PENDING)
    assert held
    assert all(job.attempts == 0 and job.blocked_since is not None for job in held)
    stack.platform.fix(47003)
    await stack.advance(RETRY_S + 1)
    templates = [m for m in stack.platform.sent_to("o-d6") if m.channel == "template"]
    assert len(templates) == len(held)  # each once
    assert len({m.payload["client_msg_id"] for m in templates}) == len(held)
    assert await Job.filter(id__in=[job.id for job in held], status=JobStatus.DONE).count() == len(held)


async def test_a_member_outside_the_apps_visible_range_is_reported_to_staff(clocked: Stack) -> None:
    stack = clocked
    stack.platform.wecom_outside_range.add("ZhangSan")  # compared case-folded, as WeCom does
    case = await new_case(stack, "o-d7", "医院门口停车太难")
    await say(stack, "lisi", f"派 {case.code} 张三")
    await stack.run_jobs()
    [told] = [text for text in stack.triage_messages() if "【消息未送达】" in text]
    assert case.code in told
    assert "张三" in told
    assert "m-zhang" in told
    assert "可见范围" in told
    assert await Job.filter(kind="send.wecom_user", status=JobStatus.DEAD).count() == 1  # not retried forever
    assert await CaseEvent.filter(case=case, kind="message.unreachable").exists()
    # Another message to him about the case: given up too, staff are not told twice.
    await say(stack, "lisi", f"急 {case.code}")
    await stack.run_jobs()
    assert len([text for text in stack.triage_messages() if "【消息未送达】" in text]) == 1
    # The case is still workable: it goes to another member.
    await say(stack, "lisi", f"派 {case.code} 王五")
    await stack.run_jobs()
    assert len(about(stack, "wangwu", case.code)) >= 1


async def test_the_daily_quota_waits_for_the_next_beijing_day(clocked: Stack) -> None:
    stack = clocked
    stack.platform.misconfigure(45009)  # today's quota of message sends is used up
    await assigned_and_replied(stack, "o-d8", "已协调增设停车位")
    waiting = await Job.filter(kind="send.citizen", status=JobStatus.PENDING).order_by("id")
    today = now().astimezone(BEIJING).date()
    midnight = datetime.combine(today + timedelta(days=1), datetime.min.time(), tzinfo=BEIJING)
    assert waiting
    assert all(job.attempts == 0 for job in waiting)
    assert midnight < waiting[0].run_at <= midnight + timedelta(minutes=15)  # the others wait behind it
    [alert] = alerts(stack, "【接口额度用完】")
    assert "明天零点后" in alert
    # A minute before midnight: not sent, not dead (it used to die after about four hours of retries).
    await stack.advance(max(0.0, (midnight - now()).total_seconds() - 60))
    assert await Job.filter(id__in=[job.id for job in waiting], status=JobStatus.PENDING).count() == len(waiting)
    assert not [text for text in stack.texts_to("o-d8") if "停车位" in text]
    stack.platform.fix()  # the quota is renewed at midnight
    await stack.advance(16 * 60 + 1)
    assert len([text for text in stack.texts_to("o-d8") if "已协调增设停车位" in text]) == 1
