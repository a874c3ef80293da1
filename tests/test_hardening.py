"""Holes of issue 15, each over HTTP as an abuser or an unlucky citizen would find it: guessing binding
codes, 绑定 in a citizen's words, a citizen flooding a member, a Redis flush, a code inside a follow-up."""

from __future__ import annotations

import re

from handlers.binding import ALPHABET, display
from handlers.routers.member import create_bind_code
from models.entities import Citizen
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
