"""Long texts reach people whole: in numbered parts under each channel's limit, in order, each part once.

The fake platform refuses an official-account text over 2,048 bytes (45002), does not show a passive
reply that long, and cuts WeCom app messages at 2,048 bytes: a part that is too long would show here.
"""

from __future__ import annotations

import re

from bot.app import INBOX
from bot.outbound.parts import body_of, marker
from handlers.cases.outbox import SEND_BOT_REPLY, SEND_CITIZEN, SEND_TRIAGE, SEND_WECOM_USER
from handlers.events import ChatEvent, Reply
from handlers.routing import Router
from handlers.texts.markdown import plain
from models.entities import Case, CaseEvent, Citizen
from models.jobs import Job, JobStatus
from models.state import record_event
from models.timeutil import now
from tests.harness import Stack

CODE = re.compile(r"MS\d{11,}")
# 2,000 characters of a member's answer, sentences of 20 characters (6,000 bytes).
LONG_REPLY = "".join(f"第{i:03d}句：已协调相关部门落实整改事项。" for i in range(100))
assert len(LONG_REPLY) == 2000


async def new_case(stack: Stack, openid: str, text: str = "小区门口的路灯坏了很久") -> Case:
    citizen = stack.citizen()
    await citizen.event(openid, "SCAN", "cp:hz-hospital-1")
    result = await citizen.text(openid, text)
    assert result.reply is not None
    match = CODE.search(result.reply["Content"])
    assert match
    await stack.run_jobs()
    return await Case.get(code=match.group(0))


async def say(stack: Stack, userid: str, text: str) -> str | None:
    """A WeCom user writes to the app; the passive reply's text, or None when the answer comes as messages."""
    result = await stack.wecom_user().text(userid, text)
    assert result.status == 200, result.body
    return None if result.reply is None else str(result.reply["Content"])


def numbered(texts: list[str]) -> list[str]:
    """The messages that are parts of one long text (they start with their number)."""
    return [text for text in texts if re.match(r"（\d+/\d+）", text)]


def assert_parts(parts: list[str], limit: int = 2048) -> None:
    assert len(parts) > 1
    assert all(len(part.encode()) <= limit for part in parts)
    assert [part.split("\n", 1)[0][: len(marker(i, len(parts)))] for i, part in enumerate(parts, 1)] == [
        marker(i, len(parts)) for i in range(1, len(parts) + 1)
    ]


async def sent_by(case: Case, job: Job) -> list[CaseEvent]:
    events = await CaseEvent.filter(case=case, kind="message.out")
    return [event for event in events if event.detail.get("job_id") == job.id]


async def assigned_case(stack: Stack, openid: str) -> Case:
    case = await new_case(stack, openid)
    assert "交办给委员张三" in (await say(stack, "lisi", f"派 {case.code} 张三") or "")
    await say(stack, "zhangsan", f"收 {case.code}")
    await stack.run_jobs()
    return case


async def test_a_members_2000_character_reply_reaches_the_citizen_whole_and_in_order(stack: Stack) -> None:
    case = await assigned_case(stack, "o-long1")
    before = len(stack.texts_to("o-long1"))
    answered = await say(stack, "zhangsan", f"答 {case.code} {LONG_REPLY}")
    assert answered is not None
    assert f"已答复 {case.code}" in answered
    await stack.run_jobs()

    parts = stack.texts_to("o-long1")[before:]
    assert_parts(parts)
    assert all(m.channel == "custom" for m in stack.platform.sent_to("o-long1")[before:])
    assert case.code in parts[0]
    whole = "".join(body_of(part) for part in parts)
    assert LONG_REPLY in whole  # every character, in order
    assert whole.startswith("【答复】")
    assert not [c for c in stack.platform.calls_to("custom/send") if c.errcode]  # nothing refused (45002)
    job = await Job.filter(kind=SEND_CITIZEN, case_id=case.id).order_by("-id").first()
    assert job is not None
    assert job.status == JobStatus.DONE
    assert job.result == {"channel": "custom", "parts": len(parts)}
    assert whole.replace("\n", "") == job.payload["text"].replace("\n", "")  # only line ends at cuts dropped
    [event] = await sent_by(case, job)
    assert event.detail["parts"] == len(parts)
    assert LONG_REPLY in event.detail["text"]

    # The citizen asks for the case (sends its code): the status with the whole reply is too long for a
    # passive reply, so it comes as messages, whole as well.
    status = await stack.citizen().text("o-long1", case.code)
    assert status.status == 200
    assert status.reply is None  # never a passive reply WeChat would not show
    await stack.run_jobs()
    shown = numbered(stack.texts_to("o-long1")[before + len(parts) :])
    assert_parts(shown)
    assert LONG_REPLY in "".join(body_of(part) for part in shown)


async def test_a_retry_sends_only_the_parts_that_did_not_go_out(stack: Stack) -> None:
    case = await assigned_case(stack, "o-long2")
    before = len(stack.texts_to("o-long2"))
    await say(stack, "zhangsan", f"答 {case.code} {LONG_REPLY}")
    stack.platform.fail_next("custom/send", errcode=-1, skip=1)  # part 1 goes out, part 2 meets "system busy"
    await stack.run_jobs()
    job = await Job.filter(kind=SEND_CITIZEN, case_id=case.id).order_by("-id").first()
    assert job is not None
    assert job.status == JobStatus.PENDING
    assert job.payload["part_channels"] == ["custom"]
    assert len(stack.texts_to("o-long2")) == before + 1
    await Job.filter(id=job.id).update(run_at=now())
    await stack.run_jobs()
    parts = stack.texts_to("o-long2")[before:]
    assert_parts(parts)
    assert len(parts) == len(set(parts))  # no part twice
    assert LONG_REPLY in "".join(body_of(part) for part in parts)
    citizen = await Citizen.get(openid="o-long2")
    window_sends = citizen.window_sends
    assert window_sends == len([m for m in stack.platform.sent_to("o-long2") if m.channel == "custom"])


async def test_when_the_window_runs_out_part_way_a_template_tells_of_the_rest(stack: Stack) -> None:
    case = await assigned_case(stack, "o-long3")
    await Citizen.filter(openid="o-long3").update(window_sends=4)  # one customer-service send left
    before = len(stack.platform.sent_to("o-long3"))
    await say(stack, "zhangsan", f"答 {case.code} {LONG_REPLY}")
    await stack.run_jobs()
    sent = stack.platform.sent_to("o-long3")[before:]
    assert [m.channel for m in sent] == ["custom", "template"]
    count = int(re.match(r"（1/(\d+)）", sent[0].text).group(1))  # type: ignore[union-attr]
    assert count > 1
    # The template tells of the rest, and opens the case page, where the whole reply is.
    assert case.code in sent[1].text
    assert "/c/" in sent[1].payload["url"]
    job = await Job.filter(kind=SEND_CITIZEN, case_id=case.id).order_by("-id").first()
    assert job is not None
    assert job.payload["part_channels"] == ["custom"] + ["template"] * (count - 1)
    [event] = await sent_by(case, job)
    assert (event.detail["channel"], event.detail["template_from_part"]) == ("custom", 2)


async def long_timeline(case: Case) -> None:
    """Twenty long entries: the 查 timeline is far over 2,048 bytes."""
    for index in range(20):
        await record_event(case, "command", "staff:s-li", line=f"答 {case.code} 第{index}次补充说明：" + "情况" * 30)


async def test_a_long_timeline_reaches_staff_whole_in_wecom(stack: Stack) -> None:
    case = await new_case(stack, "o-long4")
    await long_timeline(case)
    assert await say(stack, "lisi", f"查 {case.code}") is None  # too long for a passive reply (WeCom cuts it)
    await stack.run_jobs()
    jobs = await Job.filter(kind=SEND_WECOM_USER).order_by("-id")
    job = next(job for job in jobs if job.payload["userid"] == "lisi")
    timeline = job.payload["text"]
    assert len(timeline.encode()) > 2048
    parts = stack.texts_to("lisi")[-job.result["parts"] :]
    assert_parts(parts)
    assert [m.text for m in stack.platform.sent_to("lisi")][-len(parts) :] == parts
    # Whole (WeCom cut nothing), in the plain form a text message is sent in (no markers shown as typed).
    assert "\n".join(body_of(part) for part in parts) == plain(timeline)
    assert timeline.startswith(f"**{case.code}**")
    assert case.code in parts[0]


async def test_a_long_bot_answer_goes_on_in_the_triage_group(stack: Stack) -> None:
    """The response_url takes one message: the first part goes through it, the others to the group."""
    case = await new_case(stack, "o-long5")
    router = Router("test", event_type=ChatEvent)
    answer = f"**{case.code}**\n" + "\n".join(f"第{i}条：" + "办理情况说明" * 12 for i in range(60))

    @router.handler()
    async def long_answer(event: ChatEvent) -> Reply:
        return Reply(answer, case_id=case.id)

    stack.app[INBOX].router = router
    triage_before = len(stack.triage_messages())
    await stack.bot().text("lisi", f"查 {case.code}")
    await stack.run_jobs()
    [first] = stack.bot_answers()
    rest = stack.triage_messages()[triage_before:]
    parts = [first, *rest]
    assert_parts(parts, 4096)
    assert "\n".join(body_of(part) for part in parts) == answer
    assert case.code in first
    queued = await Job.filter(kind=SEND_TRIAGE, key__startswith="bot-reply-part:").order_by("id")
    assert [job.key.rsplit(":", 1)[1] for job in queued] == [str(i) for i in range(2, len(parts) + 1)]
    assert all(job.status == JobStatus.DONE for job in queued)
    assert len(stack.platform.calls_to("/aibot/response")) == 1
    # A retry of the bot job (say its timeline write failed) queues nothing twice and reuses no URL.
    [bot_job] = await Job.filter(kind=SEND_BOT_REPLY)
    assert bot_job.payload["response_parts_sent"] == 1
    await Job.filter(id=bot_job.id).update(status=JobStatus.PENDING, run_at=now())
    await stack.run_jobs()
    assert len(stack.platform.calls_to("/aibot/response")) == 1
    assert stack.triage_messages()[triage_before:] == rest
