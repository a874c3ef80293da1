"""A voice without recognised text (WeChat is withdrawing `Recognition`): the triage card says so, with
the duration once the file is stored, and links to the file, served by us behind an unguessable,
expiring token."""

from __future__ import annotations

import re
from datetime import timedelta

from handlers.cases.media import voice_duration_s
from models.entities import CaseMessage
from models.media import MediaLink
from models.timeutil import now
from tests.harness import Stack

LINK = re.compile(r"\[点此收听语音\]\((https?://[^)]+/media/([A-Za-z0-9_-]{43}))\)")


def amr(seconds: float, wide: bool = False) -> bytes:
    """An AMR recording of `seconds` (frames of 20 ms at the highest rate), as WeChat stores voice."""
    frames = round(seconds / 0.02)
    if wide:
        return b"#!AMR-WB\n" + (bytes([8 << 3 | 4]) + b"\0" * 60) * frames
    return b"#!AMR\n" + (bytes([7 << 3 | 4]) + b"\0" * 31) * frames


async def get(stack: Stack, path: str) -> tuple[int, bytes, dict[str, str]]:
    assert stack.session is not None
    async with stack.session.get(stack.url(path)) as response:
        return response.status, await response.read(), dict(response.headers)


async def voice_case(stack: Stack, openid: str, media_id: str, data: bytes) -> str:
    """A citizen's first message is a voice WeChat did not transcribe; returns the triage card."""
    stack.platform.add_media(media_id, data, "audio/amr")
    citizen = stack.citizen()
    await citizen.event(openid, "SCAN", "cp:hz-hospital-1")
    result = await citizen.voice(openid, media_id)  # no Recognition field at all
    assert result.status == 200
    await stack.run_jobs()
    [card] = [text for text in stack.triage_messages() if "新诉求" in text]
    return card


async def test_the_card_reads_well_and_its_link_plays_the_stored_voice(stack: Stack) -> None:
    recording = amr(12.3)
    # WeChat is slow to hand the file over: the card goes out first, the file is stored on a retry.
    stack.platform.fail_next("/cgi-bin/media/get", http_status=503)
    card = await voice_case(stack, "o-voice-1", "media-voice-9", recording)
    assert "内容：语音，未识别文字" in card
    found = LINK.search(card)
    assert found is not None, card
    url, token = found.groups()
    assert url.startswith("http://127.0.0.1:8080/media/")  # [server] public_base_url
    assert "media-voice-9" not in card  # never WeChat's media_id

    status, _, headers = await get(stack, f"/media/{token}")
    assert status == 503  # not stored yet: try again shortly
    assert headers["Retry-After"] == "30"

    await stack.make_jobs_due()
    await stack.run_jobs()
    status, body, headers = await get(stack, f"/media/{token}")
    assert status == 200
    assert body == recording
    assert headers["Content-Type"] == "audio/amr"
    assert headers["Cache-Control"] == "no-store"
    assert headers["Referrer-Policy"] == "no-referrer"

    # The stored file's duration: what the member reads when the case is assigned.
    message = await CaseMessage.get(media_id="media-voice-9")
    assert message.extra["duration_s"] == 12.3
    code = message.case_id  # type: ignore[attr-defined]
    from models.entities import Case

    case = await Case.get(id=code)
    result = await stack.wecom_user().text("lisi", f"派 {case.code} 张三")
    assert result.reply is not None
    await stack.run_jobs()
    [to_member] = stack.platform.sent_to("zhangsan")
    assert "语音 12 秒，未识别文字" in to_member.text


async def test_a_forged_or_expired_link_opens_nothing(stack: Stack) -> None:
    card = await voice_case(stack, "o-voice-2", "media-voice-2", amr(3))
    found = LINK.search(card)
    assert found is not None, card
    token = found.group(2)
    assert (await get(stack, f"/media/{token}"))[0] == 200

    forged = ("A" if token[0] != "A" else "B") + token[1:]
    for path in (f"/media/{forged}", "/media/short", f"/media/{token}x", "/media/media-voice-2"):
        status, body, _ = await get(stack, path)
        assert status == 404, path
        assert "此链接无效或已过期" in body.decode()
        assert b"#!AMR" not in body

    await MediaLink.all().update(expires_at=now() - timedelta(seconds=1))
    status, body, _ = await get(stack, f"/media/{token}")
    assert status == 404
    assert b"#!AMR" not in body

    # A stored path outside [intake] media_dir is never served, whatever the row says.
    await MediaLink.all().update(expires_at=now() + timedelta(days=1))
    await CaseMessage.filter(media_id="media-voice-2").update(media_path="/etc/passwd")
    status, body, _ = await get(stack, f"/media/{token}")
    assert status == 404
    assert b"root:" not in body


async def test_a_transcribed_voice_reads_as_its_text(stack: Stack) -> None:
    stack.platform.add_media("media-voice-3", amr(2), "audio/amr")
    citizen = stack.citizen()
    await citizen.event("o-voice-3", "SCAN", "cp:hz-hospital-1")
    await citizen.voice("o-voice-3", "media-voice-3", recognition="医院门口路灯不亮")
    await stack.run_jobs()
    [card] = [text for text in stack.triage_messages() if "新诉求" in text]
    assert "医院门口路灯不亮" in card
    assert "未识别文字" not in card
    assert LINK.search(card) is not None  # the voice itself can be heard too


def test_voice_duration_of_amr_and_of_what_is_not() -> None:
    assert voice_duration_s(amr(12.3)) == 12.3
    assert voice_duration_s(amr(1.0, wide=True)) == 1.0
    assert voice_duration_s(amr(2)[:-5]) is None  # cut short
    assert voice_duration_s(b"#!AMR\n") is None
    assert voice_duration_s(b"#!AMR\n" + bytes([13 << 3])) is None  # a reserved frame type
    assert voice_duration_s(b"Speex   fake") is None
    assert voice_duration_s(b"#!AMR\n" + bytes([15 << 3 | 4]) * 40_000) is None  # bounded


async def test_a_voice_wechat_no_longer_has_says_so_on_its_link(stack: Stack) -> None:
    import time

    # The media job could not run for three days: WeChat has forgotten the file (40007).
    stack.platform.add_media("media-voice-4", amr(2), "audio/amr")
    stack.platform.clock = lambda: time.time() + 3 * 86400 + 60
    citizen = stack.citizen()
    await citizen.event("o-voice-4", "SCAN", "cp:hz-hospital-1")
    await citizen.voice("o-voice-4", "media-voice-4")
    await stack.run_jobs()
    [call] = stack.platform.calls_to("/cgi-bin/media/get")
    assert call.errcode == 40007
    [card] = [text for text in stack.triage_messages() if "新诉求" in text]
    assert "内容：语音，未识别文字" in card
    found = LINK.search(card)
    assert found is not None
    status, body, _ = await get(stack, f"/media/{found.group(2)}")
    assert status == 503
    assert "可能已无法取回" in body.decode()
