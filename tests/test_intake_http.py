"""Citizen intake over the official-account callback, end to end over HTTP with real signatures and AES."""

from __future__ import annotations

import asyncio
import re
import secrets
from datetime import timedelta
from pathlib import Path

import pytest

from bot.app import JOBS
from models.entities import Case, CaseEvent, CaseMessage, CaseState, ContactPoint, InboundMessage
from models.jobs import Job, JobStatus
from models.timeutil import now
from models.tracking import is_valid_code
from tests.harness import Stack

HOSPITAL = "湖州市中心医院"


def reply_text(result) -> str:
    assert result.status == 200, result.body
    assert result.reply is not None, f"expected a passive reply, got {result.body!r}"
    return result.reply["Content"]


async def post_signed(stack: Stack, body: str | bytes) -> tuple[int, str]:
    """POST a plain-mode body with a valid signature, whatever the body is."""
    import time

    from bot.transport.signing import sha1_signature

    timestamp, nonce = str(int(time.time())), str(secrets.randbelow(10**10))
    params = {
        "signature": sha1_signature("testtoken", timestamp, nonce),
        "timestamp": timestamp,
        "nonce": nonce,
    }
    async with stack.session.post(stack.callback_url, params=params, data=body) as response:
        return response.status, await response.text()


async def citizen_sends(code: str) -> list[str]:
    """The channels that carried messages to the citizen of `code`, from the case timeline."""
    events = await CaseEvent.filter(case__code=code, kind="message.out").order_by("id")
    return [e.detail["channel"] for e in events if e.detail["channel"] in {"custom", "template"}]


def code_in(text: str) -> str:
    import re

    match = re.search(r"MS\d{11,}", text)
    assert match, f"no tracking code in {text!r}"
    return match.group(0)


async def accept_every_mode(stack: Stack) -> None:
    """With a key configured only encrypted callbacks are taken; these tests also speak plain mode."""
    await stack.restart_with(wechat={"accepted_modes": ("plain", "compat", "safe")})


@pytest.mark.parametrize("mode", ["plain", "compat", "safe"])
async def test_scan_then_complaint_gives_a_tracking_code_in_every_mode(stack: Stack, mode: str) -> None:
    await accept_every_mode(stack)
    citizen = stack.citizen(mode=mode)
    greeting = reply_text(await citizen.event("o-alice", "subscribe", "qrscene_cp:hz-hospital-1"))
    assert HOSPITAL in greeting

    answer = reply_text(await citizen.text("o-alice", "医院门口停车太难，每天排队一小时"))
    code = code_in(answer)
    assert HOSPITAL in answer
    assert is_valid_code(code, "MS")

    case = await Case.get(code=code).prefetch_related("contact_point", "citizen")
    assert case.state == CaseState.RECEIVED
    assert case.contact_point.key == "hz-hospital-1"
    assert case.citizen.openid == "o-alice"
    messages = await CaseMessage.filter(case=case)
    assert [m.content for m in messages] == ["医院门口停车太难，每天排队一小时"]
    await stack.run_jobs()  # the new case is announced to triage by a job
    kinds = [e.kind for e in await CaseEvent.filter(case=case).order_by("id")]
    assert kinds[:2] == ["created", "message.in"]
    assert "category.suggested" in kinds
    assert (await Case.get(code=code).prefetch_related("category")).category.name == "医疗卫生"
    # The passive reply carried the acknowledgement: nothing else went out.
    await stack.run_jobs()
    assert stack.texts_to("o-alice") == []


async def test_follower_scan_and_unknown_or_revoked_codes(stack: Stack) -> None:
    citizen = stack.citizen()
    assert HOSPITAL in reply_text(await citizen.event("o-bob", "SCAN", "cp:hz-hospital-1"))
    general = reply_text(await citizen.event("o-bob", "SCAN", "cp:no-such-point"))
    assert "欢迎使用码上商" in general
    await ContactPoint.filter(key="hz-school-1").update(revoked_at=now())
    revoked = reply_text(await citizen.event("o-bob", "SCAN", "cp:hz-school-1"))
    assert "已停止使用" in revoked
    assert "湖州中学" in revoked
    # The last valid scan still binds: a message goes to the hospital.
    answer = reply_text(await citizen.text("o-bob", "挂号难"))
    assert HOSPITAL in answer


async def test_verification_get(stack: Stack) -> None:
    citizen = stack.citizen()
    status, text = await citizen.verify("echo-12345")
    assert (status, text) == (200, "echo-12345")
    assert await citizen.verify("echo-1", tamper="signature") == (403, "invalid signature")
    async with stack.session.get(
        stack.callback_url, params={"signature": "x", "timestamp": "1", "nonce": "n", "echostr": "e"}
    ) as response:
        assert response.status == 403


async def test_messages_within_the_window_join_one_case_and_later_ones_start_a_new_case(stack: Stack) -> None:
    citizen = stack.citizen()
    await citizen.event("o-carol", "SCAN", "cp:hz-hospital-1")
    first = code_in(reply_text(await citizen.text("o-carol", "急诊室空调坏了")))
    follow_up = reply_text(await citizen.text("o-carol", "已经坏了三天"))
    assert first in follow_up
    assert "补充" in follow_up
    assert await CaseMessage.filter(case__code=first).count() == 2
    # Past the group window the next message is a new case.
    await Case.filter(code=first).update(last_citizen_message_at=now() - timedelta(minutes=11))
    second = code_in(reply_text(await citizen.text("o-carol", "另外，食堂太贵")))
    assert second != first
    assert await Case.filter(citizen__openid="o-carol").count() == 2


async def test_every_message_type_becomes_part_of_a_case_and_media_is_downloaded(stack: Stack) -> None:
    citizen = stack.citizen()
    stack.platform.add_media("media-img-1", b"\x89PNG fake image bytes", "image/png")
    stack.platform.add_media("media-voice-1", b"AMR voice", "audio/amr")
    stack.platform.add_media("media-video-1", b"MP4 video", "video/mp4")
    await citizen.event("o-dave", "SCAN", "cp:hz-ent-1")
    code = code_in(reply_text(await citizen.image("o-dave", "media-img-1")))
    reply_text(await citizen.voice("o-dave", "media-voice-1", recognition="厂区门口的路灯不亮"))
    reply_text(await citizen.video("o-dave", "media-video-1", "thumb-1"))
    reply_text(await citizen.location("o-dave", 30.87, 120.09, 15, "湖州市南浔区丝绸路1号"))
    reply_text(await citizen.link("o-dave", "相关报道", "路灯问题报道", "https://example.com/news/1"))
    await stack.run_jobs()

    messages = {m.msg_type: m for m in await CaseMessage.filter(case__code=code)}
    assert set(messages) == {"image", "voice", "video", "location", "link"}
    assert messages["voice"].content == "厂区门口的路灯不亮"
    assert messages["location"].extra["label"] == "湖州市南浔区丝绸路1号"
    assert messages["link"].extra["url"] == "https://example.com/news/1"
    for kind, content in (
        ("image", b"\x89PNG fake image bytes"),
        ("voice", b"AMR voice"),
        ("video", b"MP4 video"),
    ):
        path = messages[kind].media_path
        assert path is not None, kind
        assert await asyncio.to_thread(Path(path).read_bytes) == content
    assert await CaseEvent.filter(case__code=code, kind="media.saved").count() == 3


async def test_wechat_retries_never_create_a_second_case_or_reply(stack: Stack) -> None:
    citizen = stack.citizen()
    await citizen.event("o-erin", "SCAN", "cp:hz-hospital-1")
    first = await citizen.text("o-erin", "药房排队太长", msg_id=424242)
    again = await citizen.text("o-erin", "药房排队太长", msg_id=424242)
    assert reply_text(again) == reply_text(first)  # WeChat shows the user one reply, whichever arrives
    assert await Case.filter(citizen__openid="o-erin").count() == 1
    assert await CaseMessage.filter(case__citizen__openid="o-erin").count() == 1
    assert await InboundMessage.filter(sender="o-erin").count() == 2  # the scan and the message
    # An event retried with the same CreateTime is one event.
    await citizen.event("o-frank", "subscribe", "qrscene_cp:hz-hospital-1", create_time=1_700_000_000)
    await citizen.event("o-frank", "subscribe", "qrscene_cp:hz-hospital-1", create_time=1_700_000_000)
    assert await InboundMessage.filter(sender="o-frank").count() == 1
    await stack.run_jobs()
    assert stack.texts_to("o-erin") == []


async def test_forged_stale_oversized_and_malformed_requests_are_refused_and_store_nothing(
    stack: Stack,
) -> None:
    await accept_every_mode(stack)  # the malformed bodies below are sent in plain mode
    citizen = stack.citizen(mode="safe")
    forged = await citizen.text("o-mallory", "伪造", tamper="signature")
    assert forged.status == 403
    forged_msg = await citizen.text("o-mallory", "伪造", tamper="msg_signature")
    assert forged_msg.status == 403
    corrupt = await citizen.text("o-mallory", "坏的密文", tamper="body")
    assert corrupt.status in (400, 403)
    stale = await citizen.text("o-mallory", "很久以前", timestamp=str(int(now().timestamp()) - 3600))
    assert stale.status == 403

    huge = await post_signed(stack, "<xml>" + "<a>x</a>" * 20000 + "</xml>")
    assert huge[0] == 413
    broken = await post_signed(stack, "<xml><ToUserName>gh</ToUserName><FromUserName>o-m")
    assert broken[0] == 400
    assert "Traceback" not in broken[1]
    missing = await post_signed(stack, "<xml><ToUserName>gh</ToUserName><MsgType>text</MsgType></xml>")
    assert missing[0] == 400
    assert "FromUserName" in missing[1]
    entity = await post_signed(
        stack,
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><xml><FromUserName>&a;</FromUserName>'
        "<CreateTime>1</CreateTime><MsgType>text</MsgType><MsgId>1</MsgId></xml>",
    )
    assert entity[0] == 400
    not_utf8 = await post_signed(stack, b"<xml><Content>\xff\xfe</Content></xml>")
    assert not_utf8[0] == 400
    for create_time in ("²", "99999999999999999999"):  # digits int() or datetime cannot take: 400, not 500
        odd = await post_signed(
            stack,
            f"<xml><ToUserName>gh</ToUserName><FromUserName>o-m</FromUserName><CreateTime>{create_time}</CreateTime>"
            "<MsgType>text</MsgType><Content>x</Content><MsgId>7</MsgId></xml>",
        )
        assert odd[0] == 400, create_time
        assert "Traceback" not in odd[1]
    async with stack.session.post(stack.callback_url, params={"signature": "x", "timestamp": "²", "nonce": "1"}) as r:
        assert r.status == 403
    assert await Case.all().count() == 0
    assert await InboundMessage.all().count() == 0


async def test_status_query_my_cases_and_other_peoples_codes(stack: Stack) -> None:
    citizen = stack.citizen()
    await citizen.event("o-gina", "SCAN", "cp:hz-hospital-1")
    code = code_in(reply_text(await citizen.text("o-gina", "住院部电梯经常坏")))
    await citizen.event("o-hank", "SCAN", "cp:hz-school-1")
    other_code = code_in(reply_text(await citizen.text("o-hank", "学校门口太堵")))

    status = reply_text(await citizen.text("o-gina", code.lower()))
    assert code in status
    assert "待分拣" in status
    assert HOSPITAL in status
    spaced = reply_text(await citizen.text("o-gina", f"{code[:8]} {code[8:]}"))
    assert code in spaced
    assert "待分拣" in spaced

    not_mine = reply_text(await citizen.text("o-gina", other_code))
    nonexistent_code = other_code[:-5] + "99990"
    from models.tracking import damm_digit

    nonexistent_code = nonexistent_code[:-1] + str(damm_digit(nonexistent_code[2:-1]))
    nonexistent = reply_text(await citizen.text("o-gina", nonexistent_code))
    assert not_mine.replace(other_code, "X") == nonexistent.replace(nonexistent_code, "X")
    assert "学校" not in not_mine

    typo = code[:-2] + str((int(code[-2]) + 1) % 10) + code[-1]
    assert "校验" in reply_text(await citizen.text("o-gina", typo))

    mine = reply_text(await citizen.text("o-gina", "我的"))
    assert code in mine
    assert other_code not in mine
    # Status queries are not cases.
    assert await Case.filter(citizen__openid="o-gina").count() == 1


async def test_a_greeting_or_a_call_for_help_gets_the_how_to_and_makes_no_case(stack: Stack) -> None:
    citizen = stack.citizen()
    for text in ("你好", "您好！", "帮助", "？", "？？", "Hello", "你好，在吗？", "查询"):
        answer = reply_text(await citizen.text("o-ivy", text))
        assert "请直接发送文字、图片、语音或位置" in answer, text
        assert re.search(r"MS\d{11}", answer) is None, text  # no tracking code: no case
    assert await Case.filter(citizen__openid="o-ivy").count() == 0
    # With a case open, "帮助" is still help, not a follow-up added to the case.
    code = code_in(reply_text(await citizen.text("o-ivy", "你好，小区门口的路灯坏了一个月了")))
    assert "请直接发送" in reply_text(await citizen.text("o-ivy", "帮助"))
    assert code in reply_text(await citizen.text("o-ivy", "查询进度"))  # asking for progress lists their cases
    assert await CaseMessage.filter(case__code=code).count() == 1
    assert await Case.filter(citizen__openid="o-ivy").count() == 1


async def test_slow_handling_answers_success_and_the_reply_goes_through_the_outbox(stack: Stack) -> None:
    citizen = stack.citizen()
    await citizen.event("o-ivy", "SCAN", "cp:hz-hospital-1")
    # A crash after storing the message but before handling it: the row is pending, WeChat got nothing.
    from handlers.events import CitizenEvent

    event = CitizenEvent(
        channel="oa",
        sender="o-ivy",
        kind="message",
        msg_type="text",
        text="病房漏水",
        msg_id="777",
        created_at=now(),
    )
    await InboundMessage.create(
        dedupe_key=event.dedupe_key, channel="oa", sender="o-ivy", payload=event.to_dict(), received_at=now()
    )
    await stack.restart_service()
    assert await stack.recover_inbox() == 1
    await stack.run_jobs()
    sent = stack.platform.sent_to("o-ivy")
    assert len(sent) == 1
    assert sent[0].channel == "custom"
    code = code_in(sent[0].text)
    assert await citizen_sends(code) == ["custom"]
    # WeChat's retry of that message now finds it handled: no second case, no second reply.
    retry = await citizen.text("o-ivy", "病房漏水", msg_id=777)
    assert retry.status == 200
    assert retry.reply is None
    await stack.run_jobs()
    assert len(stack.platform.sent_to("o-ivy")) == 1
    assert await Case.filter(citizen__openid="o-ivy").count() == 1


async def _queue_reply(stack: Stack, openid: str, text: str) -> Case:
    from handlers.cases.outbox import send_to_citizen
    from models.entities import Citizen

    citizen = stack.citizen()
    await citizen.event(openid, "SCAN", "cp:hz-hospital-1")
    code = code_in(reply_text(await citizen.text(openid, "门诊厕所太少")))
    case = await Case.get(code=code)
    await send_to_citizen(await Citizen.get(openid=openid), f"关于 {code}：{text}", case=case)
    return case


async def _make_due() -> None:
    await Job.filter(status=JobStatus.PENDING).update(run_at=now())


async def test_outbox_keeps_messages_through_a_wechat_outage(stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    case = await _queue_reply(stack, "o-jack", "已联系医院后勤处理")
    stack.platform.fail_all("message/custom/send", http_status=502)
    for _ in range(3):
        await stack.run_jobs()
        await _make_due()
    job = await Job.get(kind="send.citizen")
    assert job.status == JobStatus.PENDING
    assert job.attempts == 3
    # The operator sees the outage in the log: each failed try, and that it will be tried again.
    failures = [r.getMessage() for r in caplog.records if f"job {job.id} (send.citizen) failed" in r.getMessage()]
    assert len(failures) == 3
    assert all("will retry" in line for line in failures)
    assert stack.texts_to("o-jack") == []
    # Intake still works during the outage.
    other = stack.citizen()
    await other.event("o-kate", "SCAN", "cp:hz-hospital-1")
    assert code_in(reply_text(await other.text("o-kate", "挂号机坏了")))

    stack.platform.recover()
    await _make_due()
    await stack.run_jobs()
    texts = stack.texts_to("o-jack")
    assert len(texts) == 1
    assert case.code in texts[0]
    await stack.run_jobs()
    assert len(stack.texts_to("o-jack")) == 1


async def test_expired_token_is_refreshed_once(stack: Stack) -> None:
    await _queue_reply(stack, "o-lily", "第一条")
    await stack.run_jobs()
    fetches = stack.platform.token_fetch_count
    stack.platform.expire_tokens()
    await _queue_reply(stack, "o-lily", "第二条")
    await stack.run_jobs()
    assert len(stack.texts_to("o-lily")) == 2
    assert stack.platform.token_fetch_count == fetches + 1


async def test_a_token_wechat_keeps_rejecting_is_retry_later_then_forced(stack: Stack) -> None:
    from bot.app import WECHAT

    await _queue_reply(stack, "o-nina", "第一条")
    await stack.run_jobs()
    stack.platform.spoil_tokens()  # rejected, yet stable_token's normal mode keeps handing it out
    await _queue_reply(stack, "o-nina", "第二条")
    await stack.run_jobs()
    job = await Job.filter(kind="send.citizen").order_by("-id").first()
    assert job is not None
    assert job.status == JobStatus.PENDING  # retry later: never a dead job ...
    assert job.attempts == 0  # ... and the try does not count against its attempts
    assert not [c for c in stack.platform.calls_to("stable_token") if c.body["force_refresh"]]
    stack.app[WECHAT].tokens.confirm_s = 0.0  # the retry comes after the confirmation delay
    await _make_due()
    await stack.run_jobs()
    assert [c.body["force_refresh"] for c in stack.platform.calls_to("stable_token")][-1] is True
    assert stack.config is not None
    assert stack.platform.forced_refreshes_today(stack.config.wechat.app_id) == 1
    assert [t[-3:] for t in stack.texts_to("o-nina") if "关于" in t] == ["第一条", "第二条"]


async def test_restart_in_the_middle_of_a_send_loses_nothing(stack: Stack) -> None:
    case = await _queue_reply(stack, "o-mike", "处理结果")
    # WeChat hangs on the send (and then fails it); the process dies while waiting.
    stack.platform.fail_next("message/custom/send", delay_s=1.5, errcode=-1)
    sending = asyncio.create_task(stack.run_jobs(timeout_s=60))
    for _ in range(250):
        if stack.platform.calls_to("message/custom/send"):  # the request reached WeChat
            break  # the request reached WeChat, which has not answered
        await asyncio.sleep(0.02)
    sending.cancel()
    await asyncio.gather(sending, return_exceptions=True)
    await stack.app[JOBS].cancel_running()
    assert await Job.filter(status=JobStatus.RUNNING, kind="send.citizen").count() == 1
    await stack.restart_service()
    await Job.filter(status=JobStatus.RUNNING, kind="send.citizen").update(lease_until=now() - timedelta(seconds=1))
    from models.jobs import release_expired_leases

    assert await release_expired_leases() >= 1
    await stack.run_jobs()
    texts = stack.texts_to("o-mike")
    assert len(texts) == 1
    assert case.code in texts[0]


async def test_past_the_48_hour_window_a_template_message_carries_the_reply(stack: Stack) -> None:
    from models.entities import Citizen

    case = await _queue_reply(stack, "o-nina", "已处理")
    await Citizen.filter(openid="o-nina").update(last_inbound_at=now() - timedelta(hours=49), event_window_at=None)
    await stack.run_jobs()
    sent = stack.platform.sent_to("o-nina")
    assert [m.channel for m in sent] == ["template"]
    assert case.code in sent[0].text
    assert await citizen_sends(case.code) == ["template"]


async def test_at_most_five_customer_service_messages_then_templates(stack: Stack) -> None:
    from handlers.cases.outbox import send_to_citizen
    from models.entities import Citizen

    case = await _queue_reply(stack, "o-oscar", "1")
    citizen = await Citizen.get(openid="o-oscar")
    for index in range(2, 8):
        await send_to_citizen(citizen, f"关于 {case.code}：第{index}条", case=case)
    await stack.run_jobs()
    channels = [m.channel for m in stack.platform.sent_to("o-oscar")]
    assert channels == ["custom"] * 5 + ["template"] * 2


async def post_safe_envelope(stack: Stack, envelope: str, encrypt: str) -> tuple[int, str]:
    """POST a safe-mode body laid out as `envelope` (with `{encrypt}` in it), correctly signed."""
    import time

    from bot.transport.signing import sha1_signature

    timestamp, nonce = str(int(time.time())), str(secrets.randbelow(10**10))
    params = {
        "signature": sha1_signature("testtoken", timestamp, nonce),
        "timestamp": timestamp,
        "nonce": nonce,
        "encrypt_type": "aes",
        "msg_signature": sha1_signature("testtoken", timestamp, nonce, encrypt),
    }
    body = envelope.replace("{encrypt}", encrypt)
    async with stack.session.post(stack.callback_url, params=params, data=body.encode()) as response:
        return response.status, await response.text()


async def test_safe_mode_envelopes_in_other_layouts_are_read_and_broken_ones_refused(stack: Stack) -> None:
    """The usual envelope is read without an XML parser; any other well-formed layout still works,
    and a broken one is refused with 400 and leaves nothing behind."""
    import base64

    from wechatpy.crypto import PrpCrypto

    from bot.demo.fake_callbacks import build_xml
    from tests.harness import AES_KEY

    assert stack.config is not None
    cipher = PrpCrypto(base64.b64decode(AES_KEY + "="))

    def encrypted(openid: str, text: str, msg_id: int) -> str:
        xml = build_xml(
            {
                "ToUserName": "gh_test",
                "FromUserName": openid,
                "CreateTime": int(now().timestamp()),
                "MsgType": "text",
                "Content": text,
                "MsgId": msg_id,
            }
        )
        return cipher.encrypt(xml, stack.config.wechat.app_id).decode()

    # As WeChat's documentation prints it: newlines, indentation, Encrypt first.
    documented = (
        "<xml>\n    <Encrypt><![CDATA[{encrypt}]]></Encrypt>\n    <ToUserName><![CDATA[gh_test]]></ToUserName>\n</xml>"
    )
    status, body = await post_safe_envelope(stack, documented, encrypted("o-layout-1", "路灯坏了", 91001))
    assert status == 200
    assert "<Encrypt>" in body
    # Another well-formed layout the fast reading does not cover (an extra element, no CDATA).
    other = "<xml><ToUserName>gh_test</ToUserName><AgentID>1</AgentID><Encrypt>{encrypt}</Encrypt></xml>"
    status, _ = await post_safe_envelope(stack, other, encrypted("o-layout-2", "井盖丢了", 91002))
    assert status == 200
    assert await Case.filter(citizen__openid__in=["o-layout-1", "o-layout-2"]).count() == 2

    for broken in (
        "<xml><ToUserName><![CDATA[gh_test]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt>",
        "<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml><xml>",
        "<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt><Encrypt>",
    ):
        status, text = await post_safe_envelope(stack, broken, encrypted("o-layout-3", "坏信封", 91003))
        assert status == 400, broken
        assert "Traceback" not in text
    assert await InboundMessage.filter(sender="o-layout-3").count() == 0


@pytest.mark.parametrize("mode", ["plain", "compat", "safe"])
async def test_the_passive_reply_is_addressed_to_the_citizen_and_dated_now(stack: Stack, mode: str) -> None:
    await accept_every_mode(stack)
    citizen = stack.citizen(mode=mode)
    result = await citizen.text(f"o-dated-{mode}", "公园的健身器材坏了 ]]> 请修")
    assert result.status == 200
    assert result.reply is not None
    assert result.reply["ToUserName"] == f"o-dated-{mode}"
    assert result.reply["FromUserName"] == citizen.original_id
    assert result.reply["MsgType"] == "text"
    assert abs(int(result.reply["CreateTime"]) - now().timestamp()) < 60
    assert code_in(result.reply["Content"])


async def test_a_send_that_times_out_is_tried_once_more_then_taken_as_maybe_sent(stack: Stack) -> None:
    """WeChat answering after our timeout may still have delivered: no more than one resend, and the
    timeline says the message may have arrived (issue: a slow custom/send sent 10 replies 31 times)."""
    from models.jobs import Job, JobStatus

    case = await _queue_reply(stack, "o-slow", "答复内容")
    # Longer than the client's 2 s timeout; the fake delivers once the delay is over.
    stack.platform.fail_next("message/custom/send", count=2, delay_s=2.5)
    for _ in range(3):
        await stack.run_jobs()
        await stack.make_jobs_due()
    await stack.run_jobs()
    await asyncio.sleep(0.6)  # the fake's delayed handlers finish in real time
    sent = [m for m in stack.platform.sent_to("o-slow") if "答复内容" in m.text]
    assert len(sent) == 2  # the first try (delivered late) and one resend, never more
    assert not await Job.filter(kind="send.citizen", status=JobStatus.PENDING).exists()
    events = await CaseEvent.filter(case=case, kind="message.out").order_by("id")
    to_citizen = [e.detail["channel"] for e in events if e.detail.get("to") == "citizen"]
    assert to_citizen[-1] == "maybe"  # the timeline: may have arrived
