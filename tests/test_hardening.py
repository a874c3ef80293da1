"""Holes of issue 15, each over HTTP as an abuser or an unlucky citizen would find it: guessing binding
codes, 绑定 in a citizen's words, a citizen flooding a member, a Redis flush, a code inside a follow-up."""

from __future__ import annotations

import re
from datetime import timedelta

from tortoise.expressions import Q

from bot.app import REDIS, SETTINGS, WECOM_DELIVERY
from handlers import binding
from handlers.binding import ALPHABET, display
from handlers.cases import queue as triage_queue
from handlers.cases.follow_ups import FOLLOW_UPS
from handlers.routers.member import create_bind_code
from models.entities import Case, CaseMessage, Citizen, ScanBinding
from models.jobs import Job, JobStatus
from models.timeutil import now
from tests.harness import TRIAGE_HOOK, Stack


def code_in(text: str) -> str:
    match = re.search(r"MS\d{11,}", text)
    assert match, f"no tracking code in {text!r}"
    return match.group(0)


def reply_of(result) -> str:
    assert result.status == 200, result.body
    assert result.reply is not None, f"expected a passive reply, got {result.body!r}"
    return str(result.reply["Content"])


# ---- binding codes ---------------------------------------------------------------------------------


async def test_a_binding_code_is_long_and_read_however_it_is_typed(stack: Stack) -> None:
    bind = await create_bind_code("m-zhao")
    assert len(bind.code) >= 10
    assert set(bind.code) <= set(ALPHABET)  # no 0/O, 1/I/L to misread
    assert not set("01OIL") & set(ALPHABET)
    typed = display(bind.code).lower()  # as printed, in groups, but in lower case
    assert re.fullmatch(r"[a-z0-9]{4} [a-z0-9]{4} [a-z0-9]{4}", typed)
    bound = reply_of(await stack.citizen().text("o-zhao-typed", f"绑定  {typed}"))
    assert "绑定成功" in bound
    assert (await Citizen.get(openid="o-zhao-typed").prefetch_related("member")).member.key == "m-zhao"
    # Every new binding is told to the triage group: who bound which member (so a stolen code shows).
    await stack.run_jobs()
    [notice] = [post for post in triage_posts(stack) if "绑定公众号" in post]
    assert "赵六（m-zhao）" in notice
    assert "o-zhao-typed" in notice


async def test_binding_words_in_a_citizens_message_make_a_case_like_any_message(stack: Stack) -> None:
    citizen = stack.citizen()
    await citizen.event("o-fraud", "SCAN", "cp:hz-hospital-1")
    answer = reply_of(await citizen.text("o-fraud", "绑定 银行卡时被骗了五千元，请帮忙"))
    code = re.search(r"MS\d{11,}", answer)
    assert code, answer
    case = await Case.get(code=code.group(0)).prefetch_related("contact_point")
    assert case.contact_point.key == "hz-hospital-1"
    assert [m.content for m in await CaseMessage.filter(case=case)] == ["绑定 银行卡时被骗了五千元，请帮忙"]
    # Also with a case open (the router, not the batch intake, decides then).
    follow_up = reply_of(await citizen.text("o-fraud", "bind my card to the wrong account, please help"))
    assert code.group(0) in follow_up
    assert await CaseMessage.filter(case=case).count() == 2
    # 绑定 with nothing after it says how to bind, and makes no case.
    usage = reply_of(await citizen.text("o-nobody", "绑定"))
    assert "绑定码" in usage
    assert await Case.filter(citizen__openid="o-nobody").count() == 0
    # A code-shaped word after 绑定 is a binding attempt (a wrong code here), not a case.
    wrong = reply_of(await citizen.text("o-nobody", "绑定 ABCD EFGH JKMN"))
    assert "无效或已过期" in wrong
    assert await Case.filter(citizen__openid="o-nobody").count() == 0


def triage_posts(stack: Stack) -> list[str]:
    return [m.text for m in stack.platform.sent_to(TRIAGE_HOOK)]


def wrong_code(index: int) -> str:
    return "".join(ALPHABET[(index * 7 + n) % len(ALPHABET)] for n in range(binding.CODE_LENGTH))


async def test_guessing_binding_codes_is_locked_out_and_the_triage_group_hears_once(stack: Stack) -> None:
    bind = await create_bind_code("m-zhao")
    oa = stack.citizen()
    for attempt in range(binding.SENDER_LIMIT - 1):
        assert "无效或已过期" in reply_of(await oa.text("o-guesser", f"绑定 {wrong_code(attempt)}"))
    last = reply_of(await oa.text("o-guesser", f"绑定 {wrong_code(99)}"))
    assert "无效或已过期" in last
    assert re.search(r"已暂停您的绑定，请于 \d+月\d+日 \d\d:\d\d 后再试", last), last
    # Locked: even the right code is refused now, without being tried.
    for _ in range(3):
        locked = reply_of(await oa.text("o-guesser", f"绑定 {bind.code}"))
        assert re.search(r"请于 .+ 后再试", locked), locked
    assert not await Citizen.filter(openid="o-guesser", member_id__not_isnull=True).exists()
    await stack.run_jobs()
    notices = [post for post in triage_posts(stack) if "绑定码多次输错" in post]
    assert len(notices) == 1, notices  # once per lock-out, not per guess
    assert "o-guesser" in notices[0]
    assert f"{binding.SENDER_LIMIT} 次" in notices[0]

    # Many openids, each below its own limit: the limit for everybody stops them together.
    guesses = binding.EVERYONE_LIMIT - binding.SENDER_LIMIT
    for index in range(guesses):
        opener = f"o-sybil-{index // (binding.SENDER_LIMIT - 1)}"
        reply_of(await oa.text(opener, f"绑定 {wrong_code(100 + index)}"))
    refused = reply_of(await oa.text("o-zhao-real", f"绑定 {bind.code}"))
    assert re.search(r"绑定功能已暂停，请于 .+ 后再试", refused), refused
    await stack.run_jobs()
    notices = [post for post in triage_posts(stack) if "绑定码多次输错" in post]
    assert len(notices) == 2, notices
    assert "全部暂停" in notices[1]
    # Once the lock-outs are over, the member binds with the code still unused.
    redis, settings = stack.app[REDIS], stack.app[SETTINGS]
    await redis.delete(settings.key("bind-lock", "*"), settings.key("bind-lock", "o-zhao-real"))
    assert "绑定成功" in reply_of(await oa.text("o-zhao-real", f"绑定 {bind.code}"))


# ---- a code inside a follow-up ---------------------------------------------------------------------


async def test_a_follow_up_quoting_the_citizens_own_code_is_stored_on_that_case(stack: Stack) -> None:
    citizen = stack.citizen()
    await citizen.event("o-lamp", "SCAN", "cp:hz-ent-1")
    code = code_in(reply_of(await citizen.text("o-lamp", "厂区门口的路灯不亮")))
    await stack.run_jobs()
    await stack.wecom_user().text("lisi", f"派 {code} 张三")
    await Case.filter(code=code).update(last_citizen_message_at=now() - timedelta(days=2))  # long after
    answer = reply_of(await citizen.text("o-lamp", f"{code} 路灯还是不亮"))
    assert code in answer
    assert "补充" in answer
    assert "当前状态" not in answer
    contents = [m.content for m in await CaseMessage.filter(case__code=code).order_by("id")]
    assert contents == ["厂区门口的路灯不亮", f"{code} 路灯还是不亮"]
    assert await Case.filter(citizen__openid="o-lamp").count() == 1
    await stack.run_jobs()
    assert any("群众补充" in text and "路灯还是不亮" in text for text in stack.texts_to("zhangsan"))
    # Only (essentially) a code on its own asks for the status.
    for query in (code, f"{code.lower()}？", f"查询 {code}", f"{code} 进度"):
        assert "当前状态" in reply_of(await citizen.text("o-lamp", query)), query
    assert await CaseMessage.filter(case__code=code).count() == 2
    # Somebody else's code with text is this citizen's own message: it neither joins that case nor tells of it.
    await citizen.event("o-other-lamp", "SCAN", "cp:hz-ent-1")
    other = reply_of(await citizen.text("o-other-lamp", f"{code} 我家门口的路灯也不亮"))
    assert code not in other.replace(code_in(other), "")
    assert await CaseMessage.filter(case__code=code).count() == 2
    assert await Case.filter(citizen__openid="o-other-lamp").count() == 1


# ---- a Redis flush while the service runs ----------------------------------------------------------


async def say(stack: Stack, userid: str, text: str) -> str:
    result = await stack.wecom_user().text(userid, text)
    return reply_of(result)


async def test_the_triage_queue_is_rebuilt_while_running_after_a_redis_flush(stack: Stack) -> None:
    citizen = stack.citizen()
    codes = []
    for index in range(3):
        await citizen.event(f"o-flush-{index}", "SCAN", "cp:hz-hospital-1")
        codes.append(code_in(reply_of(await citizen.text(f"o-flush-{index}", f"第{index}件：病房漏水"))))
    await stack.run_jobs()
    redis, settings = stack.app[REDIS], stack.app[SETTINGS]
    await redis.flushdb()  # no restart
    queue = await say(stack, "lisi", "待办")
    assert "待分拣 3 件" in queue
    assert all(code in queue for code in codes)
    # After a flush, the first case to arrive must not stand for the whole queue.
    await redis.flushdb()
    await citizen.event("o-flush-new", "SCAN", "cp:hz-hospital-1")
    reply_of(await citizen.text("o-flush-new", "输液室空调坏了"))
    await stack.run_jobs()
    assert "待分拣 4 件" in await say(stack, "lisi", "待办")
    # The periodic check repairs an index that drifted from the database (an entry lost, a stale one).
    await redis.zrem(triage_queue.queue_key(settings), *await redis.zrange(triage_queue.queue_key(settings), 0, 1))
    assert await triage_queue.check(redis, settings, settle_s=0) == 4
    assert await redis.zcard(triage_queue.queue_key(settings)) == 4
    assert await triage_queue.check(redis, settings, settle_s=0) is None  # in step: nothing to do


async def test_a_scan_binds_the_citizen_in_the_database_and_survives_a_redis_flush(stack: Stack) -> None:
    citizen = stack.citizen()
    for index in range(3):
        await citizen.event(f"o-scan-{index}", "SCAN", "cp:hz-school-1")
    redis = stack.app[REDIS]
    await redis.flushdb()
    for index in range(3):  # first messages: the batch intake
        answer = reply_of(await citizen.text(f"o-scan-{index}", f"第{index}件：学校门口太堵"))
        assert "湖州中学" in answer, answer
        case = await Case.get(code=code_in(answer)).prefetch_related("contact_point")
        assert case.contact_point.key == "hz-school-1"
    # A citizen with a case open goes through the router: the binding comes from the database there too.
    await citizen.event("o-scan-0", "SCAN", "cp:hz-hospital-1")
    await redis.flushdb()
    answer = reply_of(await citizen.text("o-scan-0", "医院门口也堵"))
    assert "湖州市中心医院" in answer, answer
    # The binding keeps its expiry in the database: past it, a message has no contact point.
    await ScanBinding.filter(openid="o-scan-1").update(expires_at=now() - timedelta(seconds=1))
    await redis.flushdb()
    later = reply_of(await citizen.text("o-scan-1", "另外，操场的灯坏了"))
    case = await Case.get(code=code_in(later)).prefetch_related("contact_point")
    assert case.contact_point is None


# ---- a citizen flooding a member -------------------------------------------------------------------


def follow_up_texts(stack: Stack, userid: str) -> list[str]:
    return [text for text in stack.texts_to(userid) if "群众补充" in text]


async def a_minute_later(stack: Stack) -> None:
    """Messages and digests held back for a minute are due (deadline timers stay where they are)."""
    await (
        Job.filter(status=JobStatus.PENDING)
        .filter(Q(kind__startswith="send.") | Q(kind=FOLLOW_UPS))
        .update(run_at=now())
    )
    await stack.run_jobs()


async def test_a_citizen_flooding_a_member_is_gathered_into_digests_and_holds_back_no_assignment(
    stack: Stack,
) -> None:
    citizen = stack.citizen()
    await citizen.event("o-flood", "SCAN", "cp:hz-hospital-1")
    code = code_in(reply_of(await citizen.text("o-flood", "病房的门锁坏了")))
    await stack.run_jobs()
    await say(stack, "lisi", f"派 {code} 张三")
    await stack.run_jobs()
    count = 60
    for index in range(count):
        assert code in reply_of(await citizen.text("o-flood", f"补充第{index}条"))
    stored = [m.content for m in await CaseMessage.filter(case__code=code, direction="in").order_by("id")]
    assert stored == ["病房的门锁坏了", *[f"补充第{index}条" for index in range(count)]]
    await stack.run_jobs()
    assert len(follow_up_texts(stack, "zhangsan")) == 1  # one forward now, the rest gathered for later

    # A new assignment to the same member goes out at once, not behind the citizen's backlog.
    await citizen.event("o-calm", "SCAN", "cp:hz-hospital-1")
    other = code_in(reply_of(await citizen.text("o-calm", "候诊区座椅太少")))
    await stack.run_jobs()
    await say(stack, "lisi", f"派 {other} 张三")
    await stack.run_jobs()
    assert any(f"【新交办】编号 {other}" in text for text in stack.texts_to("zhangsan"))
    assert len(follow_up_texts(stack, "zhangsan")) == 1

    # A minute on, the rest comes in digests (【群众补充】编号 X（共 N 条）), each message exactly once.
    for _ in range(10):
        await a_minute_later(stack)
    digests = follow_up_texts(stack, "zhangsan")
    assert 2 <= len(digests) <= 5
    assert re.search(rf"【群众补充】编号 {code}（共 \d+ 条）", digests[1])
    forwarded = "\n".join(digests)
    for index in range(count):
        assert len(re.findall(rf"补充第{index}条(?!\d)", forwarded)) == 1, index


async def test_assignments_go_ahead_of_a_members_backlog_of_follow_ups(stack: Stack) -> None:
    citizen = stack.citizen()
    codes = []
    for index in range(5):
        await citizen.event(f"o-lane-{index}", "SCAN", "cp:hz-school-1")
        codes.append(code_in(reply_of(await citizen.text(f"o-lane-{index}", f"第{index}件：校车太挤"))))
        await stack.run_jobs()
        await say(stack, "lisi", f"派 {codes[-1]} 王五")
    await stack.run_jobs()
    delivery = stack.app[WECOM_DELIVERY]
    delivery.user_limits = ((2, 60.0),)  # WeCom's 30 a minute, made small
    await delivery.limiter.reset("user:wangwu")
    for index in range(5):  # five cases' follow-ups: five digests, two go out, three wait for the limit
        reply_of(await citizen.text(f"o-lane-{index}", f"第{index}件的补充"))
    await stack.run_jobs()
    assert len(follow_up_texts(stack, "wangwu")) == 2
    await citizen.event("o-lane-new", "SCAN", "cp:hz-school-1")
    new = code_in(reply_of(await citizen.text("o-lane-new", "学校门口没有斑马线")))
    await stack.run_jobs()
    await say(stack, "lisi", f"派 {new} 王五")
    await stack.run_jobs()
    # A minute on: the first free slot goes to the assignment, not to the older follow-ups.
    await delivery.limiter.reset("user:wangwu")
    await a_minute_later(stack)
    texts = stack.texts_to("wangwu")
    [assignment] = [index for index, text in enumerate(texts) if f"【新交办】编号 {new}" in text]
    assert len([text for text in texts[:assignment] if "群众补充" in text]) == 2
    # All the follow-ups arrive in the end, each case's once. (Digests of different cases may swap
    # places: two workers can claim two of them at once; a case's own follow-ups stay in order.)
    for _ in range(6):
        await delivery.limiter.reset("user:wangwu")
        await a_minute_later(stack)
    forwarded = follow_up_texts(stack, "wangwu")
    assert sorted(code_in(text) for text in forwarded) == sorted(codes)


async def test_past_twenty_messages_a_minute_a_citizen_is_asked_to_slow_down_and_nothing_is_lost(
    stack: Stack,
) -> None:
    citizen = stack.citizen()
    await citizen.event("o-fast", "SCAN", "cp:hz-ent-1")
    code = code_in(reply_of(await citizen.text("o-fast", "园区门口的红绿灯坏了")))
    answers = [reply_of(await citizen.text("o-fast", f"再补充{index}")) for index in range(30)]
    assert all("已收到您的补充" in answer for answer in answers[:20])
    slow = answers[20:]
    assert all("发送得比较频繁" in answer for answer in slow), slow[0]
    assert all(code in answer for answer in slow)
    assert "共 31 条" in slow[-1]
    stored = [m.content for m in await CaseMessage.filter(case__code=code, direction="in").order_by("id")]
    assert stored == ["园区门口的红绿灯坏了", *[f"再补充{index}" for index in range(30)]]
    # A minute on, the same pace is welcome again.
    await stack.app[REDIS].delete(stack.app[SETTINGS].key("pace", "o-fast"))
    assert "已收到您的补充" in reply_of(await citizen.text("o-fast", "红绿灯是东边那个"))
