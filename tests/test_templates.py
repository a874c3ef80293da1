"""Template messages past the customer-service window, against a fake as strict as WeChat: the
configured typed keys, values cut to their types, the case page behind the link, client_msg_id, and
the TEMPLATESENDJOBFINISH event telling that a message never arrived."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from yarl import URL

from bot.config import ConfigError, build_config, parse_templates
from bot.demo.fake_platform import DEMO_TEMPLATE_KEYS, DeliveredMessage
from models.delivery import TemplateSend
from models.entities import Case, CaseEvent, CaseState, Citizen
from models.jobs import Job
from models.timeutil import now
from tests import case_pages
from tests.case_pages import new_case, replied_case, say
from tests.harness import Stack

pages = case_pages.pages

LONG_REPLY = "经现场核查，" + "医院已协调交警部门在东门外增设临时停车位并开通预约停车。" * 60


async def close_window(openid: str) -> None:
    await Citizen.filter(openid=openid).update(last_inbound_at=now() - timedelta(hours=49), event_window_at=None)


def data_of(message: DeliveredMessage) -> dict[str, str]:
    return {key: item["value"] for key, item in message.payload["data"].items()}


async def test_a_reply_past_the_window_fills_the_configured_typed_keys_and_links_the_whole_reply(
    pages: Stack,
) -> None:
    case = await new_case(pages, "o-t1", "医院门口停车太难")
    await close_window("o-t1")
    await say(pages, "lisi", f"派 {case.code} 张三")
    await say(pages, "zhangsan", f"答 {case.code} {LONG_REPLY}")
    await pages.run_jobs()
    [reply] = [m for m in pages.platform.sent_to("o-t1") if m.channel == "template" and "已答复" in m.text]
    assert reply.payload["template_id"] == "demo-reply-template"
    data = data_of(reply)
    assert set(data) == set(DEMO_TEMPLATE_KEYS["demo-reply-template"])  # no first, no remark, no keyword1
    assert data["character_string1"] == case.code
    assert len(data["thing2"]) <= 20
    assert data["phrase3"] == "已答复"
    assert reply.payload["client_msg_id"]
    # The whole 2,000-character reply is on the case page behind the link.
    assert pages.session is not None
    async with pages.session.get(pages.url(URL(reply.payload["url"]).path)) as page:
        assert page.status == 200
        body = await page.text()
    assert LONG_REPLY in body
    # WeChat told us it arrived: nothing more on the timeline than the send.
    assert {sent.status for sent in await TemplateSend.filter(case=case)} == {"success"}
    assert not await CaseEvent.filter(case=case, kind="message.undelivered").exists()


async def test_the_keys_and_the_template_are_what_the_operator_configured(stack: Stack) -> None:
    stack.platform.template_keys["OPS-Reply-7"] = ("thing7", "character_string3", "time9")
    fields = {"thing7": "summary", "character_string3": "code", "time9": "time"}
    templates = parse_templates({"reply": {"id": "OPS-Reply-7", "fields": fields}})
    await stack.restart_with(wechat={"templates": templates})
    case = await case_pages.new_case(stack, "o-t2", "校门口早高峰拥堵")
    await close_window("o-t2")
    await say(stack, "lisi", f"派 {case.code} 张三")
    await say(stack, "zhangsan", f"答 {case.code} 已安排交警早高峰值守")
    await stack.run_jobs()
    [*_, reply] = [m for m in stack.platform.sent_to("o-t2") if m.channel == "template"]
    assert reply.payload["template_id"] == "OPS-Reply-7"
    assert set(data_of(reply)) == {"thing7", "character_string3", "time9"}
    assert data_of(reply)["character_string3"] == case.code


async def test_the_old_reply_template_id_keeps_its_keyword_layout_with_a_warning(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        await stack.restart_with(wechat={"reply_template_id": "demo-legacy-template", "templates": {}})
    assert any("reply_template_id" in record.getMessage() for record in caplog.records)
    case = await case_pages.new_case(stack, "o-t3", "小区路灯不亮")
    await close_window("o-t3")
    await say(stack, "lisi", f"派 {case.code} 张三")
    await say(stack, "zhangsan", f"答 {case.code} 已修复")
    await stack.run_jobs()
    [*_, reply] = [m for m in stack.platform.sent_to("o-t3") if m.channel == "template"]
    assert reply.payload["template_id"] == "demo-legacy-template"
    assert data_of(reply)["keyword1"] == case.code
    assert "已修复" in data_of(reply)["keyword3"]


async def test_an_old_layout_sent_to_a_category_template_is_refused_as_wechat_does(stack: Stack) -> None:
    """The bug this fake exists to catch: keyword1..3 against a typed template is 47003."""
    await stack.restart_with(wechat={"reply_template_id": "demo-reply-template", "templates": {}})
    case = await case_pages.new_case(stack, "o-t4", "小区路灯不亮")
    await close_window("o-t4")
    await say(stack, "lisi", f"派 {case.code} 张三")
    await say(stack, "zhangsan", f"答 {case.code} 已修复")
    await stack.run_jobs()
    assert [m for m in stack.platform.sent_to("o-t4") if m.channel == "template"] == []
    refused = [c for c in stack.platform.calls if c.api == "/cgi-bin/message/template/send"]
    assert refused
    assert all(c.errcode == 47003 for c in refused)


async def test_a_survey_wechat_could_not_deliver_becomes_a_phone_task_at_once(pages: Stack) -> None:
    case = await replied_case(pages, "o-t5")
    await close_window("o-t5")
    pages.platform.fail_template_delivery("o-t5", "failed:user block")
    await pages.make_jobs_due()  # the return visit is due: its survey goes as a template message
    await pages.run_jobs()
    await case.refresh_from_db()
    assert case.state == CaseState.RETURN_VISIT
    undelivered = await CaseEvent.filter(case=case, kind="message.undelivered").first()
    assert undelivered is not None
    assert undelivered.detail["status"] == "failed:user block"
    [task] = [m for m in pages.triage_messages() if "电话回访" in m]
    assert case.code in task
    assert "未能送达" in task
    # WeChat repeating the event, and the visit's own timeout later, make no second task.
    sent = await TemplateSend.get(case=case, purpose="survey")
    await pages.citizen().event(
        "o-t5", "TEMPLATESENDJOBFINISH", extra={"MsgID": sent.msgid, "Status": "failed:user block"}
    )
    await pages.make_jobs_due()
    await pages.run_jobs()
    assert len([m for m in pages.triage_messages() if "电话回访" in m]) == 1
    assert await CaseEvent.filter(case=case, kind="message.undelivered").count() == 1
    assert await Case.filter(state=CaseState.RETURN_VISIT, events__kind="visit.phone_task").count() == 1


async def test_an_event_for_a_template_message_of_another_system_is_ignored(stack: Stack) -> None:
    result = await stack.citizen().event(
        "o-t6", "TEMPLATESENDJOBFINISH", extra={"MsgID": 987654321, "Status": "failed:user block"}
    )
    assert result.status == 200
    await stack.run_jobs()
    assert stack.triage_messages() == []


async def test_an_outcome_that_comes_before_our_record_of_the_send_still_counts(pages: Stack) -> None:
    """WeChat answers the send, then tells its outcome; our write of the msgid can come second."""
    from handlers.cases.visits import record_template_outcome, record_template_send

    case = await replied_case(pages, "o-t13")
    await case.refresh_from_db()
    await Case.filter(id=case.id).update(state=CaseState.RETURN_VISIT, visit_sent_at=now())
    await record_template_outcome(424242, "failed:user block")
    assert not await CaseEvent.filter(case=case, kind="message.undelivered").exists()
    await record_template_send(424242, case, "survey")
    assert await CaseEvent.filter(case=case, kind="message.undelivered").count() == 1
    await record_template_outcome(424242, "failed:user block")  # repeated: nothing more
    await pages.run_jobs()
    assert len([m for m in pages.triage_messages() if "电话回访" in m and case.code in m]) == 1


@pytest.mark.parametrize("msgid", ["²³", "99999999999999999999", "9223372036854775808", "-5"])
async def test_a_template_outcome_with_a_msgid_that_is_no_number_of_ours_is_refused(stack: Stack, msgid: str) -> None:
    result = await stack.citizen().event("o-t14", "TEMPLATESENDJOBFINISH", extra={"MsgID": msgid, "Status": "success"})
    assert result.status == 400


def test_a_thing_value_is_cut_to_twenty_characters_and_a_phrase_keeps_only_chinese() -> None:
    from bot.outbound.template_data import fit

    assert len(fit("thing2", "长" * 50)) == 20
    assert fit("phrase3", "已答复 OK 123") == "已答复"
    assert fit("character_string1", "编号MS2612") == "MS2612"
    assert fit("character_string1", "编号 MS-1") == "MS-1"  # no leading space left by the Chinese
    assert fit("symbol4", "…ABC——!!!") == "…——!!"
    assert fit("phone_number5", "电话 138-0000-1234 转 8") == "138-0000-12348"
    assert fit("car_number6", "浙E 12345 6") == "浙E123456"
    assert fit("amount7", "共计 12.50 元") == "¥12.50"
    config = build_config({}, environ={})
    assert config.wechat.template("visit") is not None


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"keyword1": "code", "enum2": "state"}, "'enum' 不是微信模板数据项的类型"),  # a type we cannot fill
        ({"time4": "summary"}, "time 项应填时间"),
        ({"const5": "state"}, "const 项只能填审核通过的固定值"),
        ({"thing2": "reply"}, "应是 code, state"),
    ],
)
def test_a_template_whose_keys_wechat_would_refuse_is_refused_at_start(fields: dict[str, str], named: str) -> None:
    """WeChat refuses a whole message (47003) for one value outside its key's type: a mapping that can
    only produce such values is an operator's mistake the service names before sending anything."""
    with pytest.raises(ConfigError, match=named):
        parse_templates({"reply": {"id": "OPS-Reply-7", "fields": fields}})


def test_a_const_key_sends_the_approved_value_as_configured() -> None:
    from bot.outbound.citizen import CitizenDelivery

    template = parse_templates(
        {"reply": {"id": "OPS-Reply-7", "fields": {"character_string1": "code", "const2": "=处理中"}}}
    )["reply"]
    payload = {"openid": "o-x", "channel": "oa", "text": "已答复", "case_code": "MS2612030001", "case_state": "已答复"}
    data = CitizenDelivery._template_data(template, payload, "已答复", None)  # type: ignore[arg-type]
    assert data == {"character_string1": "MS2612030001", "const2": "处理中"}


async def test_the_survey_waits_for_a_reply_wechat_was_too_busy_to_take(pages: Stack) -> None:
    """§6: the reply's send is retried (WeChat busy); the return visit falls due meanwhile; the citizen
    still reads the reply first, and the survey comes its full wait after the reply arrived."""
    case = await new_case(pages, "o-t7", "医院门口停车太难")
    await say(pages, "lisi", f"派 {case.code} 张三")
    await pages.run_jobs()
    pages.platform.fail_next("/cgi-bin/message/custom/send", 2, errcode=-1)
    await say(pages, "zhangsan", f"答 {case.code} 已增设临时停车位")
    await pages.run_jobs()
    assert not [m for m in pages.platform.sent_to("o-t7") if "临时停车位" in m.text]  # still being retried
    await pages.make_jobs_due()  # the return visit's time has come too
    await pages.run_jobs()
    await pages.make_jobs_due()
    await pages.run_jobs()
    texts = [m.text for m in pages.platform.sent_to("o-t7")]
    reply_at = next(i for i, text in enumerate(texts) if "临时停车位" in text)
    assert not any("满意" in text for text in texts[:reply_at])  # nothing asks about it before it
    # The survey's next look finds the reply delivered: its clock starts now, a full day.
    await pages.make_jobs_due()
    await pages.run_jobs()
    waiting = await Job.filter(kind="visit.start", case_id=case.id, status="pending").first()
    assert waiting is not None
    assert waiting.run_at - now() > timedelta(hours=23)
    await pages.make_jobs_due()
    await pages.run_jobs()
    texts = [m.text for m in pages.platform.sent_to("o-t7")]
    assert any("满意" in text for text in texts[reply_at + 1 :])
    await case.refresh_from_db()
    assert case.state == CaseState.RETURN_VISIT


async def test_with_no_out_of_window_channel_the_reply_waits_for_the_citizens_next_message(stack: Stack) -> None:
    """A subscription account (订阅号): no template messages, no notices. The reply waits in the case
    (the timeline says so), the citizen gets it when they write again, and a survey that cannot be
    pushed is a phone task at once."""
    stack.platform.account_type = "subscription"
    await stack.restart_with(wechat={"out_of_window": "none", "templates": {}})
    case = await new_case(stack, "o-t8", "小区路灯不亮")
    await close_window("o-t8")
    await say(stack, "lisi", f"派 {case.code} 张三")
    await say(stack, "zhangsan", f"答 {case.code} 路灯已于今日修复")
    await stack.run_jobs()
    assert not [m for m in stack.platform.sent_to("o-t8") if "修复" in m.text]
    assert not [c for c in stack.platform.calls if "template/send" in c.api]
    assert await CaseEvent.filter(case=case, kind="message.waiting").count() >= 1
    # The return visit falls due: nothing can be pushed, so staff call.
    await stack.make_jobs_due()
    await stack.run_jobs()
    assert any("电话回访" in m and case.code in m for m in stack.triage_messages())
    # The citizen writes again: the reply goes out in the window their message opened.
    await stack.citizen().text("o-t8", "请问我反映的问题怎么样了")
    await stack.run_jobs()
    delivered = [m for m in stack.platform.sent_to("o-t8") if "路灯已于今日修复" in m.text]
    assert delivered
    assert {m.channel for m in delivered} == {"custom"}
    assert not await Job.filter(case_id=case.id, kind="send.citizen", status="pending").exists()


async def test_subscription_notices_carry_the_reply_where_the_citizen_subscribed(stack: Stack) -> None:
    stack.platform.long_term_notices.add("o-t9")
    await stack.restart_with(wechat={"out_of_window": "subscribe"})
    case = await new_case(stack, "o-t9", "校门口早高峰拥堵")
    await close_window("o-t9")
    await say(stack, "lisi", f"派 {case.code} 张三")
    await say(stack, "zhangsan", f"答 {case.code} 已安排交警值守")
    await stack.run_jobs()
    notices = [m for m in stack.platform.sent_to("o-t9") if m.channel == "notice"]
    assert notices
    assert case.code in notices[-1].text
    assert "/c/" in notices[-1].payload["page"]
    assert not [c for c in stack.platform.calls if "template/send" in c.api]
    # Someone without a subscription: the message waits for them (43101), nothing is lost.
    other = await new_case(stack, "o-t10", "小区噪音扰民")
    await close_window("o-t10")
    await say(stack, "lisi", f"派 {other.code} 张三")
    await say(stack, "zhangsan", f"答 {other.code} 已约谈施工方")
    await stack.run_jobs()
    assert not [m for m in stack.platform.sent_to("o-t10") if m.channel == "notice"]
    assert await CaseEvent.filter(case=other, kind="message.waiting").exists()


async def test_a_waiting_message_goes_when_the_citizen_writes_after_using_up_the_windows_sends(
    stack: Stack,
) -> None:
    """With no out-of-window channel a message also waits when the citizen's five sends are used up
    (their window still open): their next message brings it, not a look a day later."""
    stack.platform.account_type = "subscription"
    await stack.restart_with(wechat={"out_of_window": "none", "templates": {}})
    case = await new_case(stack, "o-t11", "小区路灯不亮")
    await Citizen.filter(openid="o-t11").update(last_inbound_at=now() - timedelta(hours=1), window_sends=5)
    await say(stack, "lisi", f"派 {case.code} 张三")
    await say(stack, "zhangsan", f"答 {case.code} 路灯已修复")
    await stack.run_jobs()
    assert not [m for m in stack.platform.sent_to("o-t11") if "路灯已修复" in m.text]
    waiting = await Job.filter(case_id=case.id, kind="send.citizen", status="pending").order_by("-id").first()
    assert waiting is not None
    # Even unwoken, a waiting message looks again within the hour (not in a month).
    assert waiting.run_at - now() <= timedelta(hours=1, minutes=1)
    await stack.citizen().text("o-t11", "收到，谢谢")
    await stack.run_jobs()
    assert [m.channel for m in stack.platform.sent_to("o-t11") if "路灯已修复" in m.text] == ["custom"]


async def test_a_subscription_notice_without_an_answer_is_tried_once_more_then_taken_as_sent(stack: Stack) -> None:
    """bizsend has no idempotency key: a send that timed out may have arrived, and every further try
    risks one more copy. One more try, then the job is done (not dead, not sent five times)."""
    stack.platform.long_term_notices.add("o-t12")
    await stack.restart_with(wechat={"out_of_window": "subscribe", "request_timeout_s": 0.2})
    case = await new_case(stack, "o-t12", "校门口早高峰拥堵")
    await close_window("o-t12")
    await say(stack, "lisi", f"派 {case.code} 张三")
    await stack.run_jobs()
    before = len([c for c in stack.platform.calls if "bizsend" in c.api])
    stack.platform.fail_next("subscribe/bizsend", count=10, delay_s=0.5)
    await say(stack, "zhangsan", f"答 {case.code} 已安排交警值守")
    for _ in range(4):
        await stack.run_jobs()
        await stack.make_jobs_due()
    calls = [c for c in stack.platform.calls if "bizsend" in c.api][before:]
    calls = [c for c in calls if c.body["template_id"] == "demo-reply-template"]  # not the survey after it
    assert len(calls) == 2, [c.body for c in calls]  # the reply: tried twice, not five times
    jobs = await Job.filter(case_id=case.id, kind="send.citizen").order_by("id")
    reply_job = next(job for job in jobs if "已安排交警值守" in job.payload["text"])
    assert reply_job.status == "done"
