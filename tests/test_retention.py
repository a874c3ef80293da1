"""Retention: handled inbox rows and finished jobs are pruned after `[retention]`; cases never are,
and nothing still in flight (pending rows, pending or dead jobs) is touched."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from models.entities import Case, CaseMessage, Citizen, InboundMessage, InboxStatus
from models.jobs import Job, JobStatus
from models.miniprogram import IdempotentRequest, Upload
from models.retention import prune
from models.timeutil import now
from tests.harness import Stack
from tests.test_intake_http import code_in, reply_text

DAY = 86400.0


async def make_inbox_row(key: str, status: InboxStatus, handled_days_ago: float | None) -> None:
    handled = now() - timedelta(days=handled_days_ago) if handled_days_ago is not None else None
    await InboundMessage.create(
        dedupe_key=key,
        channel="oa",
        sender="o-old",
        payload={"text": key},
        received_at=handled or now() - timedelta(days=200),
        status=status,
        processed_at=handled,
    )


async def make_job(key: str, status: JobStatus, done_days_ago: float | None) -> None:
    done = now() - timedelta(days=done_days_ago) if done_days_ago is not None else None
    created = done or now() - timedelta(days=200)
    await Job.create(
        kind="test.kind", key=key, payload={}, status=status, run_at=created, created_at=created, done_at=done
    )


@pytest.mark.usefixtures("db")
async def test_only_old_handled_rows_and_old_finished_jobs_go() -> None:
    for index in range(5):
        await make_inbox_row(f"old-done-{index}", InboxStatus.DONE, handled_days_ago=91 + index)
    await make_inbox_row("recent-done", InboxStatus.DONE, handled_days_ago=89)
    await make_inbox_row("old-pending", InboxStatus.PENDING, handled_days_ago=None)
    await make_inbox_row("old-failed", InboxStatus.FAILED, handled_days_ago=None)
    for index in range(3):
        await make_job(f"old-done-{index}", JobStatus.DONE, done_days_ago=120)
    await make_job("recent-done", JobStatus.DONE, done_days_ago=30)
    await make_job("old-dead", JobStatus.DEAD, done_days_ago=None)
    await make_job("old-pending", JobStatus.PENDING, done_days_ago=None)

    pruned = await prune(keep_inbox_s=90 * DAY, keep_jobs_s=90 * DAY, chunk=2)  # several chunks

    assert (pruned.inbox_rows, pruned.jobs) == (5, 3)
    left_inbox = set(await InboundMessage.all().values_list("dedupe_key", flat=True))
    assert left_inbox == {"recent-done", "old-pending", "old-failed"}
    left_jobs = set(await Job.all().values_list("key", flat=True))
    assert left_jobs == {"recent-done", "old-dead", "old-pending"}
    # 0 keeps everything.
    assert await prune(keep_inbox_s=0, keep_jobs_s=0) == type(pruned)(0, 0)
    assert await InboundMessage.all().count() == 3


async def test_a_case_outlives_its_pruned_callback(stack: Stack) -> None:
    citizen = stack.citizen()
    code = code_in(reply_text(await citizen.text("o-gina", "图书馆周末不开放", msg_id=515151)))
    await stack.run_jobs()
    await InboundMessage.filter(sender="o-gina").update(processed_at=now() - timedelta(days=100))
    await Job.filter(case__code=code, status=JobStatus.DONE).update(done_at=now() - timedelta(days=100))

    pruned = await prune(keep_inbox_s=90 * DAY, keep_jobs_s=90 * DAY)

    assert pruned.inbox_rows == 1
    assert pruned.jobs >= 1  # at least the case's start (card to the triage group)
    assert await InboundMessage.filter(sender="o-gina").count() == 0
    assert await CaseMessage.filter(case__code=code, content="图书馆周末不开放").count() == 1
    assert code in reply_text(await citizen.text("o-gina", code))  # the citizen still gets the status
    assert await Case.filter(citizen__openid="o-gina").count() == 1


@pytest.mark.usefixtures("db")
async def test_unused_uploads_and_old_request_answers_go_used_uploads_stay(tmp_path: Path) -> None:
    """A mini-program upload nobody sent is a stranger's file nothing points to: after
    `retention.uploads` its row and its file go; one used in a case stays; answers to
    Idempotency-Key requests go after `retention.requests`."""
    citizen = await Citizen.create(openid="wx-old", channel="wxa")
    files = {name: tmp_path / f"{name}.jpg" for name in ("abandoned", "recent", "used")}
    for path in files.values():
        path.write_bytes(b"\xff\xd8\xff")
    ages = {"abandoned": 8, "recent": 2, "used": 30}
    for name, path in files.items():
        await Upload.create(
            public_id=name,
            citizen=citizen,
            kind="image",
            content_type="image/jpeg",
            size=3,
            path=str(path),
            created_at=now() - timedelta(days=ages[name]),
            message_id=1 if name == "used" else None,
        )
    for key, days_ago in (("old", 8), ("fresh", 1)):
        await IdempotentRequest.create(
            citizen=citizen,
            route="POST /cases",
            key=key,
            status=201,
            response={},
            created_at=now() - timedelta(days=days_ago),
        )

    pruned = await prune(keep_inbox_s=0, keep_jobs_s=0, keep_uploads_s=7 * DAY, keep_requests_s=7 * DAY)

    assert (pruned.uploads, pruned.requests) == (1, 1)
    assert set(await Upload.all().values_list("public_id", flat=True)) == {"recent", "used"}
    assert not files["abandoned"].exists()
    assert files["recent"].exists()
    assert files["used"].exists()
    assert set(await IdempotentRequest.all().values_list("key", flat=True)) == {"fresh"}
