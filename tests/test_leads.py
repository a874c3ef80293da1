"""Leads and topics (线索、专题) in the staff chat, over the real service against the fake platform: QR and
hotline cases (by tracking code and by work-order number) marked as leads of a topic made on first use,
listed, shown, removed, on each case's timeline; members and citizens are refused; bad input is answered
in Chinese and changes nothing. SQLite, and PostgreSQL with its env."""

from __future__ import annotations

from pathlib import Path

from models.entities import Case, CaseEvent
from models.leads import LeadTopic, LeadTopicCase
from models.timeutil import now
from tests.harness import Stack
from tests.hotline_files import beijing, order, write_csv, write_mapping
from tests.test_hotline_import import hotline, say
from tests.test_triage_and_members import new_case

TOPIC = "医院周边停车难"


async def import_hotline(stack: Stack, tmp_path: Path, rows: list[list[str]]) -> None:
    assert stack.config is not None
    code, _, err = await hotline(
        stack.config, write_csv(tmp_path / "h.csv", rows), "--mapping", write_mapping(tmp_path)
    )
    assert code == 0, err


async def test_leads_across_qr_and_hotline_cases(stack: Stack, tmp_path: Path) -> None:
    received = beijing(now())
    await import_hotline(
        stack,
        tmp_path,
        [
            order("GD-PARK-1", received, "医院门口停车难，电话13812345678", district="南浔区", phone="13812345678"),
            order("GD-PARK-2", received, "医院附近没有停车位", district="吴兴区"),
        ],
    )
    qr = await new_case(stack, "o-park", "医院停车场总是满的，我电话13912345678")
    first = await Case.get(hotline_order__external_id="GD-PARK-1")

    # Two codes of ours and a work-order number: the topic is made on first use.
    answer = await say(stack, "lisi", f"线索 {qr.code} {first.code} GD-PARK-2 {TOPIC}")
    assert f"已新建专题「{TOPIC}」" in answer
    assert "列为线索 3 件" in answer
    assert qr.code in answer
    assert first.code in answer
    assert "专题现有 3 件" in answer
    topic = await LeadTopic.get(name=TOPIC)
    assert topic.created_by == "staff:s-li"
    assert await LeadTopicCase.filter(topic=topic).count() == 3
    # Marking again changes nothing, and says so.
    again = await say(stack, "lisi", f"线索 {qr.code} {TOPIC}")
    assert "已在专题中 1 件" in again
    assert "专题现有 3 件" in again
    assert await LeadTopicCase.filter(topic=topic).count() == 3

    # 专题: the topics with their counts.
    await say(stack, "lisi", f"线索 {qr.code} 另一个专题")
    listing = await say(stack, "lisi", "专题")
    assert f"{TOPIC}：3 件（12345 热线 2 件）" in listing
    assert "另一个专题：1 件（12345 热线 0 件）" in listing

    # 专题 <名>: cases (and the hotline's numbers), districts, weeks.
    shown = await say(stack, "lisi", f"专题 {TOPIC}")
    assert f"专题「{TOPIC}」：3 件（12345 热线 2 件）" in shown
    assert f"{first.code}（热线 GD-PARK-1）" in shown
    assert qr.code in shown
    assert "南浔区 1 件" in shown
    assert "吴兴区" in shown
    assert "联系点：" in shown
    assert "1 件" in shown
    assert "起 3 件" in shown  # one week, three cases
    assert "13812345678" not in shown
    assert "13912345678" not in shown

    # On the timeline of each case.
    timeline = await say(stack, "lisi", f"查 {first.code}")
    assert f"列为专题线索「{TOPIC}」" in timeline
    assert await CaseEvent.filter(case=qr, kind="lead.marked").count() == 2  # two topics

    # 专题 <名> 移除 <编号>, by work-order number too.
    removed = await say(stack, "lisi", f"专题 {TOPIC} 移除 GD-PARK-2")
    assert f"移出专题「{TOPIC}」，专题还有 2 件" in removed
    second = await Case.get(hotline_order__external_id="GD-PARK-2")
    assert second.code in removed
    assert "移出专题" in await say(stack, "lisi", f"查 {second.code}")
    assert f"{TOPIC}：2 件（12345 热线 1 件）" in await say(stack, "lisi", "专题")
    not_in = await say(stack, "lisi", f"专题 {TOPIC} 移除 {second.code}")
    assert f"{second.code} 不在专题「{TOPIC}」中" in not_in
    assert "线索 <编号> [<编号>...] <专题名>（lead）" in await say(stack, "lisi", "帮助")


async def test_bad_lead_commands_are_answered_and_change_nothing(stack: Stack) -> None:
    case = await new_case(stack, "o-bad", "路灯坏了")
    wrong_digit = case.code[:-1] + str((int(case.code[-1]) + 1) % 10)
    for line, expected in (
        ("线索", "格式：线索 <编号> [<编号>...] <专题名>"),
        (f"线索 {case.code}", "格式：线索"),
        (f"线索 {case.code} {case.code}", "请在编号后写上专题名"),
        (f"线索 {wrong_digit} 路灯", "校验未通过"),
        (f"线索 {case.code} GD-NOPE 路灯", "没有编号或 12345 热线工单号为「GD-NOPE」的件"),
        (f"线索 {case.code} {'长' * 41}", "专题名最长 40 个字"),
        ("专题 没有这个", "没有名为「没有这个」的专题。现在还没有专题"),
        (f"专题 没有这个 移除 {case.code}", "没有名为「没有这个」的专题"),
    ):
        answer = await say(stack, "lisi", line)
        assert expected in answer, (line, answer)
    assert await LeadTopic.all().count() == 0  # a bad code marks none of the others
    assert await CaseEvent.filter(case=case, kind="lead.marked").count() == 0
    assert "还没有专题" in await say(stack, "lisi", "专题")
    await say(stack, "lisi", f"线索 {case.code} 路灯")
    assert "现有专题：路灯" in await say(stack, "lisi", "专题 路")


async def test_members_and_citizens_cannot_mark_leads(stack: Stack) -> None:
    case = await new_case(stack, "o-m", "小区噪音扰民")
    answer = await say(stack, "zhangsan", f"线索 {case.code} 噪音")
    assert "「线索」是工作人员的命令" in answer  # the member is told so
    assert "「专题」是工作人员的命令" in await say(stack, "zhangsan", "专题")
    # A citizen writing the same line only adds to their case.
    await stack.citizen().text("o-m", f"线索 {case.code} 噪音")
    await stack.run_jobs()
    assert await LeadTopic.all().count() == 0
    assert await LeadTopicCase.all().count() == 0
    # A WeCom user on no roster.
    stranger = await say(stack, "nobody-here", f"线索 {case.code} 噪音")
    assert "不是码上商的工作人员或委员" in stranger
    assert await LeadTopic.all().count() == 0
