"""What one message costs the database, per audience: a change that adds a statement fails here.

Each test sets the scene over HTTP as usual, then hands exactly one message to the service's root
router as the inbox does (in one transaction, after-commit work collected) and counts the SQL
statements sent while the router handles it: Tortoise logs each on `tortoise.db_client` at DEBUG,
whichever the backend (BEGIN, COMMIT and savepoints are not logged, nor counted). Storing the
callback and marking it done are the inbox's, the same for every message, and not counted here.

A citizen's first message under load goes through the batch intake instead (handlers/cases/
new_cases.py): its plan's statements are counted per batch, whatever the batch's size.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import re
from collections.abc import Generator, Iterator
from typing import Any

import pytest
from tortoise.transactions import in_transaction

from bot.app import INBOX
from handlers.cases.new_cases import BatchIntake
from handlers.events import ChatEvent, CitizenEvent, InboundEvent, Reply
from handlers.routers.member import create_bind_code
from models.after_commit import collecting, run_all
from models.entities import Case
from models.timeutil import now
from tests.harness import Stack

CODE = re.compile(r"MS\d{11,}")
_numbers = itertools.count(1)


class _Statements(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.statements: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg == "%s: %s" and isinstance(record.args, tuple) and record.args:
            self.statements.append(str(record.args[0]))  # a statement (its parameters left out)
        elif not str(record.msg).startswith(("Created connection", "Closed connection")):
            self.statements.append(record.getMessage())  # a script


@contextlib.contextmanager
def counting_statements() -> Iterator[list[str]]:
    logger = logging.getLogger("tortoise.db_client")
    handler = _Statements()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler.statements
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


async def one_message(stack: Stack, event: InboundEvent) -> tuple[str, list[str]]:
    """Dispatch `event` as the inbox does: its reply's text and the statements its handling sent."""
    inbox = stack.app[INBOX]
    await inbox.drain()  # nothing else in flight: every statement counted is this message's
    with collecting() as deferred:
        async with in_transaction():
            with counting_statements() as statements:
                result = await inbox.router.dispatch(
                    event=event, inbound_key=f"test:query-count:{next(_numbers)}", **inbox.dependencies
                )
    await run_all(deferred)
    return (result.text if isinstance(result, Reply) else ""), statements


def wecom(userid: str, text: str) -> ChatEvent:
    return ChatEvent(channel="wecom_app", sender=userid, text=text, created_at=now(), msg_id=f"w{next(_numbers)}")


def official_account(openid: str, text: str) -> CitizenEvent:
    return CitizenEvent(
        channel="oa",
        sender=openid,
        kind="message",
        created_at=now(),
        msg_type="text",
        text=text,
        msg_id=f"c{next(_numbers)}",
    )


def scan(openid: str, point: str) -> CitizenEvent:
    return CitizenEvent(
        channel="oa", sender=openid, kind="scan", created_at=now(), contact_point_key=point, event_name="SCAN"
    )


async def new_case(stack: Stack, openid: str, text: str = "急诊室空调坏了", point: str = "hz-hospital-1") -> Case:
    citizen = stack.citizen()
    await citizen.event(openid, "SCAN", f"cp:{point}")
    result = await citizen.text(openid, text)
    assert result.reply is not None, result.body
    match = CODE.search(result.reply["Content"])
    assert match, result.reply
    await stack.run_jobs()
    return await Case.get(code=match.group(0))


def assert_statements(statements: list[str], expected: int, what: str) -> None:
    listed = "\n".join(f"  {index}. {sql}" for index, sql in enumerate(statements, start=1))
    assert len(statements) == expected, f"{what}: {len(statements)} statements, expected {expected}:\n{listed}"


async def test_a_staff_command(stack: Stack) -> None:
    case = await new_case(stack, "o-q1")
    # 查: who is writing (1: staff); the case, its contact point and citizen (3); the command on the
    # timeline (1); the timeline, the first message, the names of who acted (3).
    text, statements = await one_message(stack, wecom("lisi", f"查 {case.code}"))
    assert case.code in text
    assert_statements(statements, 8, "查 <code>")
    # 待办: who is writing (1); the queue's cases and their contact points, late replies and their
    # count, cases escalated after a second 不满意, phone return visits (6).
    text, statements = await one_message(stack, wecom("lisi", "待办"))
    assert case.code in text
    assert_statements(statements, 7, "待办")
    # A line from staff that is no command: who is writing, asked by both staff handlers' filters,
    # looked up once (1).
    text, statements = await one_message(stack, wecom("lisi", "请帮我看看"))
    assert "没有听懂" in text
    assert_statements(statements, 1, "a line from staff that is no command")


async def test_a_member_command(stack: Stack) -> None:
    case = await new_case(stack, "o-q1")
    await one_message(stack, wecom("lisi", f"派 {case.code} 张三"))
    # 收 in WeCom: who is writing (2: not staff, a member; asked by two staff filters and a member
    # filter, looked up once); the case, its contact point, member and citizen (4); the transition:
    # an UPDATE guarded by the state, the case saved, the timeline entry (3).
    text, statements = await one_message(stack, wecom("zhangsan", f"收 {case.code}"))
    assert "已接收" in text
    assert_statements(statements, 9, "收 <code> (WeCom)")
    # 我的 from a member bound on the official account: who is writing (1: the citizen row joined to
    # its member); the service window (1); the cases they hold (1).
    bind = await create_bind_code("m-zhao")
    await stack.citizen().text("o-zhao", f"绑定 {bind.code}")
    text, statements = await one_message(stack, official_account("o-zhao", "我的"))
    assert "赵六" in text
    assert_statements(statements, 3, "我的 (a member on the official account)")


async def test_a_citizens_messages(stack: Stack) -> None:
    case = await new_case(stack, "o-q1")
    # A scan: nobody asks who is writing; the citizen, new here (get_or_create: a SELECT and an
    # INSERT), the contact point (1), the day's scan counter (an UPDATE, and an INSERT on the point's
    # first scan of the day: 2), the scan binding kept in the database (1: a Redis flush loses none).
    text, statements = await one_message(stack, scan("o-q2", "hz-school-1"))
    assert "湖州中学" in text
    assert_statements(statements, 6, "a scan")
    # The first message after the scan, a new case: who is writing (1, however many member filters
    # ask: the citizen row joined to a bound member, none here); the citizen and its window (2), the
    # bound contact point (1), open cases (2), an earlier closed case to follow (1); then the new-case
    # plan (handlers/cases/new_cases.py, the batch intake's, for one): the code (1), the citizen's
    # window (1), the case (1), its message (1), the day's counter (1), the timeline (1: both entries),
    # the jobs (1: the case's set-up).
    text, statements = await one_message(stack, official_account("o-q2", "学校门口堵车"))
    assert_statements(statements, 14, "a citizen's first message")
    # A follow-up: who is writing (1); the citizen and its window (2), the bound contact point (1),
    # open cases (2), the case saved (1), the message and its timeline entry (2), the messages
    # counted (1).
    text, statements = await one_message(stack, official_account("o-q2", "每天早上七点半"))
    assert "补充" in text
    assert_statements(statements, 10, "a citizen's follow-up")
    # A first message with no scan before: as after a scan, but the citizen's row is new (one INSERT
    # more), and with no binding in Redis the database is asked whether there is one (the scan binding
    # lives there; Redis only caches it) instead of the contact point being read.
    text, statements = await one_message(stack, official_account("o-q3", "路灯坏了"))
    assert CODE.search(text)
    assert_statements(statements, 15, "a citizen's first message, no scan")
    # A status query by code: who is writing (1); the citizen and its window (2), the case and its
    # contact point (2).
    text, statements = await one_message(stack, official_account("o-q1", case.code))
    assert case.code in text
    assert_statements(statements, 5, "a status query")


async def test_an_unknown_wecom_user(stack: Stack) -> None:
    # Refused: who is writing (2: staff? a member?), asked by two staff and four member filters,
    # looked up once; nothing else.
    text, statements = await one_message(stack, wecom("nobody", "你好"))
    assert "不是码上商的工作人员或委员" in text
    assert_statements(statements, 2, "an unknown WeCom user")


async def test_a_batch_of_first_messages_costs_the_same_statements_whatever_its_size(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch intake's plan: what decides who gets a new case (members, open and closed cases,
    contact points), then the codes, citizens, cases, messages, timeline, counters, jobs and inbox
    rows, each one statement for the whole batch (fewer on PostgreSQL, where writes nobody reads
    back go along with the next statement)."""
    plans: list[list[str]] = []
    original = BatchIntake._batch_plan

    def counted(self: BatchIntake, *args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        statements: list[str] = []
        plans.append(statements)
        plan = original(self, *args, **kwargs)
        try:
            statement = next(plan)
            while True:
                statements.append(statement[0])
                statement = plan.send((yield statement))
        except StopIteration as finished:
            return finished.value

    monkeypatch.setattr(BatchIntake, "_batch_plan", counted)
    inbox = stack.app[INBOX]
    # The scan bindings are read from the database with the facts (one SELECT, where a Redis MGET was).
    expected = 7 if stack.database_url.startswith("postgres") else 10
    for size in (1, 8, 32):
        events = [official_account(f"o-batch-{size}-{index}", "井盖丢了") for index in range(size)]
        acceptances = await asyncio.gather(*(inbox.accept(event, 3.0) for event in events))
        await inbox.drain()
        assert all(acceptance.reply and CODE.search(acceptance.reply) for acceptance in acceptances)
        assert len(plans) == 1, f"{size} messages took {len(plans)} batches"
        assert_statements(plans.pop(), expected, f"a batch of {size} first messages")
