"""Reaching a mini-program citizen: subscribe messages while a consent is left, the case page otherwise,
and the official account's channels for a person whose two openids a unionid links."""

from __future__ import annotations

import re

from models.entities import Case, CaseEvent, CaseState, Citizen
from models.jobs import Job, JobStatus
from models.miniprogram import SubscribeConsent
from tests.api_flow import assign, reply, say, start_return_visit
from tests.harness import Stack
from tests.mini_client import MiniUser, signed_in

REPLY_TEMPLATE = "demo-mini-reply-template"
VISIT_TEMPLATE = "demo-mini-visit-template"


async def consent(stack: Stack, user: MiniUser, template: str = REPLY_TEMPLATE, n: int = 1) -> None:
    """The citizen accepts `n` one-time subscribe messages: WeChat counts them, and so do we."""
    stack.platform.grant_subscription(user.openid, template, n)
    for _ in range(n):
        assert (await user.consent(template)).status == 200


def subscribed(stack: Stack, openid: str) -> list:
    return [m for m in stack.platform.sent_to(openid) if m.channel == "subscribe"]


async def channels(code: str) -> list[tuple[str, str | None]]:
    events = await CaseEvent.filter(case__code=code, kind="message.out").order_by("id")
    return [(e.detail["channel"], e.detail.get("reason")) for e in events if e.detail.get("to") == "citizen"]


async def test_a_reply_goes_as_a_subscribe_message_opening_the_case(stack: Stack) -> None:
    alice = await signed_in(stack, "alice")
    code = await alice.new_case()
    await consent(stack, alice)
    await assign(stack, code)
    await reply(stack, code, "已协调城管，路灯明天修好")
    [message] = subscribed(stack, alice.openid)
    body = message.payload
    assert body["template_id"] == REPLY_TEMPLATE
    assert body["page"] == f"pages/case/index?code={code}"
    assert body["data"]["character_string1"]["value"] == code
    assert body["data"]["thing2"]["value"] == "您的诉求已有答复"
    assert len(body["data"]["thing3"]["value"]) <= 20
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", body["data"]["time4"]["value"])
    assert stack.platform.subscriptions_left(alice.openid, REPLY_TEMPLATE) == 0
    assert (await SubscribeConsent.get(template_id=REPLY_TEMPLATE)).remaining == 0
    # The assignment notice is not worth a consent: it waits in the case (and is not a "not pushed").
    assert await channels(code) == [("none", "not_pushed_kind"), ("subscribe", None)]
    assert not [m for m in stack.platform.sent_to(alice.openid) if m.channel in ("custom", "template")]


async def test_with_no_consent_left_the_reply_waits_in_the_case(stack: Stack) -> None:
    alice = await signed_in(stack, "alice")
    code = await alice.new_case()
    await consent(stack, alice)
    await assign(stack, code)
    await say(stack, "zhangsan", f"问 {code} 哪一栋楼？")  # the one consent goes to the question
    await stack.run_jobs()
    await alice.request("POST", f"/cases/{code}/messages", json_body={"text": "5号楼"})
    await reply(stack, code)
    assert [m.payload["data"]["thing2"]["value"] for m in subscribed(stack, alice.openid)] == ["委员请您补充情况"]
    assert (await channels(code))[-1] == ("none", "no_consent")
    view = (await alice.request("GET", f"/cases/{code}")).body
    assert view["replies"][0]["text"] == "已协调城管维修，本周内修好"
    assert view["timeline"][-1]["kind"] == "not_pushed"
    job = await Job.filter(kind="send.citizen", case__code=code).order_by("-id").first()
    assert job is not None
    assert job.status == JobStatus.DONE  # done, not retried: nothing would change by retrying


async def test_wechat_saying_no_consent_is_left_is_believed(stack: Stack) -> None:
    alice = await signed_in(stack, "alice")
    code = await alice.new_case()
    assert (await alice.consent(REPLY_TEMPLATE)).status == 200  # ours says one, WeChat says none: 43101
    await assign(stack, code)
    await reply(stack, code)
    assert not subscribed(stack, alice.openid)
    assert (await channels(code))[-1] == ("none", "no_consent")
    assert (await SubscribeConsent.get(template_id=REPLY_TEMPLATE)).remaining == 0


async def test_an_outage_retries_with_the_consent_given_back_and_sends_once(stack: Stack) -> None:
    alice = await signed_in(stack, "alice")
    code = await alice.new_case()
    await consent(stack, alice)
    await assign(stack, code)
    stack.platform.fail_all("subscribe/send", http_status=503)
    await reply(stack, code)
    assert not subscribed(stack, alice.openid)
    assert (await SubscribeConsent.get(template_id=REPLY_TEMPLATE)).remaining == 1  # given back
    job = await Job.filter(kind="send.citizen", case__code=code).order_by("-id").first()
    assert job is not None
    assert job.status == JobStatus.PENDING
    stack.platform.recover()
    await stack.make_jobs_due()
    await stack.run_jobs()
    await stack.make_jobs_due()
    await stack.run_jobs()
    assert len(subscribed(stack, alice.openid)) == 1
    assert (await channels(code)).count(("subscribe", None)) == 1


async def test_the_survey_uses_the_visit_template_and_the_rating_closes_it(stack: Stack) -> None:
    alice = await signed_in(stack, "alice")
    code = await alice.new_case()
    await consent(stack, alice, REPLY_TEMPLATE)
    await consent(stack, alice, VISIT_TEMPLATE)
    await assign(stack, code)
    await reply(stack, code)
    await start_return_visit(stack)
    survey = subscribed(stack, alice.openid)[-1].payload
    assert survey["template_id"] == VISIT_TEMPLATE
    assert set(survey["data"]) == {"character_string1", "thing2", "time3"}
    assert (await alice.request("POST", f"/cases/{code}/rating", json_body={"score": 1})).status == 200
    assert (await Case.get(code=code)).state == CaseState.CLOSED


# ---- one person, two openids ----------------------------------------------------------------------------


async def linked_person(stack: Stack, name: str, oa_openid: str) -> tuple[str, MiniUser]:
    """A follower of the official account who files a case there, then signs in to the mini-program."""
    stack.platform.link_unionid(name, oa_openid)
    oa = stack.citizen()
    await oa.event(oa_openid, "SCAN", "cp:hz-hospital-1")
    answer = await oa.text(oa_openid, "公交站台的顶棚漏雨")
    oa_code = re.search(r"MS\d{11}", answer.reply["Content"]).group(0)  # type: ignore[union-attr]
    await stack.run_jobs()  # the case's set-up asks the official account for the follower's unionid
    assert (await Citizen.get(openid=oa_openid)).unionid == stack.platform.unionid_of(name)
    return oa_code, await signed_in(stack, name)


async def test_a_unionid_linked_citizen_sees_both_channels_cases(stack: Stack) -> None:
    oa_code, dora = await linked_person(stack, "dora", "o-dora")
    mini_code = await dora.new_case()
    listed = (await dora.request("GET", "/cases")).body["cases"]
    assert [(c["tracking_code"], c["channel"]) for c in listed] == [
        (mini_code, "miniprogram"),
        (oa_code, "official_account"),
    ]
    assert (await dora.request("GET", f"/cases/{oa_code}")).status == 200
    me = (await dora.request("GET", "/me")).body
    assert me["channels"] == ["miniprogram", "official_account"]
    assert me["cases_count"] == 2
    stranger = await signed_in(stack, "eve")  # no link: sees neither
    assert (await stranger.request("GET", f"/cases/{oa_code}")).status == 404
    # On the official account, the mini-program's code is hers too.
    status = await stack.citizen().text("o-dora", mini_code)
    assert "待分拣" in status.reply["Content"]


async def test_a_reply_takes_the_channel_the_person_can_be_reached_on_now(stack: Stack) -> None:
    _, dora = await linked_person(stack, "dora", "o-dora")
    code = await dora.new_case()
    await consent(stack, dora)
    await assign(stack, code)
    await reply(stack, code, "第一次答复")  # she wrote to the official account just now: its window is open
    assert stack.platform.sent_to("o-dora")[-1].channel == "custom"
    assert "第一次答复" in stack.platform.sent_to("o-dora")[-1].text
    assert not subscribed(stack, dora.openid)

    await Citizen.filter(openid="o-dora").update(window_sends=5)  # the window's sends are used up
    await start_return_visit(stack)
    rated = await dora.request("POST", f"/cases/{code}/rating", json_body={"score": 3, "comment": "没修好"})
    assert rated.body["status"] == "reopened"
    await stack.run_jobs()
    await reply(stack, code, "第二次答复")  # no window: the consent left
    assert len(subscribed(stack, dora.openid)) == 1

    await reply_again(stack, dora, code)  # no window, no consent: a template through the official account
    assert stack.platform.sent_to("o-dora")[-1].channel == "template"


async def reply_again(stack: Stack, dora: MiniUser, code: str) -> None:
    await start_return_visit(stack)
    await dora.request("POST", f"/cases/{code}/rating", json_body={"score": 3})
    await stack.run_jobs()
    await reply(stack, code, "第三次答复")


async def test_the_survey_answered_on_the_official_account_closes_the_mini_program_case(stack: Stack) -> None:
    _, dora = await linked_person(stack, "dora", "o-dora")
    code = await dora.new_case()
    await assign(stack, code)
    await reply(stack, code)
    await start_return_visit(stack)
    answer = await stack.citizen().text("o-dora", f"{code} 1 很满意")
    assert "已办结" in answer.reply["Content"]
    assert (await Case.get(code=code)).state == CaseState.CLOSED
    again = await dora.request("POST", f"/cases/{code}/rating", json_body={"score": 1})
    assert again.status == 409  # the question is closed on both channels
