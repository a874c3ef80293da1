"""Holes of issue 15, each over HTTP as an abuser or an unlucky citizen would find it: guessing binding
codes, 绑定 in a citizen's words, a citizen flooding a member, a Redis flush, a code inside a follow-up."""

from __future__ import annotations

import re

from handlers.binding import ALPHABET, display
from handlers.routers.member import create_bind_code
from models.entities import Case, CaseMessage, Citizen
from tests.harness import Stack


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
