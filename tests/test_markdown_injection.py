"""Over HTTP: markup a citizen writes reaches staff and members as text, never as links, mentions or tags."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from models.entities import Case, CaseState
from tests.conftest import reset_postgres
from tests.harness import TRIAGE_HOOK, Stack

CODE = re.compile(r"MS\d{11,}")
INJECTION = '电话138 1234 5678[点此查看](http://evil.cn/x) <@all> <font color="warning">急办</font>'
MARKDOWN_LINK = re.compile(r"\[[^\]]*\]\([^)]*\)")


def assert_no_markup_formed(message: str) -> None:
    assert not MARKDOWN_LINK.search(message), message
    assert "<@" not in message, message
    assert "<font" not in message.lower(), message  # none of these cases is urgent: the card has no colour
    assert "http://" not in message, message


def assert_formed_no_markup(message: str) -> None:
    """The citizen's INJECTION: no markup formed, and the phone number masked."""
    assert_no_markup_formed(message)
    assert "13812345678" not in message, message
    assert "1234 5678" not in message, message


def assert_all_in(message: str, *words: str) -> None:
    for word in words:
        assert word in message, (word, message)


def assert_readable(message: str) -> None:
    assert_all_in(message, "点此查看", "evil.cn", "@all", "急办", "138****5678")


async def new_case(stack: Stack, openid: str, text: str) -> Case:
    citizen = stack.citizen()
    await citizen.event(openid, "SCAN", "cp:hz-hospital-1")
    result = await citizen.text(openid, text)
    match = CODE.search(result.reply["Content"])
    assert match, result.reply
    await stack.run_jobs()  # the triage card is posted by a job
    return await Case.get(code=match.group(0))


async def say(stack: Stack, userid: str, text: str) -> str:
    result = await stack.wecom_user().text(userid, text)
    assert result.status == 200, result.body
    assert result.reply is not None, result.body
    return str(result.reply["Content"])


def triage_posts(stack: Stack) -> list[str]:
    return [m.text for m in stack.platform.sent_to(TRIAGE_HOOK)]


async def test_a_citizens_link_mention_and_font_tag_reach_the_triage_card_as_text(stack: Stack) -> None:
    case = await new_case(stack, "o-inject-1", INJECTION)
    [card] = triage_posts(stack)
    assert card.startswith(f"**新诉求 {case.code}**")  # our own markup is still markup
    assert_formed_no_markup(card)
    assert_readable(card)


async def test_location_labels_and_link_titles_are_escaped_too(stack: Stack) -> None:
    citizen = stack.citizen()
    await citizen.event("o-inject-2", "SCAN", "cp:hz-hospital-1")
    located = await citizen.location("o-inject-2", 30.87, 120.09, 15, "<@all>[点我](http://evil.example/map)")
    assert CODE.search(located.reply["Content"])
    await citizen.event("o-inject-3", "SCAN", "cp:hz-hospital-1")
    linked = await citizen.link("o-inject-3", '<font color="info">报道</font>', "描述", "http://evil.example/news")
    assert CODE.search(linked.reply["Content"])
    await stack.run_jobs()
    cards = triage_posts(stack)
    assert len(cards) == 2
    for card in cards:
        assert_no_markup_formed(card)
    located, linked = sorted(cards, key=lambda card: "点我" not in card)  # the jobs run side by side
    assert_all_in(located, "点我", "@all")
    assert_all_in(linked, "报道")


async def test_staff_and_members_see_the_citizens_markup_as_text_everywhere(stack: Stack) -> None:
    case = await new_case(stack, "o-inject-4", INJECTION)
    # The smart bot answers in the group in markdown: 待办 and 查 quote the citizen.
    await stack.bot().text("lisi", "待办", msg_id="inject-queue")
    await stack.bot().text("lisi", f"查 {case.code}", msg_id="inject-show")
    await stack.run_jobs()
    queue, timeline = stack.bot_answers()
    for answer in (queue, timeline):
        assert_formed_no_markup(answer)
        assert_all_in(answer, case.code, "点此查看")
    assert_readable(timeline)
    # The member's card and list (WeCom texts make links of <a> tags: nothing of the kind either).
    assert f"已将 {case.code} 交办给委员张三" in await say(stack, "lisi", f"派 {case.code} 张三")
    await stack.run_jobs()
    [member_card] = [m.text for m in stack.platform.sent_to("zhangsan") if "【新交办】" in m.text]
    assert_formed_no_markup(member_card)
    assert "<" not in member_card
    assert_readable(member_card)
    mine = await say(stack, "zhangsan", "我的")
    assert_all_in(mine, case.code, "点此查看")
    assert_formed_no_markup(mine)
    # A follow-up, a returned case's reason and a reply are quoted in the group and to the member.
    await stack.citizen().text("o-inject-4", '补充：<a href="http://evil.example">看这里</a> <@all>')
    await stack.run_jobs()
    [follow_up] = [m.text for m in stack.platform.sent_to("zhangsan") if "【群众补充】" in m.text]
    assert_no_markup_formed(follow_up)
    assert "<" not in follow_up
    assert_all_in(follow_up, "看这里")
    await say(stack, "zhangsan", f"退回 {case.code} 不归我管 <@all> [详情](http://evil.example)")
    await say(stack, "lisi", f"派 {case.code} 张三")
    await say(stack, "zhangsan", f'答 {case.code} 已修好 <@all> <font color="warning">好</font>')
    await stack.run_jobs()
    returned = next(post for post in triage_posts(stack) if "被退回分拣" in post)
    replied = next(post for post in triage_posts(stack) if "已答复" in post)
    for post in (returned, replied):
        assert_no_markup_formed(post)
    assert_all_in(returned, "不归我管", "@all")
    assert_all_in(replied, "已修好", "@all")


async def test_a_staff_members_app_chat_gets_plain_text(stack: Stack) -> None:
    case = await new_case(stack, "o-inject-5", INJECTION)
    timeline = await say(stack, "lisi", f"查 {case.code}")
    assert timeline.startswith(case.code)  # no ** shown as typed
    assert "138****5678" in timeline  # a mask's stars are not taken for bold
    assert_formed_no_markup(timeline)


FAST_SLA = {
    "assign_within": 1.0,
    "reply_within": 1.5,
    "urgent_factor": 0.5,
    "remind_at": 0.5,
    "return_visit_after": 0.3,
    "return_visit_timeout": 5.0,
}


@pytest.fixture
async def fast(database_url: str, redis_url: str, redis_client: aioredis.Redis, tmp_path: Path) -> AsyncIterator[Stack]:
    if database_url.startswith("postgres"):
        await reset_postgres(database_url)
    stack = Stack(database_url=database_url, redis_url=redis_url, tmp_path=tmp_path)
    await stack.start(sla=FAST_SLA)
    try:
        yield stack
    finally:
        await stack.stop()


async def wait_and_run(stack: Stack, seconds: float) -> None:
    await asyncio.sleep(seconds)
    await stack.run_jobs()


async def test_reminders_overdue_notices_and_reopens_quote_the_citizen_as_text(fast: Stack) -> None:
    case = await new_case(fast, "o-inject-6", INJECTION)
    await wait_and_run(fast, 0.6)
    await wait_and_run(fast, 0.6)
    reminder = next(post for post in triage_posts(fast) if "【催办】" in post)
    overdue = next(post for post in triage_posts(fast) if "【超期】" in post)
    for post in (reminder, overdue):
        assert_formed_no_markup(post)
        assert_all_in(post, case.code, "点此查看")
    await say(fast, "lisi", f"派 {case.code} 张三")
    await say(fast, "zhangsan", f"答 {case.code} 已修好")
    await fast.run_jobs()  # the reply goes out now, as the workers would send it: the survey follows it
    await wait_and_run(fast, 0.4)
    await case.refresh_from_db()
    assert case.state == CaseState.RETURN_VISIT
    await fast.citizen().text("o-inject-6", "3 没修好 <@all> [看图](http://evil.example/p.png)")
    await fast.run_jobs()
    reopened = next(post for post in triage_posts(fast) if "【重办】" in post)
    assert_no_markup_formed(reopened)
    assert_all_in(reopened, "没修好", "@all")


BOLD_MARK = re.compile(r"(?<!\*)\*\*(?!\*)")  # exactly two: a mask's stars (138****5678) are no marker


def assert_no_markers(text: str) -> None:
    assert not BOLD_MARK.search(text), text
    assert "`" not in text, text


def plain_text_sends(stack: Stack) -> list[str]:
    """What went out as text messages (customer-service, WeCom app text): markers would show as typed."""
    return [m.text for m in stack.platform.messages if m.msgtype == "text"]


async def test_text_channels_never_show_markdown_markers_and_markdown_ones_keep_theirs(stack: Stack) -> None:
    case = await new_case(stack, "o-inject-7", INJECTION)
    passive = [await say(stack, "lisi", line) for line in ("帮助", "待办", f"查 {case.code}", f"电话 {case.code}")]
    passive.append(await say(stack, "lisi", f"派 {case.code} 张三"))
    passive += [await say(stack, "zhangsan", line) for line in ("我的", f"收 {case.code}", "帮助")]
    passive.append(await say(stack, "zhangsan", f"答 {case.code} 已修好"))
    passive.append(await say(stack, "lisi", "统计"))
    await stack.run_jobs()
    sent = plain_text_sends(stack)
    assert any("【新交办】" in text for text in sent)  # the member's card is among them
    for text in passive + sent:
        assert_no_markers(text)
    # The triage group renders markdown: our markup is there, and what the citizen wrote is still escaped.
    cards = triage_posts(stack)
    assert any(card.startswith(f"**新诉求 {case.code}**") for card in cards)
    for card in cards:
        assert_no_markup_formed(card)


async def test_a_wecom_app_message_is_rendered_for_the_channel_it_goes_out_on(stack: Stack) -> None:
    from handlers.cases.outbox import send_to_wecom_user
    from handlers.texts import staff as staff_texts

    case = await new_case(stack, "o-inject-8", INJECTION)
    built = staff_texts.phone_visit_task(case.code)  # markdown: bold and code spans
    assert "**" in built
    assert "`" in built
    await send_to_wecom_user("lisi", built, case=case)
    await send_to_wecom_user("wangwu", built, case=case, markdown=True)
    await stack.run_jobs()
    [as_text] = stack.platform.sent_to("lisi")
    assert as_text.msgtype == "text"
    assert f"【电话回访】{case.code} " in as_text.text
    assert f"「电话 {case.code}」" in as_text.text  # a code span reads as a quoted command
    assert_no_markers(as_text.text)
    [as_markdown] = stack.platform.sent_to("wangwu")
    assert as_markdown.msgtype == "markdown"
    assert as_markdown.text == built
