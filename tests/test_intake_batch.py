"""Bursts of callbacks: stored in one group commit, new cases written in batches.

The batch path must leave exactly what the router leaves for a new case (the same case, timeline,
jobs, counters and reply), keep each sender's messages in order, and still answer retries once.
"""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from typing import Any

import pytest
from tortoise.transactions import in_transaction

from bot.app import INBOX
from handlers.admin.qr_stats import local_day
from handlers.cases import new_cases as intake_batch
from handlers.cases.outbox import SEND_TRIAGE
from models.entities import Case, CaseEvent, CaseMessage, Citizen, InboundMessage
from models.jobs import Job, JobStatus
from models.plans import run_in_transaction
from models.qr import ContactPointDaily
from models.timeutil import now
from models.tracking import is_valid_code
from tests.harness import Stack

HOSPITAL = "湖州市中心医院"


def code_in(text: str) -> str:
    match = re.search(r"MS\d{11,}", text)
    assert match, f"no tracking code in {text!r}"
    return match.group(0)


async def case_record(code: str) -> dict[str, Any]:
    """What a user of the case can see of it, without ids and times."""
    case = await Case.get(code=code).prefetch_related("contact_point", "citizen")
    events = await CaseEvent.filter(case=case).order_by("id")
    messages = await CaseMessage.filter(case=case).order_by("id")
    jobs = await Job.filter(case=case).order_by("kind")
    citizen = case.citizen
    inbox = await InboundMessage.get(dedupe_key=messages[0].inbound_key)
    return {
        "state": case.state,
        "summary": case.summary,
        "point": case.contact_point.key if case.contact_point else None,
        "assign_due_after_created": case.assign_due_at - case.created_at if case.assign_due_at else None,
        "reply_due_at": case.reply_due_at,
        "urgent": case.urgent,
        "follows": case.follows_id,  # type: ignore[attr-defined]
        "events": [(e.kind, e.actor.split(":")[0], sorted(e.detail)) for e in events],
        "created_detail": events[0].detail,
        "messages": [(m.direction, m.msg_type, m.content, m.extra, m.media_id) for m in messages],
        "jobs": [(j.kind, j.status, sorted(j.payload)) for j in jobs],
        "citizen": (citizen.channel, citizen.window_sends, citizen.last_inbound_at is not None),
        "inbox": (inbox.status, inbox.reply_channel, inbox.reply_text.replace(code, "<code>")),
    }


async def test_a_burst_of_first_messages_makes_one_case_each_exactly_as_one_message_alone(stack: Stack) -> None:
    citizen = stack.citizen()
    # Reference: one message handled by the router alone (no batch handler).
    inbox = stack.app[INBOX]
    batch_handler, inbox.batch_handler = inbox.batch_handler, None
    await citizen.event("o-ref", "SCAN", "cp:hz-hospital-1")
    reference_reply = (await citizen.text("o-ref", "医院门口停车太难", msg_id=9001)).reply
    inbox.batch_handler = batch_handler
    assert reference_reply is not None
    reference = await case_record(code_in(reference_reply["Content"]))

    openids = [f"o-burst-{index}" for index in range(40)]
    for openid in openids[:20]:  # half of them scanned the hospital's code first
        await citizen.event(openid, "SCAN", "cp:hz-hospital-1")
    daily_before = await ContactPointDaily.get(point_key="hz-hospital-1", day=local_day(now()))
    sends = [citizen.text(openid, "医院门口停车太难", msg_id=10_000 + index) for index, openid in enumerate(openids)]
    # WeChat retries five of them while the originals are still on their way.
    sends += [
        citizen.text(openid, "医院门口停车太难", msg_id=10_000 + index) for index, openid in enumerate(openids[:5])
    ]
    results = await asyncio.gather(*sends)

    assert all(result.status == 200 for result in results)
    replies = [result.reply["Content"] for result in results if result.reply]
    codes = {code_in(reply) for reply in replies}
    # A retry repeats its original's reply or gets an empty answer, never a new code.
    inbox_rows = await InboundMessage.filter(sender__startswith="o-burst-").values_list("status", "reply_channel")
    assert len(codes) == 40, (len(replies), sorted(map(str, inbox_rows)))
    assert all(is_valid_code(code, "MS") for code in codes)
    assert await Case.filter(citizen__openid__startswith="o-burst-").count() == 40
    assert await InboundMessage.filter(sender__startswith="o-burst-", status="done").count() == 60
    for index, openid in enumerate(openids):
        (code,) = await codes_of(openid)
        reply = next(r for r in replies if code_in(r) == code)
        assert (HOSPITAL in reply) == (index < 20)
    daily_after = await ContactPointDaily.get(point_key="hz-hospital-1", day=local_day(now()))
    assert daily_after.new_cases == daily_before.new_cases + 20

    # Every case reads exactly like the one the router made (same point or none).
    for openid in (openids[0], openids[19]):
        (code,) = await codes_of(openid)
        assert await case_record(code) == reference
    (code,) = await codes_of(openids[30])
    status, channel, text = reference["inbox"]
    assert await case_record(code) == {
        **reference,
        "point": None,
        "created_detail": {"contact_point": None},
        "inbox": (status, channel, text.replace(f"您在「{HOSPITAL}」反映的问题", "您反映的问题")),
    }

    # The new cases are announced to triage like any other: each gets its card, sent at the group robot's
    # pace (about 20 a minute, so only the first ones go out now, in whatever order the burst arrived).
    await stack.run_jobs()
    burst = await Case.filter(citizen__openid__startswith="o-burst-").values_list("id", "code")
    cards = await Job.filter(kind=SEND_TRIAGE, case_id__in=[case_id for case_id, _ in burst])
    assert sorted(job.case_id for job in cards) == sorted(case_id for case_id, _ in burst)  # one card each
    sent = "\n".join(stack.triage_messages())
    code_of = dict(burst)
    sent_cards = [job for job in cards if job.status == JobStatus.DONE]
    assert sent_cards
    assert all(code_of[job.case_id] in sent for job in sent_cards)


async def codes_of(*openids: str) -> set[str]:
    return set(await Case.filter(citizen__openid__in=openids).values_list("code", flat=True))


async def test_a_burst_keeps_each_senders_messages_together_and_in_order(stack: Stack) -> None:
    citizen = stack.citizen()
    # o-open already has an open case from earlier today: their message joins it.
    first = await citizen.text("o-open", "路灯坏了")
    open_code = code_in(first.reply["Content"])
    sends = [citizen.text("o-open", "补充：在三号楼门口")]
    sends += [citizen.text("o-many", f"第{index}条：菜市场垃圾没人清") for index in range(1, 5)]
    sends += [citizen.text(f"o-solo-{index}", "公交站台遮雨棚破了") for index in range(10)]
    await asyncio.gather(*sends)

    assert await Case.filter(citizen__openid="o-open").count() == 1
    assert await CaseMessage.filter(case__code=open_code).count() == 2
    many = await Case.filter(citizen__openid="o-many")
    assert len(many) == 1  # four messages within the group window: one case
    contents = [m.content for m in await CaseMessage.filter(case=many[0]).order_by("id")]
    assert sorted(contents) == [f"第{index}条：菜市场垃圾没人清" for index in range(1, 5)]
    inbox_order = [row.payload["text"] for row in await InboundMessage.filter(sender="o-many").order_by("id")]
    assert contents == inbox_order  # handled in the order they were stored
    replies = [row.reply_text for row in await InboundMessage.filter(sender="o-many").order_by("id")]
    assert "查询编号" in replies[0]
    assert many[0].code in replies[0]
    assert replies[1:] == [f"已收到您的补充内容，已并入诉求 {many[0].code}（共 {count} 条）。" for count in (2, 3, 4)]
    assert await Case.filter(citizen__openid__startswith="o-solo-").count() == 10


async def test_a_citizen_whose_earlier_case_closed_gets_a_linked_case_not_a_batch_one(stack: Stack) -> None:
    citizen = stack.citizen()
    code = code_in((await citizen.text("o-back", "河道垃圾")).reply["Content"])
    await Case.filter(code=code).update(state="closed", closed_at=now() - timedelta(days=3))
    answers = await asyncio.gather(
        citizen.text("o-back", "河道又有垃圾了"), *(citizen.text(f"o-new-{i}", "河道垃圾") for i in range(5))
    )
    again = answers[0].reply["Content"]
    assert code in again  # the router's answer names the closed case the new one follows
    newer = await Case.filter(citizen__openid="o-back").exclude(code=code).get()
    assert newer.follows_id == (await Case.get(code=code)).id  # type: ignore[attr-defined]
    assert (await Citizen.get(openid="o-back")).window_sends == 0


async def test_replies_that_miss_the_passive_answer_go_out_through_the_outbox(stack: Stack) -> None:
    """When WeChat's request has given up waiting, the batch sends the acknowledgement as a message."""
    inbox = stack.app[INBOX]
    original = inbox.batch_handler
    gate = asyncio.Event()

    async def slow_batch(items: Any) -> Any:
        await gate.wait()
        return await original(items)

    inbox.batch_handler = slow_batch
    citizen = stack.citizen()
    # Real time: the passive reply's budget (WeChat waits 5 s; 0.2 s here) runs out while the batch waits.
    transport_budget = 0.2
    inbox_accept = inbox.accept

    async def accept_with_short_budget(event: Any, budget_s: float) -> Any:
        return await inbox_accept(event, transport_budget)

    inbox.accept = accept_with_short_budget  # type: ignore[method-assign]
    sends = asyncio.gather(*(citizen.text(f"o-late-{i}", "小区门口积水") for i in range(3)))
    await asyncio.sleep(0.5)
    gate.set()
    results = await sends
    assert all(result.status == 200 and result.reply is None for result in results)  # "success"
    await stack.run_jobs()
    for index in range(3):
        (sent,) = stack.texts_to(f"o-late-{index}")
        (code,) = await codes_of(f"o-late-{index}")
        assert code in sent
        assert "已收到" in sent
        row = await InboundMessage.get(sender=f"o-late-{index}")
        assert row.reply_channel == "outbox"


async def test_a_batch_waiting_for_the_database_does_not_hold_wechats_answer_past_the_budget(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The passive reply is claimed only once the database is the batch's: a request whose budget runs
    out while another transaction holds SQLite gets its answer in time, the reply as a message."""
    if stack.database_url.startswith("postgres"):
        pytest.skip("PostgreSQL runs transactions side by side: nothing to wait for")
    held = asyncio.Event()

    async def hold_the_database() -> None:
        async with in_transaction():
            await Citizen.filter(openid="nobody").count()
            held.set()
            await asyncio.sleep(1.5)  # real time: the budget (0.2 s) runs out while SQLite is held

    async def behind_another_transaction(make_plan: Any) -> Any:
        holder = asyncio.create_task(hold_the_database())  # takes the database just before the batch
        await held.wait()
        try:
            return await run_in_transaction(make_plan)
        finally:
            await holder

    monkeypatch.setattr(intake_batch, "run_in_transaction", behind_another_transaction)
    inbox = stack.app[INBOX]
    inbox_accept = inbox.accept

    async def accept_with_short_budget(event: Any, budget_s: float) -> Any:
        return await inbox_accept(event, 0.2)

    inbox.accept = accept_with_short_budget  # type: ignore[method-assign]
    citizen = stack.citizen()
    began = asyncio.get_running_loop().time()
    result = await citizen.text("o-waiting", "路口红绿灯时间太短")
    assert asyncio.get_running_loop().time() - began < 1.0  # not the 1.5 s the other transaction took
    assert result.status == 200
    assert result.reply is None  # "success": the acknowledgement goes as a message
    await inbox.drain()
    await stack.run_jobs()
    (code,) = await codes_of("o-waiting")
    (sent,) = stack.texts_to("o-waiting")
    assert code in sent
    assert (await InboundMessage.get(sender="o-waiting")).reply_channel == "outbox"
