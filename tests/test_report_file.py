"""`报告 <专题名>`: the draft 社情民意信息 offered to staff as a Word file, over the real service against the
fake platform: uploaded through WeCom media/upload (type file) and sent as a file message to the triage
group's appchat, or, when the group is a robot webhook, to the staff member who asked. The fake platform
takes uploads and file messages as WeCom does (types, sizes, media ids). SQLite, and PostgreSQL with its env."""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator
from pathlib import Path

import docx
import pytest
import redis.asyncio as aioredis

from bot.demo.fake_platform import AppChat, FakePlatform
from bot.outbound.wechat_api import WeChatAPIError, WeComClient
from models.entities import Case
from models.jobs import Job, JobStatus
from models.timeutil import now
from tests.conftest import reset_postgres
from tests.harness import Stack
from tests.hotline_files import beijing, order, write_csv, write_mapping
from tests.test_hotline_import import hotline, say
from tests.test_triage_and_members import new_case
from tests.test_wechat_api import CORP_ID, platform, server, session, wecom  # noqa: F401 (fixtures)

TOPIC = "学校门口接送拥堵"
CHAT = "wrTRIAGECHAT"
PHONE = "13812345678"


async def topic_with_cases(stack: Stack, tmp_path: Path) -> list[Case]:
    """Two hotline cases and a QR case, marked as leads of TOPIC by 李四 (staff)."""
    assert stack.config is not None
    received = beijing(now())
    rows = [
        order("GD-S1", received, f"学校门口放学时接送车辆太多，堵得走不动，电话{PHONE}", district="吴兴区"),
        order("GD-S2", received, "小学门口早上接送孩子的车乱停，堵塞交通", district="南浔区"),
    ]
    code, _, err = await hotline(
        stack.config, write_csv(tmp_path / "h.csv", rows), "--mapping", write_mapping(tmp_path)
    )
    assert code == 0, err
    qr = await new_case(stack, "o-school", "学校门口接孩子的车停满了马路，我叫王小明，电话13987654321")
    hotline_codes = [c.code for c in await Case.filter(source="hotline").order_by("id")]
    answer = await say(stack, "lisi", f"线索 {qr.code} {' '.join(hotline_codes)} {TOPIC}")
    assert "列为线索 3 件" in answer
    return list(await Case.all().order_by("id").prefetch_related("hotline_order"))


def docx_text(data: bytes) -> str:
    document = docx.Document(io.BytesIO(data))
    parts = [p.text for p in document.paragraphs]
    parts += [cell.text for table in document.tables for row in table.rows for cell in row.cells]
    return re.sub(r"\s+", "", "\n".join(parts))


def check_draft(text: str, cases: list[Case]) -> None:
    assert TOPIC in text
    assert "群众诉求共3件，其中扫码留言1件、12345热线2件" in text
    for case in cases:
        assert case.code in text
    assert "GD-S1" in text
    assert "GD-S2" in text
    assert PHONE not in text
    assert "13987654321" not in text
    assert "王小明" not in text


async def test_the_draft_goes_to_the_staff_member_who_asked_when_the_group_is_a_webhook(
    stack: Stack, tmp_path: Path
) -> None:
    cases = await topic_with_cases(stack, tmp_path)
    answer = await say(stack, "lisi", f"报告 {TOPIC}")
    assert f"正在生成专题「{TOPIC}」的社情民意信息草稿" in answer
    assert "您的企业微信" in answer
    await stack.run_jobs()
    [sent] = [m for m in stack.platform.messages if m.msgtype == "file"]
    assert sent.channel == "wecom_file"
    assert sent.recipient == "lisi"
    [upload] = stack.platform.calls_to("/cgi-bin/media/upload")
    assert upload.query["type"] == "file"
    media = stack.platform.uploaded(sent.payload["file"]["media_id"])
    assert media.filename == sent.text
    assert media.filename.startswith(f"社情民意信息-{TOPIC}-")
    assert media.filename.endswith(".docx")
    assert media.content_type == "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    check_draft(docx_text(media.data), cases)
    assert await Job.filter(kind="send.report_file", status=JobStatus.DONE).count() == 1


@pytest.fixture
async def appchat_stack(
    database_url: str, redis_url: str, redis_client: aioredis.Redis, tmp_path: Path
) -> AsyncIterator[Stack]:
    if database_url.startswith("postgres"):
        await reset_postgres(database_url)
    stack = Stack(database_url=database_url, redis_url=redis_url, tmp_path=tmp_path)
    await stack.start(wecom={"triage_chat_id": CHAT})
    assert stack.config is not None
    # The group chat `mashang wecom create-chat` made: WeCom sends only to chats the app created.
    stack.platform.app_chats[CHAT] = AppChat(stack.config.wecom.corp_id, "分拣群", "lisi", ["lisi", "wangwu"])
    try:
        yield stack
    finally:
        await stack.stop()


async def test_the_draft_goes_to_the_triage_group_and_a_failed_send_does_not_upload_twice(
    appchat_stack: Stack, tmp_path: Path
) -> None:
    stack = appchat_stack
    cases = await topic_with_cases(stack, tmp_path)
    await stack.run_jobs()  # the QR case's card
    # In the group, through the smart bot.
    await stack.bot().text("lisi", f"报告 {TOPIC}", msg_id="report-1")
    stack.platform.fail_next("/cgi-bin/appchat/send", errcode=-1)  # WeCom busy once: the job retries
    await stack.run_jobs()
    [answer] = stack.bot_answers()
    assert "稍后以 Word 文件发到分拣群" in answer
    await stack.make_jobs_due()
    await stack.run_jobs()
    files = [m for m in stack.platform.messages if m.msgtype == "file"]
    assert [(m.channel, m.recipient) for m in files] == [("appchat", CHAT)]
    assert len(stack.platform.calls_to("/cgi-bin/media/upload")) == 1  # the retry sent the same upload
    check_draft(docx_text(stack.platform.uploaded(files[0].payload["file"]["media_id"]).data), cases)


async def test_a_report_of_no_topic_or_an_empty_one_is_refused(stack: Stack) -> None:
    answer = await say(stack, "lisi", "报告 没有这个专题")
    assert "没有名为「没有这个专题」的专题" in answer
    assert "格式：报告 <专题名>" in await say(stack, "lisi", "报告")
    case = await new_case(stack, "o-empty", "路灯坏了")
    await say(stack, "lisi", f"线索 {case.code} 路灯")
    await say(stack, "lisi", f"专题 路灯 移除 {case.code}")
    assert "专题「路灯」中没有件，无法生成报告" in await say(stack, "lisi", "报告 路灯")
    assert "「报告」是工作人员的命令" in await say(stack, "zhangsan", "报告 路灯")  # a member
    await stack.run_jobs()
    assert await Job.filter(kind="send.report_file").count() == 0
    assert not stack.platform.calls_to("/cgi-bin/media/upload")


# ---- the fake platform takes uploads and file messages as WeCom does ------------------------------


async def test_media_upload_and_file_messages_follow_wecoms_rules(
    wecom: WeComClient,  # noqa: F811
    platform: FakePlatform,  # noqa: F811
) -> None:
    platform.app_chats[CHAT] = AppChat(CORP_ID, "分拣群", "lisi", ["lisi", "wangwu"])  # made by appchat/create
    media_id = await wecom.upload_media("file", "报告.docx", b"PK\x03\x04 a word file", "application/octet-stream")
    assert platform.uploaded(media_id).filename == "报告.docx"
    await wecom.send_file("lisi", media_id)
    await wecom.appchat_send_file(CHAT, media_id)
    assert [(m.channel, m.recipient, m.text) for m in platform.messages] == [
        ("wecom_file", "lisi", "报告.docx"),
        ("appchat", CHAT, "报告.docx"),
    ]
    for call, errcode in (
        (wecom.upload_media("file", "x.docx", b"12345", "application/octet-stream"), 40006),  # 5 bytes: too small
        (wecom.upload_media("file", "x.bin", b"0" * (20 * 1024 * 1024 + 1), "application/octet-stream"), 40006),
        (wecom.upload_media("image", "x.docx", b"not an image", "image/png"), 40005),
        (wecom.upload_media("document", "x.docx", b"a word file", "application/octet-stream"), 40004),
        (wecom.send_file("lisi", "no-such-media"), 40007),
        (wecom.appchat_send_file(CHAT, "no-such-media"), 40007),
    ):
        with pytest.raises(WeChatAPIError) as error:
            await call
        assert error.value.errcode == errcode
    # A media_id is valid for 3 days.
    platform.clock = lambda: platform.uploaded(media_id).uploaded_at + 3 * 86400 + 1
    with pytest.raises(WeChatAPIError) as expired:
        await wecom.send_file("lisi", media_id)
    assert expired.value.errcode == 40007
