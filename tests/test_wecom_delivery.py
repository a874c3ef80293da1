"""WeCom delivery jobs against the fake platform: app messages, the triage group, smart-bot answers,
rate limits that hold messages back instead of losing them, per-recipient order, outages."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from bot.app import INBOX, REDIS, WECOM_DELIVERY
from bot.outbound.parts import body_of, marker
from bot.outbound.rate_limit import RateLimiter
from bot.outbound.wecom import WeComDelivery
from handlers.cases.outbox import SEND_BOT_REPLY, SEND_TRIAGE, send_bot_reply, send_to_triage, send_to_wecom_user
from handlers.events import ChatEvent, Reply
from handlers.routing import Router
from models.entities import Case, CaseEvent
from models.jobs import Job, JobStatus
from models.timeutil import now
from tests.conftest import reset_postgres
from tests.harness import TRIAGE_HOOK, Stack
from tests.test_wecom_chat import create_chat


async def new_case(stack: Stack, openid: str = "o-w1", text: str = "医院门口停车难") -> Case:
    citizen = stack.citizen()
    await citizen.event(openid, "SCAN", "cp:hz-hospital-1")
    await citizen.text(openid, text)
    case = await Case.filter(citizen__openid=openid).order_by("-id").first()
    assert case is not None
    return case


def advance_platform(stack: Stack, seconds: float) -> None:
    stack.platform.clock = lambda: time.time() + seconds


async def window_passes(stack: Stack, bucket: str) -> None:
    """A minute passes for the limiter and the fake platform; every held job becomes due."""
    await stack.app[WECOM_DELIVERY].limiter.reset(bucket)
    advance_platform(stack, 61)
    await stack.make_jobs_due()


async def test_app_messages_go_out_as_text_or_markdown_and_land_on_the_timeline(stack: Stack) -> None:
    case = await new_case(stack)
    await send_to_wecom_user("zhangsan", f"请办理 {case.code}", case=case)
    await send_to_wecom_user("zhangsan", f"**{case.code}** 已超期", markdown=True, case=case)
    await stack.run_jobs()
    sent = stack.platform.sent_to("zhangsan")
    assert [(m.channel, m.text) for m in sent] == [
        ("wecom_text", f"请办理 {case.code}"),
        ("wecom_markdown", f"**{case.code}** 已超期"),
    ]
    events = await CaseEvent.filter(case=case, kind="message.out").order_by("id")
    channels = [e.detail["channel"] for e in events]
    assert channels.count("wecom_text") == 1
    assert channels.count("wecom_markdown") == 1
    assert "triage_webhook" in channels  # the new-case card
    assert [m for m in stack.triage_messages() if case.code in m]


async def test_a_long_text_goes_out_in_parts_in_order(stack: Stack) -> None:
    text = "\n".join(f"第{i}行：" + "群众反映的情况" * 20 for i in range(30))
    await send_to_wecom_user("zhangsan", text)
    await stack.run_jobs()
    parts = [m.text for m in stack.platform.sent_to("zhangsan")]
    assert len(parts) > 1
    assert all(len(p.encode()) <= 2048 for p in parts)  # nothing was cut by WeCom
    assert [p.split("\n", 1)[0] for p in parts] == [marker(i, len(parts)) for i in range(1, len(parts) + 1)]
    assert "\n".join(body_of(p) for p in parts) == text
    job = await Job.get(kind="send.wecom_user")
    assert job.status == JobStatus.DONE
    assert job.result == {"channel": "wecom_text", "parts": len(parts)}


async def test_a_token_wecom_keeps_rejecting_holds_the_message_without_using_its_attempts(stack: Stack) -> None:
    await send_to_wecom_user("zhangsan", "一")
    await stack.run_jobs()
    stack.platform.spoil_tokens()  # rejected, yet gettoken keeps handing it out
    await send_to_wecom_user("zhangsan", "二")
    for _ in range(3):
        await stack.make_jobs_due()
        await stack.run_jobs()
    job = await Job.filter(kind="send.wecom_user").order_by("-id").first()
    assert job is not None
    assert (job.status, job.attempts) == (JobStatus.PENDING, 0)  # retried, never dead
    assert "token rejected" in (job.last_error or "")
    assert len(stack.platform.calls_to("gettoken")) == 2  # one refetch; the next tries came too soon to ask
    stack.platform.expire_tokens()  # WeCom replaces the token ...
    await stack.make_jobs_due()
    await stack.run_jobs()
    assert stack.texts_to("zhangsan") == ["一"]  # ... which the next try past the 5 s finds
    stack.app[WECOM_DELIVERY].wecom.tokens.refetch_gap_s = 0.0
    await stack.app[REDIS].delete(*await stack.app[REDIS].keys("*token-stuck:*"))
    await stack.make_jobs_due()
    await stack.run_jobs()
    assert stack.texts_to("zhangsan") == ["一", "二"]


async def test_webhook_rate_limit_holds_the_excess_until_the_window_passes(stack: Stack) -> None:
    for index in range(25):
        await send_to_triage(f"消息 {index}")
    await stack.run_jobs()
    assert stack.triage_messages() == [f"消息 {i}" for i in range(18)]
    held = await Job.filter(kind=SEND_TRIAGE, status=JobStatus.PENDING).order_by("id")
    assert len(held) == 7
    assert all(job.attempts == 0 for job in held)  # waiting is not failing
    assert all(job.run_at > now() + timedelta(seconds=30) for job in held), [j.last_error for j in held]
    assert not any(c.errcode for c in stack.platform.calls_to("/webhook/send"))  # WeCom never refused one

    await window_passes(stack, f"webhook:{TRIAGE_HOOK}")
    await stack.run_jobs()
    assert stack.triage_messages() == [f"消息 {i}" for i in range(25)]
    assert await Job.filter(kind=SEND_TRIAGE, status=JobStatus.DONE).count() == 25


async def test_per_user_rate_limit_holds_one_user_and_not_the_others(stack: Stack) -> None:
    for index in range(30):
        await send_to_wecom_user("zhangsan", f"张{index}")
    await send_to_wecom_user("wangwu", "王0")
    await stack.run_jobs()
    assert stack.texts_to("zhangsan") == [f"张{i}" for i in range(28)]
    assert stack.texts_to("wangwu") == ["王0"]
    await window_passes(stack, "user:zhangsan")
    await stack.run_jobs()
    assert stack.texts_to("zhangsan") == [f"张{i}" for i in range(30)]


async def test_nothing_is_lost_while_wecom_fails_and_order_holds(stack: Stack) -> None:
    stack.platform.fail_all("/cgi-bin/message/send", http_status=502)
    stack.platform.fail_all("/cgi-bin/webhook/send", errcode=-1)
    for index in range(3):
        await send_to_wecom_user("zhangsan", f"第{index}条")
        await send_to_triage(f"群消息{index}")
    for _ in range(3):
        await stack.make_jobs_due()
        await stack.run_jobs()
    assert stack.platform.messages == []
    # Only the oldest message of each recipient tried; the others wait behind it.
    jobs = await Job.filter(status=JobStatus.PENDING).order_by("id")
    assert len(jobs) == 6
    assert [j.attempts for j in jobs] == [3, 3, 0, 0, 0, 0]
    assert len(stack.platform.calls_to("/cgi-bin/message/send")) == 3
    stack.platform.recover()
    await stack.make_jobs_due()
    await stack.run_jobs()
    assert stack.texts_to("zhangsan") == ["第0条", "第1条", "第2条"]
    assert stack.triage_messages() == ["群消息0", "群消息1", "群消息2"]


async def test_a_permanent_error_gives_up_one_message_and_the_next_goes_out(stack: Stack) -> None:
    stack.platform.fail_next("/cgi-bin/message/send", errcode=81013)  # user invalid
    await send_to_wecom_user("zhangsan", "一")
    await send_to_wecom_user("zhangsan", "二")
    await stack.run_jobs()
    assert stack.texts_to("zhangsan") == ["二"]
    dead = await Job.get(status=JobStatus.DEAD)
    assert "81013" in (dead.last_error or "")


async def test_bot_reply_uses_the_response_url_once_then_falls_back_to_the_triage_group(stack: Stack) -> None:
    router = Router("test", event_type=ChatEvent)

    @router.handler()
    async def answer(event: ChatEvent) -> Reply:
        return Reply(f"收到：{event.text}")

    stack.app[INBOX].router = router
    bot = stack.bot()
    await bot.text("lisi", "查 MS1")
    await stack.app[INBOX].drain()
    await stack.run_jobs()
    assert stack.bot_answers() == ["收到：查 MS1"]
    used_url = bot.last_response_url
    assert len(stack.platform.calls_to("/aibot/response")) == 1

    # The same URL again (used up): one refused try, then the triage group carries the text.
    job = await send_bot_reply(used_url, "第二个答复")
    await stack.run_jobs()
    assert len(stack.platform.calls_to("/aibot/response")) == 2
    assert stack.triage_messages() == ["第二个答复"]
    assert stack.bot_answers() == ["收到：查 MS1"]
    assert job is not None
    done = await Job.get(id=job.id)
    assert done.result["channel"] == "triage_fallback"
    assert "response_url refused" in done.payload["response_url_failed"]

    # No URL, an expired one, a URL that is not WeCom's: straight to the group, no call at all.
    await send_bot_reply(None, "没有链接")
    fresh = await bot.response_url("wr-triage-group")
    expired = await send_bot_reply(fresh, "过期了")
    assert expired is not None
    await Job.filter(id=expired.id).update(created_at=now() - timedelta(hours=2))
    await send_bot_reply("http://127.0.0.1:9/cgi-bin/aibot/response?response_code=x", "别处的链接")
    await stack.run_jobs()
    assert len(stack.platform.calls_to("/aibot/response")) == 2
    assert stack.triage_messages() == ["第二个答复", "没有链接", "过期了", "别处的链接"]


async def test_bot_reply_waits_out_an_outage_and_still_uses_its_url(stack: Stack) -> None:
    bot = stack.bot()
    url = await bot.response_url("wr-triage-group")
    stack.platform.fail_all("/aibot/response", http_status=503)
    await send_bot_reply(url, "稍后送达")
    await stack.run_jobs()
    assert stack.bot_answers() == []
    assert (await Job.get(kind=SEND_BOT_REPLY)).status == JobStatus.PENDING
    stack.platform.recover()
    await stack.make_jobs_due()
    await stack.run_jobs()
    assert stack.bot_answers() == ["稍后送达"]
    assert stack.triage_messages() == []


@pytest.fixture
async def appchat_stack(
    database_url: str, redis_url: str, redis_client: aioredis.Redis, tmp_path: Path
) -> AsyncIterator[Stack]:
    if database_url.startswith("postgres"):
        await reset_postgres(database_url)
    stack = Stack(database_url=database_url, redis_url=redis_url, tmp_path=tmp_path)
    await stack.start(wecom={"triage_chat_id": "wrTRIAGECHAT"})
    # The chat exists because the operator created it through appchat/create, as operations.md says.
    assert await create_chat(stack, "--chat-id", "wrTRIAGECHAT") == 0
    try:
        yield stack
    finally:
        await stack.stop()


async def test_triage_goes_to_the_appchat_when_one_is_configured(appchat_stack: Stack) -> None:
    stack = appchat_stack
    case = await new_case(stack, "o-w9", "学校门口太堵")
    await stack.run_jobs()  # the new case's card goes out first
    await send_to_triage("第二条")
    await stack.run_jobs()
    messages = [m for m in stack.platform.messages if m.recipient == "wrTRIAGECHAT"]
    assert [m.channel for m in messages] == ["appchat", "appchat"]
    assert case.code in messages[0].text
    assert messages[1].text == "第二条"
    assert stack.triage_messages() == [m.text for m in messages]
    assert stack.platform.calls_to("/webhook/send") == []
    event = await CaseEvent.get(case=case, kind="message.out")
    assert event.detail["channel"] == "triage_appchat"


async def test_sliding_window_limiter(redis_client: aioredis.Redis) -> None:
    clock = [1000.0]
    limiter = RateLimiter(redis_client, "t:", clock=lambda: clock[0])
    limits = ((3, 10.0), (5, 100.0))
    assert [await limiter.acquire("b", limits) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert await limiter.acquire("b", limits) == pytest.approx(10.0)
    clock[0] += 4
    assert await limiter.acquire("b", limits) == pytest.approx(6.0)
    assert await limiter.acquire("other", limits) == 0.0
    clock[0] += 6.001
    assert await limiter.acquire("b", limits) == 0.0
    assert await limiter.acquire("b", limits) == 0.0
    assert await limiter.acquire("b", limits) == pytest.approx(90.0, abs=0.01)  # the hourly-style window
    await limiter.reset("b")
    assert await limiter.acquire("b", limits) == 0.0
    # Redis server time when no clock is given.
    real = RateLimiter(redis_client, "t:")
    assert await real.acquire("r", ((1, 60.0),)) == 0.0
    assert 59.0 < await real.acquire("r", ((1, 60.0),)) <= 60.0


async def test_wecoms_own_response_url_is_posted_through_the_proxy(stack: Stack) -> None:
    # Outbound calls go through a proxy (here the fake, at wecom.api_base_url), while WeCom writes its own
    # host into the push: the answer reaches it, through the proxy, with the push's response_code.
    router = Router("test", event_type=ChatEvent)

    @router.handler()
    async def answer(event: ChatEvent) -> Reply:
        return Reply(f"收到：{event.text}")

    stack.app[INBOX].router = router
    bot = stack.bot(response_host="https://qyapi.weixin.qq.com")
    await bot.text("lisi", "查 MS1")
    assert bot.last_response_url is not None
    assert bot.last_response_url.startswith("https://qyapi.weixin.qq.com/cgi-bin/aibot/response?response_code=")
    await stack.app[INBOX].drain()
    await stack.run_jobs()
    assert stack.bot_answers() == ["收到：查 MS1"]
    [call] = stack.platform.calls_to("/aibot/response")
    assert call.path == "/wecom/cgi-bin/aibot/response"  # under the configured base, not at qq.com
    assert call.query["response_code"] == bot.last_response_url.rsplit("=", 1)[1]
    assert stack.triage_messages() == []

    # Any other host, or another path on WeCom's, is still refused: no call, the group gets the text.
    code = stack.platform.issue_response_code("wr-triage-group")
    for url in (
        f"https://qyapi.weixin.qq.com.evil.example/cgi-bin/aibot/response?response_code={code}",
        f"https://evil.example/cgi-bin/aibot/response?response_code={code}",
        f"http://qyapi.weixin.qq.com/cgi-bin/aibot/response?response_code={code}",
        f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={code}",
        f"https://someone@qyapi.weixin.qq.com/cgi-bin/aibot/response?response_code={code}",
    ):
        await send_bot_reply(url, url)
    await stack.run_jobs()
    assert len(stack.platform.calls_to("/aibot/response")) == 1
    assert len(stack.triage_messages()) == 5


def test_without_a_proxy_wecoms_response_url_is_used_as_it_is() -> None:
    delivery = WeComDelivery(None, None, api_base_url="https://qyapi.weixin.qq.com")  # type: ignore[arg-type]
    url = "https://qyapi.weixin.qq.com/cgi-bin/aibot/response?response_code=abc%2Bd"
    assert delivery._response_target(url) == url
    assert delivery._response_target("https://evil.example/cgi-bin/aibot/response?response_code=x") is None
    proxied = WeComDelivery(None, None, api_base_url="https://proxy.example.gov.cn/wecom/")  # type: ignore[arg-type]
    assert proxied._response_target(url) == (
        "https://proxy.example.gov.cn/wecom/cgi-bin/aibot/response?response_code=abc%2Bd"
    )
