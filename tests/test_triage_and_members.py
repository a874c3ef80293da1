"""Staff triage and members handling cases in chat: every command, its errors, permissions, the relay."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from yarl import URL

from bot.app import REDIS, SETTINGS
from handlers.cases import queue as triage_queue
from handlers.cases.actions import CommandError
from handlers.routers.member import create_bind_code
from models.entities import Case, CaseEvent, CaseState, Citizen, Member
from models.jobs import Job, JobStatus
from models.timeutil import now
from tests.harness import TRIAGE_HOOK, Stack

CODE = re.compile(r"MS\d{11,}")


async def say(stack: Stack, userid: str, text: str) -> str:
    """A WeCom user writes to the app in single chat (over HTTP, encrypted); returns the app's answer."""
    result = await stack.wecom_user().text(userid, text)
    assert result.status == 200, result.body
    assert result.reply is not None, f"no passive reply to {text!r}: {result.body!r}"
    return str(result.reply["Content"])


async def new_case(stack: Stack, openid: str, text: str, point: str = "hz-hospital-1") -> Case:
    citizen = stack.citizen()
    await citizen.event(openid, "SCAN", f"cp:{point}")
    result = await citizen.text(openid, text)
    match = CODE.search(result.reply["Content"])
    assert match
    await stack.run_jobs()  # the triage card, suggestions and deadline timers are set up by a job
    return await Case.get(code=match.group(0))


def triage_posts(stack: Stack) -> list[str]:
    return [m.text for m in stack.platform.sent_to(TRIAGE_HOOK)]


async def test_a_new_case_is_posted_to_the_triage_group_with_masked_numbers(stack: Stack) -> None:
    case = await new_case(stack, "o-c1", "医院挂号太难，我电话13812345678，身份证330102199001011234")
    await stack.run_jobs()
    [card] = triage_posts(stack)
    assert case.code in card
    assert "湖州市中心医院" in card
    assert "医疗卫生" in card
    assert "13812345678" not in card
    assert "138****5678" in card
    assert "330102199001011234" not in card
    assert "330102********1234" in card
    assert "交办期限" in card
    assert f"派 {case.code} 张三" in card


async def test_assign_reaches_the_member_and_the_citizen_and_is_on_the_timeline(stack: Stack) -> None:
    case = await new_case(stack, "o-c2", "急诊室空调坏了")
    answer = await say(stack, "lisi", f"@码上商  派 {case.code}  张三")
    assert f"已将 {case.code} 交办给委员张三" in answer
    await stack.run_jobs()
    [to_member] = stack.platform.sent_to("zhangsan")
    assert case.code in to_member.text
    assert "急诊室空调坏了" in to_member.text
    assert f"收 {case.code}" in to_member.text
    [to_citizen] = stack.platform.sent_to("o-c2")
    assert case.code in to_citizen.text
    assert "张三" in to_citizen.text
    await case.refresh_from_db()
    assert case.state == CaseState.ASSIGNED
    assert case.reply_due_at is not None
    events = await CaseEvent.filter(case=case, actor="staff:s-li").values_list("kind", flat=True)
    assert set(events) == {"command", "state:assign"}
    queue = await say(stack, "lisi", "待办")
    assert case.code not in queue


async def test_command_errors_are_clear(stack: Stack) -> None:
    case = await new_case(stack, "o-c3", "学校门口堵车", point="hz-school-1")
    await Member.create(key="m-zhang2", name="张三丰", sector="科技界")
    ambiguous = await say(stack, "lisi", f"派 {case.code} 张")
    assert "张三（m-zhang" in ambiguous
    assert "张三丰（m-zhang2" in ambiguous
    assert "没有找到委员" in await say(stack, "lisi", f"派 {case.code} 李白")
    # Part of one member's name only: asked, never guessed (a slip must not hand the case to somebody).
    guessed = await say(stack, "lisi", f"派 {case.code} 丰")
    assert "没有叫「丰」的委员。您是不是要找 张三丰（m-zhang2）？" in guessed
    assert (await Case.get(id=case.id)).member_id is None
    # The binding code's lookup by name is no guess either: two members named alike are listed.
    await Member.create(key="m-zhang3", name="张三", sector="经济界")
    with pytest.raises(CommandError, match="对应多位委员：张三（m-zhang）、张三（m-zhang3）"):
        await create_bind_code("张三")
    typo = case.code[:-1] + str((int(case.code[-1]) + 1) % 10)
    assert "校验未通过" in await say(stack, "lisi", f"派 {typo} 张三")
    assert "不是有效的编号" in await say(stack, "lisi", "派 abc 张三")
    assert "格式：派 <编号> <委员>" in await say(stack, "lisi", f"派 {case.code}")
    unknown = await say(stack, "lisi", "请帮我看看")
    assert "没有听懂" in unknown
    assert "派 <编号> <委员>" in unknown
    assert "assign" in await say(stack, "lisi", "help")
    await say(stack, "lisi", f"退 {case.code} 重复提交")
    closed = await say(stack, "lisi", f"assign {case.code} m-zhang")
    assert "不予受理" in closed
    assert "不能交办" in closed
    await case.refresh_from_db()
    assert case.state == CaseState.REJECTED


async def test_a_rejected_case_tells_its_reason_once_to_staff_and_again_to_the_citizen(stack: Stack) -> None:
    case = await new_case(stack, "o-c3r", "邻居装修太吵")
    reason = "不属于政协职责范围，请拨打12345"
    await say(stack, "lisi", f"退 {case.code} {reason}")
    timeline = await say(stack, "lisi", f"查 {case.code}")
    assert "状态：不予受理" in timeline
    assert timeline.count("不属于政协职责范围") == 1, timeline  # on the change, not again on the command
    assert f"命令：退 {case.code}\n" in timeline
    assert f"不予受理（{reason}）" in timeline
    # The citizen asking later with the code hears why, as the notice said.
    status = (await stack.citizen().text("o-c3r", case.code)).reply["Content"]
    assert f"当前状态：不予受理，原因：{reason}。" in status


async def test_staff_ask_for_the_citizens_phone_numbers_and_the_timeline_says_who_asked(stack: Stack) -> None:
    case = await new_case(stack, "o-c3p", "楼道灯坏了，电话138 1234 5678")
    await stack.citizen().text("o-c3p", f"{case.code} 白天打座机 0572-234 5678，晚上打１３９００００１１１１")
    card = next(text for text in stack.triage_messages() if case.code in text)
    assert "13812345678" not in card.replace(" ", "")  # masked on the card
    shown = await say(stack, "lisi", f"电话 {case.code}")
    assert shown.splitlines()[1:] == [
        "13812345678（群众留言里写的）",
        "0572-2345678（群众留言里写的）",
        "13900001111（群众留言里写的）",
    ]
    assert case.code in shown.splitlines()[0]
    assert f"工作人员李四 命令：电话 {case.code}" in await say(stack, "lisi", f"查 {case.code}")
    assert "phone" in await say(stack, "lisi", "帮助")
    # Members and citizens get no number.
    member = await say(stack, "zhangsan", f"电话 {case.code}")
    assert "工作人员" in member
    assert "1234" not in member
    assert "1111" not in member
    await stack.run_jobs()
    before = len(stack.texts_to("o-c3p"))
    citizen = await stack.citizen().text("o-c3p", f"电话 {case.code}")
    await stack.run_jobs()
    for text in [citizen.reply["Content"] if citizen.reply else "", *stack.texts_to("o-c3p")[before:]]:
        assert "13812345678" not in text
        assert "0572-2345678" not in text
    # A citizen who left no number: said so.
    quiet = await new_case(stack, "o-c3q", "公园长椅坏了")
    assert "没有留下电话号码" in await say(stack, "lisi", f"phone {quiet.code}")


async def test_member_accepts_asks_the_citizen_and_replies(stack: Stack) -> None:
    case = await new_case(stack, "o-c4", "住院部电梯经常坏")
    await say(stack, "lisi", f"派 {case.code} 张三")
    assert "已接收" in await say(stack, "zhangsan", f"收 {case.code}")
    assert "已向" in await say(stack, "zhangsan", f"问 {case.code} 请问是几号楼的电梯？")
    await stack.run_jobs()
    question = stack.platform.sent_to("o-c4")[-1].text
    assert case.code in question
    assert "几号楼" in question
    # The citizen answers (much later, after another scan): the answer goes to the asked case.
    citizen = stack.citizen()
    await citizen.event("o-c4", "SCAN", "cp:hz-school-1")
    answer = await citizen.text("o-c4", "3号楼")
    assert case.code in answer.reply["Content"]
    await stack.run_jobs()
    forwarded = stack.platform.sent_to("zhangsan")[-1].text
    assert "群众补充" in forwarded
    assert case.code in forwarded
    assert "3号楼" in forwarded
    await case.refresh_from_db()
    assert case.state == CaseState.ACCEPTED

    answered = await say(stack, "zhangsan", f"答 {case.code} 已协调医院于本周内维修3号楼电梯")
    assert f"已答复 {case.code}" in answered
    assert "已排入发送队列" in answered  # queued, not yet delivered: it does not claim what has not happened
    await stack.run_jobs()
    reply = stack.platform.sent_to("o-c4")[-1].text
    assert "【答复】" in reply
    assert case.code in reply
    assert "3号楼电梯" in reply
    await case.refresh_from_db()
    assert case.state == CaseState.REPLIED
    assert case.last_reply
    assert any(case.code in post and "已答复" in post for post in triage_posts(stack))
    status = await stack.citizen().text("o-c4", case.code)
    assert "已答复" in status.reply["Content"]
    assert "3号楼电梯" in status.reply["Content"]


async def test_who_may_do_what(stack: Stack) -> None:
    case = await new_case(stack, "o-c5", "食堂太贵")
    refused = await say(stack, "stranger", f"派 {case.code} 张三")
    assert "不是码上商的工作人员或委员" in refused
    assert "不是码上商的工作人员或委员" in await say(stack, "stranger", "帮助")
    # A member cannot triage, and cannot act on somebody else's case.
    as_member = await say(stack, "wangwu", f"派 {case.code} 王五")
    assert "「派」是工作人员的命令" in as_member  # says why, then what a member can do
    assert "委员办件命令" in as_member
    as_staff = await say(stack, "lisi", f"收 {case.code}")
    assert "「收」是委员办件的命令" in as_staff
    assert "派 <编号> <委员>" in as_staff
    await say(stack, "lisi", f"派 {case.code} 张三")
    assert "不是交办给您的件" in await say(stack, "wangwu", f"答 {case.code} 我来答")
    await case.refresh_from_db()
    assert case.state == CaseState.ASSIGNED
    assert case.last_reply is None


async def test_a_member_without_wecom_binds_the_official_account(stack: Stack) -> None:
    bind = await create_bind_code("m-zhao")
    oa = stack.citizen()
    bound = await oa.text("o-zhao-member", f"绑定 {bind.code}")
    assert "赵六委员" in bound.reply["Content"]
    assert "绑定成功" in bound.reply["Content"]
    reused = await oa.text("o-other", f"绑定 {bind.code}")
    assert "无效或已过期" in reused.reply["Content"]
    again = await oa.text("o-zhao-member", f"绑定 {bind.code}")  # the member sends it once more
    assert "您已绑定，无需再次绑定" in again.reply["Content"]

    case = await new_case(stack, "o-c6", "园区招工难", point="hz-ent-1")
    await say(stack, "lisi", f"派 {case.code} 赵六")
    await stack.run_jobs()
    [assignment] = stack.platform.sent_to("o-zhao-member")
    assert case.code in assignment.text
    assert "园区招工难" in assignment.text
    # The member answers from the official account; this is not a new citizen case.
    # Whatever the member sends (here a voice message) is the member's, never a new citizen case.
    stack.platform.add_media("zhao-voice-1", b"AMR", "audio/amr")
    voice = await oa.voice("o-zhao-member", "zhao-voice-1", recognition="我想反映一个问题")
    assert "委员办件命令" in voice.reply["Content"]
    answered = await oa.text("o-zhao-member", f"答 {case.code} 已对接人社局开展专场招聘")
    assert "已答复" in answered.reply["Content"]
    assert await Case.filter(citizen__openid="o-zhao-member").count() == 0
    await stack.run_jobs()
    assert "专场招聘" in stack.platform.sent_to("o-c6")[-1].text


async def test_a_bound_member_past_48_hours_gets_a_template_worded_for_a_member(stack: Stack) -> None:
    bind = await create_bind_code("m-zhao")
    oa = stack.citizen()
    await oa.text("o-zhao-late", f"绑定 {bind.code}")
    await Citizen.filter(openid="o-zhao-late").update(last_inbound_at=now() - timedelta(hours=50), event_window_at=None)
    case = await new_case(stack, "o-c6b", "园区食堂太贵", point="hz-ent-1")
    await say(stack, "lisi", f"派 {case.code} 赵六")
    await stack.run_jobs()
    [assignment] = stack.platform.sent_to("o-zhao-late")
    assert assignment.channel == "template"
    assert "委员您好" in assignment.text
    assert "您反映的问题" not in assignment.text  # not the citizens' wording
    assert case.code in assignment.text  # the tracking code, in its own field
    assert "园区食堂太贵" in assignment.text
    assert "url" not in assignment.payload  # the case page is the citizen's, not the member's
    # The citizen's own messages past the window keep the citizens' wording.
    await Citizen.filter(openid="o-c6b").update(last_inbound_at=now() - timedelta(hours=50), event_window_at=None)
    await oa.text("o-zhao-late", f"答 {case.code} 已与园区协商开设平价窗口")
    await stack.run_jobs()
    reply = stack.platform.sent_to("o-c6b")[-1]
    assert reply.channel == "template"
    assert "您反映的「园区食堂太贵」" in reply.text
    # The whole reply is on the case page the template opens.
    assert stack.session is not None
    async with stack.session.get(stack.url(URL(reply.payload["url"]).path)) as page:
        assert page.status == 200
        assert "平价窗口" in await page.text()


async def test_a_bound_members_own_message_reopens_the_customer_service_window(stack: Stack) -> None:
    bind = await create_bind_code("m-zhao")
    oa = stack.citizen()
    await oa.text("o-zhao-back", f"绑定 {bind.code}")
    first = await new_case(stack, "o-c6c", "园区路灯不亮", point="hz-ent-1")
    await say(stack, "lisi", f"派 {first.code} 赵六")
    await stack.run_jobs()
    assert [m.channel for m in stack.platform.sent_to("o-zhao-back")] == ["custom"]  # the binding opened it
    await Citizen.filter(openid="o-zhao-back").update(last_inbound_at=now() - timedelta(hours=50), event_window_at=None)
    mine = await oa.text("o-zhao-back", "我的")  # the member writes again: a new 48-hour window
    assert first.code in mine.reply["Content"]
    second = await new_case(stack, "o-c6d", "园区班车太少", point="hz-ent-1")
    await say(stack, "lisi", f"派 {second.code} 赵六")
    await stack.run_jobs()
    latest = stack.platform.sent_to("o-zhao-back")[-1]
    assert second.code in latest.text
    assert latest.channel == "custom"


async def test_merged_cases_get_the_target_reply_and_transfer_then_staff_reply(stack: Stack) -> None:
    first = await new_case(stack, "o-c7", "医院停车难")
    second = await new_case(stack, "o-c8", "医院停车位太少")
    assert "已将" in await say(stack, "lisi", f"并 {second.code} {first.code}")
    # Each timeline says which way it went.
    assert f"工作人员李四 同类件并入本件：{second.code}" in await say(stack, "lisi", f"查 {first.code}")
    assert f"工作人员李四 并案，并入 {first.code}" in await say(stack, "lisi", f"查 {second.code}")
    citizen = stack.citizen()
    status = (await citizen.text("o-c8", second.code)).reply["Content"]
    assert f"当前状态：已并案（与编号 {first.code} 合并办理，该件当前状态：待分拣）" in status
    assert "合并办理的答复会发给您" in status
    assert "转交市卫生健康委员会" in await say(stack, "lisi", f"转 {first.code} d-health 请一周内反馈")
    await say(stack, "lisi", f"答 {first.code} 卫健委：医院将新增200个停车位")
    status = (await citizen.text("o-c8", second.code)).reply["Content"]
    assert first.code in status
    assert "最新答复：卫健委：医院将新增200个停车位" in status
    await stack.run_jobs()
    assert "200个停车位" in stack.platform.sent_to("o-c7")[-1].text
    merged_texts = [m.text for m in stack.platform.sent_to("o-c8")]
    assert any(second.code in t and first.code in t and "200个停车位" in t for t in merged_texts)
    await second.refresh_from_db()
    assert second.state == CaseState.MERGED


async def test_category_urgent_timeline_and_queue(stack: Stack) -> None:
    calm = await new_case(stack, "o-c9", "希望多种树")
    hot = await new_case(stack, "o-c10", "医院输液室漏电")
    assert "类别设为「交通出行」" in await say(stack, "lisi", f"类 {calm.code} 交通出行")
    assert "没有类别" in await say(stack, "lisi", f"类 {calm.code} 天文")
    assert "急件" in await say(stack, "lisi", f"急 {hot.code}")
    await hot.refresh_from_db()
    assert hot.urgent
    assert hot.assign_due_at - hot.created_at == timedelta(days=1)
    queue = await say(stack, "lisi", "待办")
    assert "待分拣 2 件" in queue
    assert queue.index(hot.code) < queue.index(calm.code)
    await say(stack, "lisi", f"派 {calm.code} 张三")
    refused = await say(stack, "lisi", f"派 {calm.code} 赵钱孙")  # nobody of that name
    assert "赵钱孙" in refused
    await stack.run_jobs()
    timeline = await say(stack, "lisi", f"查 {calm.code}")
    assert f"命令：派 {calm.code} 张三" in timeline
    assert "赵钱孙" not in timeline  # the refused command is not on the timeline
    assert calm.code in timeline
    assert "群众 提交" in timeline
    assert "工作人员李四 设置类别" in timeline
    assert "系统 发送消息（分拣群）" in timeline  # the new-case card, by the channel's Chinese name
    assert "系统 发送消息（企业微信，给委员张三）" in timeline  # the assignment, and to whom
    assert "系统 发送消息（客服消息，给群众）" in timeline
    assert "staff:" not in timeline
    assert "triage_webhook" not in timeline


async def test_the_member_who_held_a_case_hears_when_it_is_reassigned_transferred_or_made_urgent(
    stack: Stack,
) -> None:
    first = await new_case(stack, "o-h1", "小区门口人行道破损")
    await say(stack, "lisi", f"派 {first.code} 张三")
    await say(stack, "lisi", f"急 {first.code}")
    await say(stack, "lisi", f"派 {first.code} 王五")
    second = await new_case(stack, "o-h2", "医院挂号排队太长")
    await say(stack, "lisi", f"派 {second.code} 王五")
    await say(stack, "lisi", f"转 {second.code} d-health 请一周内反馈")
    await stack.run_jobs()
    zhangsan = stack.texts_to("zhangsan")
    assert any(f"【急件】编号 {first.code} 已标为急件，答复期限提前到" in text for text in zhangsan)
    assert any(f"【交办变更】编号 {first.code} 已改由委员王五办理，您无需再办理" in text for text in zhangsan)
    wangwu = stack.texts_to("wangwu")
    assert any(f"【交办变更】编号 {second.code} 已转交市卫生健康委员会办理" in text for text in wangwu)
    # Transferred: the department answers (staff record it); the member no longer can.
    refused = await say(stack, "wangwu", f"答 {second.code} 我来答")
    assert f"编号 {second.code} 当前状态为「已转办」，已不在您的办理中" in refused
    await second.refresh_from_db()
    assert second.last_reply is None
    assert second.member_id is None  # the department holds it now: no 重办 or follow-ups go to the member
    # Answered by staff, merged or rejected while a member held it: the member hears that too.
    answered, merged, rejected = [await new_case(stack, f"o-h{n}", f"第{n}件：路灯不亮") for n in (3, 4, 5)]
    for case in (answered, merged, rejected):
        await say(stack, "lisi", f"派 {case.code} 张三")
    await say(stack, "lisi", f"答 {answered.code} 已联系路灯所维修")
    await say(stack, "lisi", f"并 {merged.code} {answered.code}")
    await say(stack, "lisi", f"退 {rejected.code} 重复反映")
    await stack.run_jobs()
    zhangsan = "\n".join(stack.texts_to("zhangsan"))
    assert f"【交办变更】编号 {answered.code} 已由工作人员答复群众" in zhangsan
    assert f"【交办变更】编号 {merged.code} 已并入同类件 {answered.code} 一并办理" in zhangsan
    assert f"【交办变更】编号 {rejected.code} 经审核不予受理" in zhangsan


async def test_urgent_never_sets_a_reply_deadline_in_the_past_or_later_than_before(stack: Stack) -> None:
    case = await new_case(stack, "o-u1", "楼道电线裸露")
    await say(stack, "lisi", f"派 {case.code} 张三")
    # Assigned twelve days ago, answered, reopened yesterday with a fresh week (as after 不满意).
    await case.refresh_from_db()
    case.assigned_at = now() - timedelta(days=12)
    case.reply_due_at = now() + timedelta(days=6)
    await case.save(update_fields=["assigned_at", "reply_due_at"])
    answer = await say(stack, "lisi", f"急 {case.code}")
    await case.refresh_from_db()
    assert now() < case.reply_due_at < now() + timedelta(days=6)
    assert "期限提前到" in answer


async def test_a_case_merged_twice_reports_the_case_still_handled_and_promises_nothing_once_it_is_rejected(
    stack: Stack,
) -> None:
    first = await new_case(stack, "o-m1", "公园厕所太脏")
    second = await new_case(stack, "o-m2", "公园厕所没人打扫")
    third = await new_case(stack, "o-m3", "公园厕所很臭")
    await say(stack, "lisi", f"并 {third.code} {second.code}")
    await say(stack, "lisi", f"并 {second.code} {first.code}")
    citizen = stack.citizen()
    status = (await citizen.text("o-m3", third.code)).reply["Content"]
    assert f"与编号 {first.code} 合并办理，该件当前状态：待分拣" in status  # followed to the case still handled
    assert "合并办理的答复会发给您" in status
    await say(stack, "lisi", f"退 {first.code} 已由园林部门另行处理")
    status = (await citizen.text("o-m3", third.code)).reply["Content"]
    assert f"与编号 {first.code} 合并办理，该件当前状态：不予受理" in status
    assert "答复会发给您" not in status  # nothing more is coming: no promise
    assert "如有新的情况，欢迎直接留言" in status


async def test_the_queue_counts_every_overdue_case_not_only_the_ones_it_lists(stack: Stack) -> None:
    cases = [await new_case(stack, f"o-late-{index}", f"第{index}件：路面破损") for index in range(14)]
    redis, settings = stack.app[REDIS], stack.app[SETTINGS]
    for index, case in enumerate(cases[:12]):  # twelve past their deadline, one of them urgent
        case.assign_due_at = now() - timedelta(hours=1 + index)
        case.urgent = index == 5
        await case.save(update_fields=["assign_due_at", "urgent"])
        await triage_queue.enqueue_case(redis, settings, case)
    not_yet = cases[13]  # urgent, but its deadline is still ahead: not overdue
    not_yet.urgent, not_yet.assign_due_at = True, now() + timedelta(hours=2)
    await not_yet.save(update_fields=["assign_due_at", "urgent"])
    await triage_queue.enqueue_case(redis, settings, not_yet)
    queue = await say(stack, "lisi", "待办")
    assert "待分拣 14 件（其中已超期 12 件）" in queue
    assert "另有 4 件待分拣未列出" in queue  # fourteen waiting, ten listed
    assert f"【急】{not_yet.code}" in queue  # listed first (urgent), without 【超期】
    assert queue.count("【超期】") == 9  # ten listed in all, the count says how many are overdue


async def test_cases_with_the_same_deadline_are_listed_in_the_order_they_came(stack: Stack) -> None:
    cases = [await new_case(stack, f"o-same-{index}", f"第{index}件：井盖松动") for index in range(11)]
    redis, settings = stack.app[REDIS], stack.app[SETTINGS]
    due = now() + timedelta(days=1)
    for case in cases:  # ids 1..11 here: as plain strings "10" and "11" would sort before "2"
        case.assign_due_at = due
        await case.save(update_fields=["assign_due_at"])
        await triage_queue.enqueue_case(redis, settings, case)
    queue = await say(stack, "lisi", "待办")
    listed = [case for case in cases if case.code in queue]
    assert len(listed) == 10
    assert listed == cases[:10]
    positions = [queue.index(case.code) for case in listed]
    assert positions == sorted(positions)


async def test_an_entry_an_older_version_wrote_leaves_the_queue_with_its_case(stack: Stack) -> None:
    case = await new_case(stack, "o-old-1", "垃圾桶满了没人清")
    redis, settings = stack.app[REDIS], stack.app[SETTINGS]
    key = settings.key("triage", "queue")
    await redis.zadd(key, {str(case.id): 1.0})  # the unpadded member an older version wrote
    await say(stack, "lisi", f"派 {case.code} 张三")
    assert await redis.zcard(key) == 0  # neither form is left behind
    assert "待分拣 0 件" in await say(stack, "lisi", "待办")


async def test_the_queue_survives_a_redis_flush(stack: Stack) -> None:
    case = await new_case(stack, "o-c11", "路灯不亮", point="hz-ent-1")
    await stack.app[REDIS].flushdb()
    await stack.restart_service()
    assert case.code in await say(stack, "lisi", "待办")
    settings = stack.app[SETTINGS]
    assert await stack.app[REDIS].zcard(settings.key("triage", "queue")) == 1


async def test_member_reply_past_48_hours_goes_by_template(stack: Stack) -> None:
    case = await new_case(stack, "o-c12", "公交站没有雨棚", point="hz-school-1")
    await say(stack, "lisi", f"派 {case.code} 王五")
    await Citizen.filter(openid="o-c12").update(last_inbound_at=now() - timedelta(hours=50), event_window_at=None)
    await say(stack, "wangwu", f"答 {case.code} 已建议公交公司加装雨棚")
    await stack.run_jobs()
    last = stack.platform.sent_to("o-c12")[-1]
    assert last.channel == "template"
    assert case.code in last.text


async def test_messages_wait_in_the_outbox_while_wecom_fails(stack: Stack) -> None:
    stack.platform.fail_all("/wecom/", http_status=503)  # WeCom is down; the citizen's WeChat still works
    case = await new_case(stack, "o-c13", "学校操场积水", point="hz-school-1")
    await say(stack, "lisi", f"派 {case.code} 王五")
    await stack.run_jobs()
    assert stack.platform.sent_to("wangwu") == []
    assert triage_posts(stack) == []
    assert await Job.filter(status=JobStatus.PENDING, kind__startswith="send.").count() >= 2
    stack.platform.recover()
    await Job.filter(status=JobStatus.PENDING, kind__startswith="send.").update(run_at=now())
    await stack.run_jobs()
    assert len(stack.platform.sent_to("wangwu")) == 1
    assert case.code in stack.platform.sent_to("wangwu")[0].text
    assert len(triage_posts(stack)) == 1


@pytest.mark.parametrize("auto", [True])
async def test_auto_assign_contact_point(stack: Stack, auto: bool) -> None:
    from models.entities import ContactPoint

    await ContactPoint.filter(key="hz-school-1").update(auto_assign=auto)
    busy = await new_case(stack, "o-c14", "学校门口的红绿灯太短", point="hz-school-1")
    await busy.refresh_from_db()
    await busy.fetch_related("member")
    assert busy.state == CaseState.ASSIGNED
    assert busy.member.key == "m-wang"
    second = await new_case(stack, "o-c15", "学校食堂太贵", point="hz-school-1")
    await second.fetch_related("member")
    assert second.member.key == "m-zhao"  # the less busy default member


async def test_staff_at_mention_the_bot_in_the_group_and_get_the_answer_there(stack: Stack) -> None:
    case = await new_case(stack, "o-c16", "医院夜间急诊人手不够")
    result = await stack.bot().text("lisi", f"派 {case.code} 张三", msg_id="bot-msg-1")
    assert result.status == 200
    await stack.run_jobs()
    answers = stack.bot_answers()
    assert len(answers) == 1
    assert f"已将 {case.code} 交办给委员张三" in answers[0]
    await case.refresh_from_db()
    assert case.state == CaseState.ASSIGNED
    # A retry of the same callback is not a second assignment or a second answer.
    again = await stack.bot().text("lisi", f"派 {case.code} 张三", msg_id="bot-msg-1")
    assert again.status == 200
    await stack.run_jobs()
    assert await CaseEvent.filter(case=case, kind="state:assign").count() == 1
    assert len(stack.bot_answers()) == 1


async def test_the_bots_mention_is_ignored_wherever_it_stands_in_a_group_command(stack: Stack) -> None:
    # WeCom writes the bot's name into the text where the sender put the @: at the start, in the middle,
    # at the end; the name configured here has a space in it, as WeCom allows.
    await stack.restart_with(wecom={"bot_names": ("码上商 助手",)})
    bot = stack.bot(bot_name="码上商 助手")
    cases = [await new_case(stack, f"o-m{i}", f"路灯坏了 {i}") for i in range(3)]
    lines = [
        f"@码上商 助手 派 {cases[0].code} 张三",
        f"派 {cases[1].code} @码上商 助手 张三",
        f"派 {cases[2].code} 张三 @码上商\u2005助手",
    ]
    for line in lines:
        result = await bot.text("lisi", line, mention=False)
        assert result.status == 200
    await stack.run_jobs()
    answers = stack.bot_answers()
    for case in cases:
        await case.refresh_from_db()
        assert case.state == CaseState.ASSIGNED, answers
        assert any(f"已将 {case.code} 交办给委员张三" in answer for answer in answers)
