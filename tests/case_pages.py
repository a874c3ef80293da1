"""Shared by the case page's tests (over HTTP and in the browser): a service whose public address is
the test server's, so the URLs `case_page_url` makes open as they are; and a case with a reply."""

from __future__ import annotations

import re
import socket
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from bot.app import SETTINGS
from handlers.cases.case_page import case_page_url
from models.entities import Case
from models.timeutil import Clock, get_clock, set_clock
from tests.conftest import reset_postgres
from tests.harness import Stack

CODE = re.compile(r"MS\d{11,}")
REPLY = "经协调，医院已在东门外增设临时停车位120个，并开通预约停车，详见医院公众号通知。"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def pages(
    database_url: str, redis_url: str, redis_client: aioredis.Redis, tmp_path: Path
) -> AsyncIterator[Stack]:
    if database_url.startswith("postgres"):
        await reset_postgres(database_url)
    stack = Stack(database_url=database_url, redis_url=redis_url, tmp_path=tmp_path)
    stack.port = free_port()
    await stack.start(server={"public_base_url": f"http://127.0.0.1:{stack.port}"})
    try:
        yield stack
    finally:
        await stack.stop()


class ShiftedClock(Clock):
    """Business time `offset` ahead of real time."""

    def __init__(self, offset: timedelta) -> None:
        self.offset = offset

    def now(self) -> datetime:
        return super().now() + self.offset


@pytest.fixture
def business_clock() -> Iterator[None]:
    """Tests move business time with `set_clock(ShiftedClock(...))`; the real clock comes back after."""
    before = get_clock()
    yield
    set_clock(before)


async def say(stack: Stack, userid: str, text: str) -> str:
    result = await stack.wecom_user().text(userid, text)
    assert result.status == 200, result.body
    assert result.reply is not None, result.body
    return str(result.reply["Content"])


async def citizen_says(stack: Stack, openid: str, text: str) -> str:
    result = await stack.citizen().text(openid, text)
    assert result.reply is not None, result
    return str(result.reply["Content"])


async def new_case(stack: Stack, openid: str, text: str) -> Case:
    await stack.citizen().event(openid, "SCAN", "cp:hz-hospital-1")
    match = CODE.search(await citizen_says(stack, openid, text))
    assert match
    return await Case.get(code=match.group(0)).prefetch_related("citizen")


async def replied_case(stack: Stack, openid: str, text: str = "医院门口停车太难", reply: str = REPLY) -> Case:
    """A case assigned to 张三 (by staff 李四) and answered by him: the page shows the survey."""
    case = await new_case(stack, openid, text)
    await say(stack, "lisi", f"派 {case.code} 张三")
    await say(stack, "zhangsan", f"答 {case.code} {reply}")
    await stack.run_jobs()
    await case.refresh_from_db()
    return case


async def start_visit(stack: Stack) -> None:
    """The return visit's survey goes out now (not [sla] return_visit_after later): 回访中."""
    await stack.make_jobs_due()
    await stack.run_jobs()


async def link(stack: Stack, case: Case) -> str:
    await case.fetch_related("citizen")
    return await case_page_url(case, case.citizen, stack.app[SETTINGS])
