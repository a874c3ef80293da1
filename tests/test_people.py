"""Who is writing, resolved once per message: staff first, then members (WeCom userid or a bound
openid), then binding, then refusing strangers in WeCom, then citizens."""

from __future__ import annotations

from handlers.routers.member import create_bind_code
from handlers.texts import commands as command_texts
from models.entities import Member, Staff
from tests.harness import Stack


async def wecom_says(stack: Stack, userid: str, text: str) -> str:
    result = await stack.wecom_user().text(userid, text)
    assert result.reply is not None, result.body
    return str(result.reply["Content"])


async def oa_says(stack: Stack, openid: str, text: str) -> str:
    result = await stack.citizen().text(openid, text)
    assert result.reply is not None, result.body
    return str(result.reply["Content"])


async def test_staff_members_and_strangers_in_wecom(stack: Stack) -> None:
    assert "「我的」是委员办件的命令" in await wecom_says(stack, "lisi", "我的")
    assert "张三委员" in await wecom_says(stack, "zhangsan", "我的")
    assert await wecom_says(stack, "nobody", "我的") == command_texts.NOT_ON_ROSTER
    # Somebody on both lists is staff; an inactive member or staff member is nobody we know.
    await Member.filter(key="m-zhang").update(active=False)
    assert await wecom_says(stack, "zhangsan", "我的") == command_texts.NOT_ON_ROSTER
    await Staff.create(key="s-zhang", name="张三", wecom_userid="zhangsan", role="triage")
    await Member.filter(key="m-zhang").update(active=True)
    assert "「我的」是委员办件的命令" in await wecom_says(stack, "zhangsan", "我的")
    await Staff.filter(key="s-zhang").update(active=False)
    assert "张三委员" in await wecom_says(stack, "zhangsan", "我的")


async def test_a_bound_openid_is_the_members_while_the_member_is_active(stack: Stack) -> None:
    assert "您还没有提交过诉求" in await oa_says(stack, "o-zhao", "我的")
    bind = await create_bind_code("m-zhao")
    assert "绑定成功" in await oa_says(stack, "o-zhao", f"绑定 {bind.code}")
    assert "赵六委员，您目前没有在办的件" in await oa_says(stack, "o-zhao", "我的")
    assert "无需再次绑定" in await oa_says(stack, "o-zhao", f"绑定 {bind.code}")
    # A scan is a citizen's whoever makes it: greeted, never asked who is writing.
    scanned = await stack.citizen().event("o-zhao", "SCAN", "cp:hz-school-1")
    assert scanned.reply is not None
    assert "湖州中学" in str(scanned.reply["Content"])
    await Member.filter(key="m-zhao").update(active=False)
    assert "您还没有提交过诉求" in await oa_says(stack, "o-zhao", "我的")


async def test_wecom_userids_match_the_roster_whatever_their_case(stack: Stack) -> None:
    # WeCom userids are case-insensitive: the roster may say `ZhangSan` where WeCom sends `zhangsan`.
    await Member.filter(key="m-zhang").update(wecom_userid="ZhangSan")
    await Staff.filter(key="s-li").update(wecom_userid="LiSi")
    assert "张三委员" in await wecom_says(stack, "zhangsan", "我的")
    assert "张三委员" in await wecom_says(stack, "ZHANGSAN", "我的")
    assert "「我的」是委员办件的命令" in await wecom_says(stack, "lisi", "我的")
    assert await wecom_says(stack, "zhangsan2", "我的") == command_texts.NOT_ON_ROSTER
    bind = await create_bind_code("zhangsan")  # an operator may type the userid in any case too
    assert bind.member_id == (await Member.get(key="m-zhang")).id  # type: ignore[attr-defined]
