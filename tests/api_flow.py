"""Moving a case along from WeCom, for the API tests: staff assign, members ask and answer."""

from __future__ import annotations

from models.jobs import Job, JobStatus
from models.timeutil import now
from tests.harness import Stack


async def say(stack: Stack, userid: str, text: str) -> str:
    """A WeCom user writes to the app in single chat; the app's passive answer."""
    result = await stack.wecom_user().text(userid, text)
    assert result.status == 200, result.body
    assert result.reply is not None, f"no passive reply to {text!r}: {result.body!r}"
    return str(result.reply["Content"])


async def assign(stack: Stack, code: str) -> None:
    assert "交办给委员张三" in await say(stack, "lisi", f"派 {code} 张三")
    await stack.run_jobs()


async def reply(stack: Stack, code: str, text: str = "已协调城管维修，本周内修好") -> None:
    await say(stack, "zhangsan", f"答 {code} {text}")
    await stack.run_jobs()


async def start_return_visit(stack: Stack) -> None:
    """The return visit's survey goes out now instead of a day after the reply."""
    await Job.filter(kind="visit.start", status=JobStatus.PENDING).update(run_at=now())
    await stack.run_jobs()


async def to_return_visit(stack: Stack, code: str) -> None:
    await assign(stack, code)
    await reply(stack, code)
    await start_return_visit(stack)
